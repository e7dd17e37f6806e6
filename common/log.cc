#include "common/log.h"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace sextant::log {
namespace {
std::atomic<int> g_verbosity{0};

char SeverityLetter(Severity s) {
  switch (s) {
    case Severity::kInfo: return 'I';
    case Severity::kWarning: return 'W';
    case Severity::kError: return 'E';
  }
  return 'I';
}
}  // namespace

void SetVerbosity(int level) { g_verbosity.store(level); }
int Verbosity() { return g_verbosity.load(std::memory_order_relaxed); }

LogLine::LogLine(Severity severity, const char* file, int line) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  gmtime_r(&tv.tv_sec, &t);
  const char* base = std::strrchr(file, '/');
  base = base ? base + 1 : file;
  char prefix[96];
  std::snprintf(prefix, sizeof prefix, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] ",
                SeverityLetter(severity), t.tm_mon + 1, t.tm_mday, t.tm_hour,
                t.tm_min, t.tm_sec, static_cast<long>(tv.tv_usec),
                static_cast<int>(getpid()), base, line);
  stream_ << prefix;
}

LogLine::~LogLine() {
  std::string s = stream_.str();
  // One event, one line: embedded newlines would split an event in log collectors.
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  s.push_back('\n');
  ssize_t ignored = ::write(STDERR_FILENO, s.data(), s.size());
  (void)ignored;
}

}  // namespace sextant::log
