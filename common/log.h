// Logging: one line per event on stderr, in klog's shape
// ("I1129 08:35:30.123456   12345 file.cc:42] message").
//
// Levels: SEXTANT_LOG(INFO|WARNING|ERROR) always print; SEXTANT_VLOG(n) prints only when the
// verbosity set by --v is at least n. Never log a secret, a bearer token, or a certificate:
// callers log names and outcomes, not credentials.
//
// Thread safety: safe from any thread; each line is written with one write call, so lines
// from different threads never interleave.
#ifndef SEXTANT_COMMON_LOG_H_
#define SEXTANT_COMMON_LOG_H_

#include <atomic>
#include <sstream>

namespace sextant::log {

enum class Severity { kInfo, kWarning, kError };

// Default: 0.
void SetVerbosity(int level);
int Verbosity();
inline bool VerbosityAtLeast(int level) { return Verbosity() >= level; }

// Accumulates one line and writes it when destroyed.
class LogLine {
 public:
  LogLine(Severity severity, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace sextant::log

#define SEXTANT_LOG_INFO ::sextant::log::Severity::kInfo
#define SEXTANT_LOG_WARNING ::sextant::log::Severity::kWarning
#define SEXTANT_LOG_ERROR ::sextant::log::Severity::kError

#define SEXTANT_LOG(sev) \
  ::sextant::log::LogLine(SEXTANT_LOG_##sev, __FILE__, __LINE__).stream()
#define SEXTANT_VLOG(n)                                  \
  if (!::sextant::log::VerbosityAtLeast(n)) {            \
  } else                                                 \
    ::sextant::log::LogLine(::sextant::log::Severity::kInfo, __FILE__, __LINE__) \
        .stream()

#endif  // SEXTANT_COMMON_LOG_H_
