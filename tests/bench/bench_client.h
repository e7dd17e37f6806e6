// What the HTTP(S) benchmark clients (sextant_load_client, sextant_poller_client) share: the
// target URL's parts, the TLS and header flags, the keep-alive httplib client set-up, the
// error reporter and the nearest-rank percentile of their JSON reports.
// Ownership: MakeClients' clients count the sockets they open into `tcp_connects`, which must
// outlive them. Thread safety: ErrorReporter may be used from any thread; the rest are plain
// functions over their arguments. Errors: parsing returns false, client set-up returns
// nullptr / false (after describing a CA that cannot be loaded on stderr); nothing throws.
#ifndef SEXTANT_TESTS_BENCH_BENCH_CLIENT_H_
#define SEXTANT_TESTS_BENCH_BENCH_CLIENT_H_

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sextant::bench {

using Clock = std::chrono::steady_clock;

// The flags for how a client connects, common to both tools.
struct ClientFlags {
  std::string cert;  // client certificate, with `key`; Default: none
  std::string key;
  std::string ca;            // verify the server against this CA only; Default: none
  bool insecure = false;     // skip server verification; Default: false
  httplib::Headers headers;  // --header values sent with every request; Default: none
  int expect_status = 200;   // any other status is an error; Default: 200
};

// The parts of an (https|http)://HOST[:PORT]/PATH[?QUERY] URL.
struct Target {
  bool https = false;
  std::string host;  // without IPv6 brackets
  int port = 0;
  std::string path;  // path and query as given; "/" when absent
};

// Parses `url` into `target`; false when it is not such a URL.
bool ParseTarget(const std::string& url, Target* target);

// Parses argv (after the program name) as --name=value, --name value and --insecure: the
// client flags --cert, --key, --ca, --header, --expect-status and --insecure into `flags`,
// every other flag through `other`, which returns false for an unknown one. Calls `usage`
// (which must not return) for a bad argument, an unknown flag, a missing or malformed value.
void ParseClientFlags(
    int argc, char** argv, ClientFlags* flags,
    const std::function<bool(const std::string& name, const std::string& value)>& other,
    void (*usage)(const std::string& problem));

// Adds a --header value "K: V" to `headers`; false when it has no name or no colon.
bool AddHeader(const std::string& value, httplib::Headers* headers);

// Describes the first few errors on stderr, across all threads, as "PROGRAM: error: ...".
class ErrorReporter {
 public:
  explicit ErrorReporter(const char* program) : program_(program) {}

  void Report(const std::string& what);

 private:
  static constexpr int kMaxReported = 5;
  const char* const program_;
  std::atomic<int> reported_{0};
  std::mutex mu_;
};

// One keep-alive client for `target` (SSLClient for https), its path and query sent as given,
// each socket it opens counted into `tcp_connects`. For https the CA is loaded here, on the
// calling thread, and OpenSSL verifies chain and address during the handshake. nullptr when
// the TLS client cannot be set up.
std::unique_ptr<httplib::ClientImpl> MakeClient(const ClientFlags& flags, const Target& target,
                                                std::atomic<long>& tcp_connects,
                                                const char* program);

// `count` clients from MakeClient into `clients`, and for https their SSL contexts into
// `ssl_contexts`. On failure describes the TLS flags on stderr and returns false.
bool MakeClients(const ClientFlags& flags, const Target& target, int count,
                 std::atomic<long>& tcp_connects, const char* program,
                 std::vector<std::unique_ptr<httplib::ClientImpl>>* clients,
                 std::vector<SSL_CTX*>* ssl_contexts);

// The TLS handshakes the clients of these contexts started.
long CountHandshakes(const std::vector<SSL_CTX*>& ssl_contexts);

// Nearest-rank percentile of sorted values (nanoseconds), in microseconds; 0 for none.
double PercentileUs(const std::vector<int64_t>& sorted, double p);

// The largest of sorted values (nanoseconds), in microseconds; 0 for none.
double MaxUs(const std::vector<int64_t>& sorted);

}  // namespace sextant::bench

#endif  // SEXTANT_TESTS_BENCH_BENCH_CLIENT_H_
