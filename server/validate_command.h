// `sextant validate`: checks a configuration file and shows what it would serve.
//
//   sextant validate --config FILE [--namespace NS] [--selector SEL] [--prometheus-url URL ...]
//
// Loads FILE with the same strict loader the server uses and prints, per external rule, its
// position, seriesQuery and name mapping, and the PromQL it renders for the example request
// (namespace NS, default "default"; label selector SEL, default empty). Without a Prometheus
// URL (flag or the file's prometheus.url) the series name is taken from the seriesQuery when
// it names one; with one, series discovery runs and every metric found is shown. Then, per
// signal, its definition and the equivalent PromQL for the example request
// (scaling/signal_provider.h). Then the built-in catalog: which entries the file's
// `catalog:` leaves on and, per entry, its equivalent PromQL and the selectors it reads for the
// example request (with a Prometheus URL: "(listed)" or "(no series)", from catalog
// discovery).
// Exit code: 0 valid, 1 invalid or (with a Prometheus URL) series or catalog discovery failed
// (the reason on `err`), 2 bad usage.
// Thread safety: runs once, on the main thread.
#ifndef SEXTANT_SERVER_VALIDATE_COMMAND_H_
#define SEXTANT_SERVER_VALIDATE_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace sextant::server {

int RunValidate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_VALIDATE_COMMAND_H_
