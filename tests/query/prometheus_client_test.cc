// Tests of HttpPrometheusClient (query/http_prometheus_client.h), two kinds:
// 1. Against a real Prometheus (Debian's /usr/bin/prometheus), started in SetUpTestSuite on
//    a loopback port chosen at run time, scraping itself every second; a second suite runs
//    one under --web.route-prefix=/prometheus. Each is killed in TearDownTestSuite (and dies
//    with the test process anyway, PR_SET_PDEATHSIG). Skipped when prometheus is missing.
// 2. Against a small cpp-httplib server answering real Prometheus API JSON, to observe what
//    the client sends: authentication, headers, parameters, SigV4, TLS.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "query/http_prometheus_client.h"
#include "query/prometheus_client.h"
#include "query/sigv4.h"

namespace sextant::query {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;
using Options = HttpPrometheusClient::Options;

// A peer closing a TLS connection must not kill the test (the server does the same).
const bool kSigpipeIgnored = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

PrometheusClient::Deadline In(milliseconds d) { return steady_clock::now() + d; }

system_clock::time_point FromMillis(int64_t ms) {
  return system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(
      milliseconds(ms)));
}

// A loopback port nobody listens on right now.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string MakeTempDir(const std::string& tag) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / ("sextant-" + tag + "-XXXXXX")).string();
  return mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ============================================================================================
// Part 1: a real Prometheus.

// One Prometheus process on a loopback port, in its own temporary directory.
struct PrometheusProcess {
  std::string dir;
  std::string prefix;  // "" or "/prometheus"
  int port = 0;
  pid_t pid = -1;

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port) + prefix; }
  std::string Log() const { return ReadFile(dir + "/prometheus.log"); }

  bool Start(const std::string& route_prefix) {
    prefix = route_prefix;
    dir = MakeTempDir("prometheus");
    if (dir.empty()) return false;
    port = FreePort();
    WriteFile(dir + "/prometheus.yml",
              "global:\n"
              "  scrape_interval: 1s\n"
              "  evaluation_interval: 1s\n"
              "scrape_configs:\n"
              "  - job_name: prometheus\n"
              "    metrics_path: " + prefix + "/metrics\n"
              "    static_configs:\n"
              "      - targets: ['127.0.0.1:" + std::to_string(port) + "']\n");
    std::vector<std::string> args = {
        "/usr/bin/prometheus",
        "--config.file=" + dir + "/prometheus.yml",
        "--storage.tsdb.path=" + dir + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(port),
        "--web.enable-admin-api",
        "--log.level=warn"};
    if (!prefix.empty()) args.push_back("--web.route-prefix=" + prefix);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string log = dir + "/prometheus.log";
    const pid_t parent = getpid();
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    return pid > 0;
  }

  bool Exited() {
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return true;
    }
    return pid <= 0;
  }

  // Waits for /-/ready and for a sample of `up`.
  bool WaitUntilScraped(std::chrono::seconds timeout) {
    const auto give_up = steady_clock::now() + timeout;
    httplib::Client http("127.0.0.1", port);
    http.set_connection_timeout(1s);
    http.set_read_timeout(2s);
    bool ready = false;
    while (steady_clock::now() < give_up) {
      if (Exited()) return false;
      if (!ready) {
        auto res = http.Get(prefix + "/-/ready");
        ready = res && res->status == 200;
      } else {
        auto res = http.Get(prefix + "/api/v1/query?query=up");
        if (res && res->status == 200 && res->body.find("\"value\"") != std::string::npos) {
          return true;
        }
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  void Stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      const auto give_up = steady_clock::now() + 5s;
      while (!Exited() && steady_clock::now() < give_up) std::this_thread::sleep_for(20ms);
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        pid = -1;
      }
    }
    if (!dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
      dir.clear();
    }
  }
};

std::unique_ptr<HttpPrometheusClient> NewClient(Options options) {
  auto client = HttpPrometheusClient::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(*client) : nullptr;
}

std::unique_ptr<HttpPrometheusClient> NewClient(const std::string& url) {
  Options options;
  options.url = url;
  return NewClient(options);
}

// One Prometheus for a test suite. Prometheus' scrape manager applies new targets every 5s,
// so the first `up` sample takes about 5.5s: each suite (and, under ctest, each test
// process) pays that once, which is why the tests below each check several things.
struct PrometheusSuite {
  PrometheusProcess* process = nullptr;
  std::string* skip_reason = nullptr;
  std::string* error = nullptr;

  void Start(const std::string& prefix) {
    if (access("/usr/bin/prometheus", X_OK) != 0) {
      skip_reason = new std::string("/usr/bin/prometheus is not installed");
      return;
    }
    process = new PrometheusProcess;
    // A port lost to a race (someone else bound it first) is retried on a new one.
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (!process->Start(prefix)) {
        error = new std::string("cannot start /usr/bin/prometheus");
        return;
      }
      if (process->WaitUntilScraped(40s)) return;
      const std::string log = process->Log();
      process->Stop();
      if (attempt == 2) {
        error = new std::string("prometheus did not become ready; log:\n" + log);
      }
    }
  }

  void Stop() {
    if (process != nullptr) process->Stop();
    delete process;
    delete skip_reason;
    delete error;
    *this = PrometheusSuite{};
  }

  // For SetUp: skips or fails the test when the suite has no Prometheus.
  void Check() const {
    if (skip_reason != nullptr) GTEST_SKIP() << *skip_reason;
    ASSERT_EQ(error, nullptr) << *error;
  }
};

class RealPrometheusTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { suite_.Start(""); }
  static void TearDownTestSuite() { suite_.Stop(); }
  void SetUp() override { suite_.Check(); }

  static const PrometheusProcess& prometheus() { return *suite_.process; }

  static PrometheusSuite suite_;
};

PrometheusSuite RealPrometheusTest::suite_;

TEST_F(RealPrometheusTest, InstantQueryResultTypes) {
  auto client = NewClient(prometheus().Url());
  ASSERT_NE(client, nullptr);

  // Vector.
  Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->type, QueryResult::Type::kVector);
  ASSERT_EQ(result->vector.size(), 1u);
  const InstantSeries& series = result->vector[0];
  EXPECT_EQ(series.labels.at("__name__"), "up");
  EXPECT_EQ(series.labels.at("job"), "prometheus");
  EXPECT_EQ(series.labels.at("instance"), "127.0.0.1:" + std::to_string(prometheus().port));
  EXPECT_EQ(series.sample.value, 1.0);
  const int64_t now_ms = std::chrono::duration_cast<milliseconds>(
                             system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(static_cast<double>(series.sample.timestamp_ms), static_cast<double>(now_ms),
              60'000.0);

  // Scalar.
  result = client->Query("scalar(up)", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->type, QueryResult::Type::kScalar);
  EXPECT_EQ(result->scalar.value, 1.0);

  // String.
  result = client->Query("\"abc\"", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->type, QueryResult::Type::kString);
  EXPECT_EQ(result->string_value, "abc");

  // Matrix.
  result = client->Query("up[10s]", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->type, QueryResult::Type::kMatrix);
  ASSERT_EQ(result->matrix.size(), 1u);
  EXPECT_EQ(result->matrix[0].labels.at("job"), "prometheus");
  ASSERT_FALSE(result->matrix[0].samples.empty());
  for (const Sample& sample : result->matrix[0].samples) EXPECT_EQ(sample.value, 1.0);

  // The `time` parameter keeps its milliseconds: time() evaluated there returns it.
  result = client->Query("time()", FromMillis(1700000000123), In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->type, QueryResult::Type::kScalar);
  EXPECT_EQ(result->scalar.timestamp_ms, 1700000000123);
  EXPECT_DOUBLE_EQ(result->scalar.value, 1700000000.123);

  // A deadline with a millisecond remainder gives a `timeout` like "1233ms", which
  // Prometheus accepts (it rejects "1.233s").
  result = client->Query("up", std::nullopt, In(1234ms));
  ASSERT_TRUE(result.ok()) << result.status().ToString();

  EXPECT_EQ(client->requests_total(), 6u);
  EXPECT_EQ(client->failed_requests_total(), 0u);
}

TEST_F(RealPrometheusTest, RangeQuery) {
  auto client = NewClient(prometheus().Url());
  ASSERT_NE(client, nullptr);
  const auto end = system_clock::now();
  Result<QueryResult> result = client->QueryRange("up", end - 10s, end, 1s, In(2345ms));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->type, QueryResult::Type::kMatrix);
  ASSERT_EQ(result->matrix.size(), 1u);
  EXPECT_FALSE(result->matrix[0].samples.empty());

  // start, end and a sub-second step arrive exactly: time() at each step is the step's time.
  const int64_t start_ms = 1700000000250;
  result = client->QueryRange("time()", FromMillis(start_ms), FromMillis(start_ms + 2000),
                              500ms, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->matrix.size(), 1u);
  const std::vector<Sample>& samples = result->matrix[0].samples;
  ASSERT_EQ(samples.size(), 5u);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const int64_t expected = start_ms + 500 * static_cast<int64_t>(i);
    EXPECT_EQ(samples[i].timestamp_ms, expected);
    EXPECT_DOUBLE_EQ(samples[i].value, static_cast<double>(expected) / 1000.0);
  }
}

TEST_F(RealPrometheusTest, Series) {
  auto client = NewClient(prometheus().Url());
  ASSERT_NE(client, nullptr);
  const auto now = system_clock::now();
  Result<std::vector<LabelSet>> result =
      client->Series({"up", "prometheus_build_info"}, now - 1h, now, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const LabelSet up{{"__name__", "up"},
                    {"instance", "127.0.0.1:" + std::to_string(prometheus().port)},
                    {"job", "prometheus"}};
  EXPECT_NE(std::find(result->begin(), result->end(), up), result->end());
  EXPECT_EQ(result->size(), 2u);
}

TEST_F(RealPrometheusTest, RejectedQueriesAreBackendRejected) {
  auto client = NewClient(prometheus().Url());
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("sum(", std::nullopt, In(10s));  // bad_data
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kBackendRejected) << result.status().ToString();
  const auto end = system_clock::now();
  result = client->QueryRange("up[1m]", end - 1min, end, 15s, In(10s));  // not a vector
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kBackendRejected) << result.status().ToString();
  EXPECT_EQ(client->failed_requests_total(), 2u);
}

TEST_F(RealPrometheusTest, PostRequests) {
  // A long query goes out as POST by itself; short ones stay GET.
  auto client = NewClient(prometheus().Url());
  ASSERT_NE(client, nullptr);
  const std::string expr = "up{job=~\"prometheus|" + std::string(5000, 'x') + "\"}";
  Result<QueryResult> result = client->Query(expr, std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->vector.size(), 1u);
  EXPECT_EQ(client->post_requests_total(), 1u);
  const auto now = system_clock::now();
  Result<std::vector<LabelSet>> series = client->Series({expr}, now - 1h, now, In(10s));
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  EXPECT_EQ(series->size(), 1u);
  EXPECT_EQ(client->post_requests_total(), 2u);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(client->post_requests_total(), 2u);

  // verb POST: every endpoint.
  Options options;
  options.url = prometheus().Url();
  options.verb = "POST";
  auto post_client = NewClient(options);
  ASSERT_NE(post_client, nullptr);
  result = post_client->Query("up", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->vector.size(), 1u);
  result = post_client->QueryRange("up", now - 10s, now, 1s, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->matrix.size(), 1u);
  series = post_client->Series({"up"}, now - 1h, now, In(10s));
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  EXPECT_EQ(series->size(), 1u);
  EXPECT_EQ(post_client->post_requests_total(), 3u);
}

TEST_F(RealPrometheusTest, ConcurrentCallsShareABoundedPool) {
  Options options;
  options.url = prometheus().Url();
  options.max_idle_connections = 3;
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!client->Query("up", std::nullopt, In(10s)).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(client->requests_total(), 160u);
  EXPECT_LE(client->idle_connections(), 3u);
  EXPECT_GE(client->idle_connections(), 1u);
}

// A second Prometheus serving under --web.route-prefix=/prometheus, as Mimir serves its
// Prometheus API under /prometheus.
class PrefixedPrometheusTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { suite_.Start("/prometheus"); }
  static void TearDownTestSuite() { suite_.Stop(); }
  void SetUp() override { suite_.Check(); }

  static PrometheusSuite suite_;
};

PrometheusSuite PrefixedPrometheusTest::suite_;

TEST_F(PrefixedPrometheusTest, PathPrefix) {
  const PrometheusProcess& prometheus = *suite_.process;
  auto client = NewClient(prometheus.Url() + "/");  // a trailing '/' is fine
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->vector.size(), 1u);
  EXPECT_EQ(result->vector[0].sample.value, 1.0);
  const auto now = system_clock::now();
  ASSERT_TRUE(client->QueryRange("up", now - 10s, now, 1s, In(10s)).ok());
  Result<std::vector<LabelSet>> series = client->Series({"up"}, now - 1h, now, In(10s));
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  EXPECT_EQ(series->size(), 1u);

  // Without the prefix, the answer is not the API.
  auto unprefixed = NewClient("http://127.0.0.1:" + std::to_string(prometheus.port));
  ASSERT_NE(unprefixed, nullptr);
  result = unprefixed->Query("up", std::nullopt, In(10s));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInternal) << result.status().ToString();
}

// Needs no Prometheus: nobody listens on the port.
TEST(UnreachablePrometheusTest, ClosedPortIsUnavailable) {
  auto client = NewClient("http://127.0.0.1:" + std::to_string(FreePort()));
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(5s));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
  EXPECT_NE(result.status().message().find("cannot connect"), std::string::npos)
      << result.status().ToString();
}

// ============================================================================================
// Part 2: a fake Prometheus that records what it receives.

struct SeenRequest {
  std::string method;
  std::string target;  // raw path and query
  std::string path;    // raw path
  std::string body;
  httplib::Headers headers;
  httplib::Params params;  // decoded query string or form body
  int remote_port = 0;
};

constexpr char kVectorBody[] =
    R"({"status":"success","data":{"resultType":"vector","result":[)"
    R"({"metric":{"__name__":"up","job":"fake"},"value":[1700000000.5,"1"]}]}})";
constexpr char kMatrixBody[] =
    R"({"status":"success","data":{"resultType":"matrix","result":[)"
    R"({"metric":{"__name__":"up","job":"fake"},"values":[[1700000000,"1"],[1700000015,"0"]]}]}})";
constexpr char kSeriesBody[] =
    R"({"status":"success","data":[{"__name__":"up","job":"fake"}]})";

class FakePrometheus {
 public:
  // Plain HTTP, or TLS when `tls` (the server then requires a client certificate signed by
  // `client_ca`, when given).
  explicit FakePrometheus(const std::string& cert = "", const std::string& key = "",
                          const std::string& client_ca = "") {
    if (cert.empty()) {
      server_ = std::make_unique<httplib::Server>();
    } else {
      server_ = std::make_unique<httplib::SSLServer>(
          cert.c_str(), key.c_str(), client_ca.empty() ? nullptr : client_ca.c_str());
    }
    const auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res);
    };
    for (const char* path : {"/api/v1/query", "/api/v1/query_range", "/api/v1/series",
                             "/prefix/api/v1/query"}) {
      server_->Get(path, handler);
      server_->Post(path, handler);
    }
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() before the loop runs would be lost (and join would hang).
    const auto give_up = steady_clock::now() + 10s;
    while (port_ > 0 && !server_->is_running() && steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
  }

  ~FakePrometheus() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_->stop();
    thread_.join();
  }

  bool valid() const { return server_->is_valid() && port_ > 0; }
  int port() const { return port_; }
  std::string Url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }

  // Every later request is answered with `status` and `body`.
  void Answer(int status, std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    body_ = std::move(body);
  }
  void Delay(milliseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = delay;
  }

  std::vector<SeenRequest> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  SeenRequest last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.empty() ? SeenRequest{} : seen_.back();
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(mu_);
    SeenRequest seen;
    seen.method = req.method;
    seen.target = req.target;
    seen.path = req.target.substr(0, req.target.find('?'));
    seen.body = req.body;
    seen.headers = req.headers;
    seen.params = req.params;
    seen.remote_port = req.remote_port;
    seen_.push_back(std::move(seen));
    if (delay_ > 0ms) cv_.wait_for(lock, delay_, [this] { return stopping_; });
    if (status_ != 0) {
      res.status = status_;
      res.set_content(body_, "application/json");
    } else if (req.path.find("query_range") != std::string::npos) {
      res.set_content(kMatrixBody, "application/json");
    } else if (req.path.find("series") != std::string::npos) {
      res.set_content(kSeriesBody, "application/json");
    } else {
      res.set_content(kVectorBody, "application/json");
    }
  }

  std::unique_ptr<httplib::Server> server_;
  int port_ = -1;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                 // GUARDED_BY(mu_)
  int status_ = 0;                        // GUARDED_BY(mu_); 0: a canned success
  std::string body_;                      // GUARDED_BY(mu_)
  milliseconds delay_{0};                 // GUARDED_BY(mu_)
  std::vector<SeenRequest> seen_;         // GUARDED_BY(mu_)
};

class FakeServerTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("client");
    ASSERT_FALSE(dir_.empty());
    ASSERT_TRUE(server_.valid());
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  Options DefaultOptions() const {
    Options options;
    options.url = server_.Url();
    return options;
  }

  std::string dir_;
  FakePrometheus server_;
};

TEST_F(FakeServerTest, GetParametersAreEncodedAndDecodeBack) {
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  const std::string expr = "sum(rate(x{a=\"b c\",d=~\"e+f|g&h\"}[5m])) / 2 # ünï";
  Result<QueryResult> result = client->Query(expr, FromMillis(1700000000123), In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->vector.size(), 1u);
  const SeenRequest seen = server_.last();
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.path, "/api/v1/query");
  EXPECT_EQ(seen.params.find("query")->second, expr);
  EXPECT_EQ(seen.params.find("time")->second, "1700000000.123");
  // Everything but unreserved characters is percent-encoded: no space, '+' or raw byte.
  const std::string query_string = seen.target.substr(seen.target.find('?') + 1);
  EXPECT_EQ(query_string.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%=&"),
            std::string::npos)
      << query_string;
  EXPECT_EQ(seen.headers.find("Host")->second, "127.0.0.1:" + std::to_string(server_.port()));
}

TEST_F(FakeServerTest, TimeParameterFormat) {
  struct Row {
    const char* name;
    int64_t ms;
    const char* want;
  };
  const Row rows[] = {
      {"WithMillis", 1700000000123, "1700000000.123"},
      {"WholeSecond", 1700000000000, "1700000000.000"},
      {"TrailingZero", 1700000000100, "1700000000.100"},
      {"Epoch", 0, "0.000"},
      {"SmallPositive", 5, "0.005"},
      {"NegativeMilli", -1, "-0.001"},
      {"Negative", -1500, "-1.500"},
  };
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  for (const Row& row : rows) {
    ASSERT_TRUE(client->Query("up", FromMillis(row.ms), In(10s)).ok()) << row.name;
    EXPECT_EQ(server_.last().params.find("time")->second, row.want) << row.name;
  }
  // Sub-millisecond parts are dropped.
  ASSERT_TRUE(client
                  ->Query("up", FromMillis(1700000000123) + std::chrono::microseconds(999),
                          In(10s))
                  .ok());
  EXPECT_EQ(server_.last().params.find("time")->second, "1700000000.123");
  // No time: no parameter (the backend's now).
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().params.count("time"), 0u);
}

TEST_F(FakeServerTest, QueryRangeAndSeriesParameters) {
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  Result<QueryResult> range = client->QueryRange(
      "rate(x[1m])", FromMillis(1700000000000), FromMillis(1700000060500), 1500ms, In(10s));
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  EXPECT_EQ(range->type, QueryResult::Type::kMatrix);
  SeenRequest seen = server_.last();
  EXPECT_EQ(seen.path, "/api/v1/query_range");
  EXPECT_EQ(seen.params.find("query")->second, "rate(x[1m])");
  EXPECT_EQ(seen.params.find("start")->second, "1700000000.000");
  EXPECT_EQ(seen.params.find("end")->second, "1700000060.500");
  EXPECT_EQ(seen.params.find("step")->second, "1500ms");
  ASSERT_TRUE(client->QueryRange("x", FromMillis(0), FromMillis(60000), 15s, In(10s)).ok());
  EXPECT_EQ(server_.last().params.find("step")->second, "15s");

  Result<std::vector<LabelSet>> series =
      client->Series({"up", "x{a=\"b\"}"}, FromMillis(1000), FromMillis(2000), In(10s));
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ((*series)[0].at("job"), "fake");
  seen = server_.last();
  EXPECT_EQ(seen.path, "/api/v1/series");
  auto [first, last] = seen.params.equal_range("match[]");
  std::vector<std::string> matches;
  for (auto it = first; it != last; ++it) matches.push_back(it->second);
  EXPECT_EQ(matches, (std::vector<std::string>{"up", "x{a=\"b\"}"}));
  EXPECT_EQ(seen.params.find("start")->second, "1.000");
  EXPECT_EQ(seen.params.find("end")->second, "2.000");
  EXPECT_EQ(seen.params.count("timeout"), 0u);
}

TEST_F(FakeServerTest, InvalidCallsSendNothing) {
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  const auto t = system_clock::now();
  EXPECT_EQ(client->Query("", std::nullopt, In(10s)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client->QueryRange("up", t, t - 1s, 1s, In(10s)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client->QueryRange("up", t - 1s, t, 0ms, In(10s)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Series({}, t - 1s, t, In(10s)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(server_.seen().empty());
  EXPECT_EQ(client->failed_requests_total(), 4u);
}

TEST_F(FakeServerTest, DeadlineInThePastSendsNothing) {
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(-1ms));
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded);
  const auto now = system_clock::now();
  result = client->QueryRange("up", now - 1min, now, 15s, steady_clock::now());
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(client->Series({"up"}, now - 1min, now, In(-1s)).status().code(),
            StatusCode::kDeadlineExceeded);
  result = client->Query("up", std::nullopt, steady_clock::time_point::min());
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(server_.seen().empty());
  EXPECT_EQ(client->requests_total(), 0u);
  EXPECT_EQ(client->failed_requests_total(), 4u);
  // A far deadline is fine.
  EXPECT_TRUE(client->Query("up", std::nullopt, steady_clock::time_point::max()).ok());
}

TEST_F(FakeServerTest, TimeoutParameterBoundedByDeadline) {
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(2s)).ok());
  const std::string timeout = server_.last().params.find("timeout")->second;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(timeout, m, std::regex("([0-9]+)(ms|s)"))) << timeout;
  const int64_t timeout_ms = std::stoll(m[1]) * (m[2] == "s" ? 1000 : 1);
  EXPECT_LE(timeout_ms, 2000);
  EXPECT_GE(timeout_ms, 1000);

  Options options = DefaultOptions();
  options.request_timeout = 1s;
  auto short_client = NewClient(options);
  ASSERT_NE(short_client, nullptr);
  ASSERT_TRUE(short_client->Query("up", std::nullopt, In(60s)).ok());
  EXPECT_EQ(server_.last().params.find("timeout")->second, "1s");
  ASSERT_TRUE(short_client->QueryRange("up", FromMillis(0), FromMillis(1000), 1s, In(60s)).ok());
  EXPECT_EQ(server_.last().params.find("timeout")->second, "1s");
}

TEST_F(FakeServerTest, DeadlineDuringTheRequest) {
  server_.Delay(1500ms);
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  auto start = steady_clock::now();
  Result<QueryResult> result = client->Query("up", std::nullopt, In(300ms));
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded) << result.status().ToString();
  EXPECT_LT(steady_clock::now() - start, 1200ms);

  // request_timeout running out first is the backend's failure.
  Options options = DefaultOptions();
  options.request_timeout = 300ms;
  auto impatient = NewClient(options);
  ASSERT_NE(impatient, nullptr);
  start = steady_clock::now();
  result = impatient->Query("up", std::nullopt, In(30s));
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
  EXPECT_NE(result.status().message().find("request_timeout"), std::string::npos);
  EXPECT_LT(steady_clock::now() - start, 1200ms);
}

TEST_F(FakeServerTest, PostFormBody) {
  Options options = DefaultOptions();
  options.verb = "POST";
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  const std::string expr = "sum by (a) (x{b=\"c d\"}) + 1";
  ASSERT_TRUE(client->Query(expr, FromMillis(1700000000001), In(10s)).ok());
  const SeenRequest seen = server_.last();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/api/v1/query");
  EXPECT_EQ(seen.headers.find("Content-Type")->second, "application/x-www-form-urlencoded");
  EXPECT_EQ(seen.params.find("query")->second, expr);
  EXPECT_EQ(seen.params.find("time")->second, "1700000000.001");
  EXPECT_EQ(seen.params.count("timeout"), 1u);
  EXPECT_EQ(seen.body.find(' '), std::string::npos);
  EXPECT_EQ(client->post_requests_total(), 1u);
}

TEST_F(FakeServerTest, AutoPostThreshold) {
  Options options = DefaultOptions();
  options.max_get_query_bytes = 100;
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().method, "GET");
  const std::string long_expr = "up{job=\"" + std::string(100, 'j') + "\"}";
  ASSERT_TRUE(client->Query(long_expr, std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().method, "POST");
  EXPECT_EQ(server_.last().params.find("query")->second, long_expr);

  options.max_get_query_bytes = 0;  // never switches
  auto get_only = NewClient(options);
  ASSERT_NE(get_only, nullptr);
  ASSERT_TRUE(get_only->Query(long_expr, std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().method, "GET");
}

TEST_F(FakeServerTest, PathPrefixFromUrl) {
  Options options = DefaultOptions();
  options.url += "/prefix/";
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().path, "/prefix/api/v1/query");
}

TEST_F(FakeServerTest, BearerTokenFileIsReadAndReread) {
  const std::string token_file = dir_ + "/token";
  WriteFile(token_file, "first-token\n");
  Options options = DefaultOptions();
  options.bearer_token_file = token_file;
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().headers.find("Authorization")->second, "Bearer first-token");

  WriteFile(token_file, "  the-second-token  \n");
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().headers.find("Authorization")->second, "Bearer the-second-token");

  // Replaced by rename (as Kubernetes does for Secret volumes), same size.
  WriteFile(dir_ + "/token.new", "the-third--token");
  std::filesystem::rename(dir_ + "/token.new", token_file);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().headers.find("Authorization")->second, "Bearer the-third--token");

  // Gone or empty: the last good token stays in use.
  std::filesystem::remove(token_file);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().headers.find("Authorization")->second, "Bearer the-third--token");
  WriteFile(token_file, "\n");
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().headers.find("Authorization")->second, "Bearer the-third--token");
  WriteFile(token_file, "fourth");
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  EXPECT_EQ(server_.last().headers.find("Authorization")->second, "Bearer fourth");
}

TEST_F(FakeServerTest, BasicAuth) {
  WriteFile(dir_ + "/password", "s3cr3t:pw\n");
  Options options = DefaultOptions();
  options.basic_auth_username = "alice";
  options.basic_auth_password_file = dir_ + "/password";
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  // base64("alice:s3cr3t:pw")
  EXPECT_EQ(server_.last().headers.find("Authorization")->second, "Basic YWxpY2U6czNjcjN0OnB3");
}

TEST_F(FakeServerTest, ExtraHeaders) {
  Options options = DefaultOptions();
  options.headers = {{"X-Scope-OrgID", "tenant-1"}, {"X-Custom", "a b"}};
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  const SeenRequest seen = server_.last();
  EXPECT_EQ(seen.headers.find("X-Scope-OrgID")->second, "tenant-1");
  EXPECT_EQ(seen.headers.find("X-Custom")->second, "a b");
  EXPECT_EQ(seen.headers.count("Authorization"), 0u);
}

TEST_F(FakeServerTest, ConnectionsAreReused) {
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  std::vector<SeenRequest> seen = server_.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].remote_port, seen[1].remote_port);
  EXPECT_EQ(seen[1].remote_port, seen[2].remote_port);
  EXPECT_EQ(client->idle_connections(), 1u);

  Options options = DefaultOptions();
  options.max_idle_connections = 0;
  auto unpooled = NewClient(options);
  ASSERT_NE(unpooled, nullptr);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(unpooled->Query("up", std::nullopt, In(10s)).ok());
  seen = server_.seen();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_NE(seen[3].remote_port, seen[4].remote_port);
  EXPECT_EQ(unpooled->idle_connections(), 0u);
}

TEST_F(FakeServerTest, WarningsAreCounted) {
  server_.Answer(200, R"({"status":"success","data":{"resultType":"scalar",)"
                      R"("result":[1700000000,"2"]},"warnings":["w1","w2"],"infos":["i1"]})");
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("scalar(x)", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->warnings, (std::vector<std::string>{"w1", "w2"}));
  EXPECT_EQ(client->warnings_total(), 2u);
}

TEST_F(FakeServerTest, ErrorAnswers) {
  struct Row {
    const char* name;
    int status;
    const char* body;
    StatusCode want;
  };
  const Row rows[] = {
      {"BadData", 400,
       R"({"status":"error","errorType":"bad_data","error":"parse error"})",
       StatusCode::kBackendRejected},
      {"Execution", 422,
       R"({"status":"error","errorType":"execution","error":"many-to-many"})",
       StatusCode::kBackendRejected},
      {"Timeout", 503, R"({"status":"error","errorType":"timeout","error":"query timed out"})",
       StatusCode::kUnavailable},
      {"BadGatewayHtml", 502, "<html>bad gateway</html>", StatusCode::kUnavailable},
      {"TooManyRequests", 429, "slow down", StatusCode::kUnavailable},
      {"NotFound", 404, "404 page not found", StatusCode::kInternal},
      {"GarbageSuccess", 200, "{]", StatusCode::kInternal},
  };
  auto client = NewClient(DefaultOptions());
  ASSERT_NE(client, nullptr);
  for (const Row& row : rows) {
    server_.Answer(row.status, row.body);
    Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
    EXPECT_EQ(result.status().code(), row.want) << row.name << ": " << result.status().ToString();
    // The message says where, for the log.
    EXPECT_NE(result.status().message().find("/api/v1/query"), std::string::npos) << row.name;
  }
}

// Serves one request per connection while pretending to keep it alive: it answers the first
// request of a connection without "Connection: close", then reads the second one and closes
// the socket without answering (as a backend or load balancer closing an idle connection
// just as the client reuses it).
class ClosingKeepAliveServer {
 public:
  ClosingKeepAliveServer() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        listen(listener_, 16) == 0 &&
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~ClosingKeepAliveServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  int port() const { return port_; }
  int connections() const { return connections_; }
  int answered() const { return answered_; }

 private:
  // Reads one request head (these GETs have no body); false on EOF or error.
  static bool ReadRequest(int fd) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) return false;
      head.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  void Serve() {
    for (;;) {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ++connections_;
      if (ReadRequest(fd)) {
        const std::string body = kVectorBody;
        const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "Content-Length: " + std::to_string(body.size()) +
                                     "\r\n\r\n" + body;
        if (write(fd, response.data(), response.size()) ==
            static_cast<ssize_t>(response.size())) {
          ++answered_;
        }
        ReadRequest(fd);  // the reuse attempt: read it, then hang up
      }
      close(fd);
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::atomic<int> answered_{0};
};

TEST(StaleConnectionTest, RetriedOnceOnANewConnection) {
  ClosingKeepAliveServer server;
  ASSERT_GT(server.port(), 0);
  // Declared after the server, so destroyed first: its idle connection closes, which lets
  // the server's thread end.
  auto client = NewClient("http://127.0.0.1:" + std::to_string(server.port()));
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 3; ++i) {
    Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
    ASSERT_TRUE(result.ok()) << i << ": " << result.status().ToString();
  }
  EXPECT_EQ(server.answered(), 3);
  EXPECT_EQ(server.connections(), 3);
  EXPECT_EQ(client->requests_total(), 5u);  // two of them were retried
  EXPECT_EQ(client->failed_requests_total(), 0u);
}

// ---- SigV4

// Parses SigV4's "20150830T123600Z".
system_clock::time_point ParseAmzDate(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr) return {};
  return system_clock::from_time_t(timegm(&tm));
}

// Signs again, on the server's side, the request as it arrived; returns the Authorization
// header that should have come with it.
std::string ExpectedAuthorization(const SeenRequest& seen, const std::string& region,
                                  const AwsCredentials& credentials) {
  const std::string authorization = seen.headers.find("Authorization")->second;
  std::smatch m;
  if (!std::regex_search(authorization, m, std::regex("SignedHeaders=([a-z0-9;-]+)"))) {
    return "no SignedHeaders";
  }
  SigningRequest request;
  request.method = seen.method;
  request.path = seen.path;
  if (seen.method == "GET") {
    for (const auto& [key, value] : seen.params) request.query.emplace_back(key, value);
  }
  std::stringstream names(m[1].str());
  for (std::string name; std::getline(names, name, ';');) {
    if (name == "x-amz-date" || name == "x-amz-security-token") continue;
    request.headers.emplace_back(name, seen.headers.find(name)->second);
  }
  request.body = seen.body;
  SigV4Params params;
  params.region = region;
  params.service = "aps";
  params.time = ParseAmzDate(seen.headers.find("X-Amz-Date")->second);
  auto headers = SignRequest(request, params, credentials);
  if (!headers.ok()) return headers.status().ToString();
  for (const auto& [name, value] : *headers) {
    if (name == "Authorization") return value;
  }
  return "no Authorization";
}

class SigV4Test : public FakeServerTest {
 protected:
  void SetUp() override {
    FakeServerTest::SetUp();
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    credentials_.access_key_id = "AKIDEXAMPLE";
    credentials_.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  }
  void TearDown() override {
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    FakeServerTest::TearDown();
  }
  Options SigV4Options() const {
    Options options = DefaultOptions();
    options.sigv4.enabled = true;
    options.sigv4.region = "us-west-2";
    options.headers = {{"X-Scope-OrgID", "tenant-1"}};
    return options;
  }
  AwsCredentials credentials_;
};

TEST_F(SigV4Test, GetIsSigned) {
  auto client = NewClient(SigV4Options());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Query("sum(rate(x{a=\"b c\"}[5m]))", std::nullopt, In(10s)).ok());
  const SeenRequest seen = server_.last();
  const std::string authorization = seen.headers.find("Authorization")->second;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      authorization, m,
      std::regex("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/([0-9]{8})/us-west-2/aps/"
                 "aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}")))
      << authorization;
  const std::string signed_headers = ";" + m[2].str() + ";";
  EXPECT_NE(signed_headers.find(";host;"), std::string::npos) << signed_headers;
  EXPECT_NE(signed_headers.find(";x-amz-date;"), std::string::npos) << signed_headers;
  EXPECT_NE(signed_headers.find(";x-scope-orgid;"), std::string::npos) << signed_headers;
  const std::string amz_date = seen.headers.find("X-Amz-Date")->second;
  EXPECT_EQ(amz_date.substr(0, 8), m[1].str());
  EXPECT_EQ(seen.headers.count("X-Amz-Security-Token"), 0u);
  EXPECT_EQ(authorization, ExpectedAuthorization(seen, "us-west-2", credentials_));
}

TEST_F(SigV4Test, PostBodyAndSessionTokenAreSigned) {
  setenv("AWS_SESSION_TOKEN", "session-token-example", 1);
  credentials_.session_token = "session-token-example";
  Options options = SigV4Options();
  options.verb = "POST";
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->QueryRange("up", FromMillis(0), FromMillis(60000), 15s, In(10s)).ok());
  const SeenRequest seen = server_.last();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.headers.find("X-Amz-Security-Token")->second, "session-token-example");
  const std::string authorization = seen.headers.find("Authorization")->second;
  EXPECT_NE(authorization.find("x-amz-security-token"), std::string::npos) << authorization;
  EXPECT_NE(authorization.find("content-type"), std::string::npos) << authorization;
  EXPECT_EQ(authorization, ExpectedAuthorization(seen, "us-west-2", credentials_));
}

TEST_F(SigV4Test, MissingCredentialsFailCreate) {
  unsetenv("AWS_SECRET_ACCESS_KEY");
  auto client = HttpPrometheusClient::Create(SigV4Options());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(client.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos)
      << client.status().ToString();
}

// ---- TLS

class TlsTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("tls"));
    const std::string& d = *dir_;
    WriteFile(d + "/server.ext",
              "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    WriteFile(d + "/server-dns.ext", "subjectAltName=DNS:localhost\n");
    WriteFile(d + "/client.ext", "extendedKeyUsage=clientAuth\n");
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string commands[] = {
        "openssl req -x509" + ec + " -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca",
        "openssl req -x509" + ec + " -keyout other-ca.key -out other-ca.crt -days 2 "
            "-subj /CN=other-ca",
        "openssl req" + ec + " -keyout server.key -out server.csr -subj /CN=localhost",
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
            "-out server.crt -days 2 -extfile server.ext",
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
            "-out server-dns.crt -days 2 -extfile server-dns.ext",
        "openssl req" + ec + " -keyout client.key -out client.csr -subj /CN=sextant",
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
            "-out client.crt -days 2 -extfile client.ext",
    };
    for (const std::string& command : commands) {
      const std::string line = "cd '" + d + "' && " + command + " >>openssl.log 2>&1";
      if (std::system(line.c_str()) != 0) {
        error_ = new std::string("failed: " + command + "\n" + ReadFile(d + "/openssl.log"));
        return;
      }
    }
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(*dir_, ignored);
    delete dir_;
    delete error_;
    dir_ = error_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(error_, nullptr) << *error_; }

  static std::string File(const std::string& name) { return *dir_ + "/" + name; }
  static Options TlsOptions(const FakePrometheus& server) {
    Options options;
    options.url = server.Url("https");
    options.ca_file = File("ca.crt");
    options.cert_file = File("client.crt");
    options.key_file = File("client.key");
    return options;
  }

  static std::string* dir_;
  static std::string* error_;
};

std::string* TlsTest::dir_ = nullptr;
std::string* TlsTest::error_ = nullptr;

TEST_F(TlsTest, CaFileAndClientCertificate) {
  FakePrometheus server(File("server.crt"), File("server.key"), File("ca.crt"));
  ASSERT_TRUE(server.valid());
  auto client = NewClient(TlsOptions(server));
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->vector.size(), 1u);
  // The connection is kept and reused.
  ASSERT_TRUE(client->Query("up", std::nullopt, In(10s)).ok());
  const std::vector<SeenRequest> seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].remote_port, seen[1].remote_port);
}

TEST_F(TlsTest, DnsName) {
  FakePrometheus server(File("server-dns.crt"), File("server.key"), File("ca.crt"));
  ASSERT_TRUE(server.valid());
  Options options = TlsOptions(server);
  options.url = "https://localhost:" + std::to_string(server.port());
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(server.last().headers.find("Host")->second,
            "localhost:" + std::to_string(server.port()));
}

TEST_F(TlsTest, NameMismatchIsUnavailable) {
  // The certificate names only localhost; the URL says 127.0.0.1.
  FakePrometheus server(File("server-dns.crt"), File("server.key"), File("ca.crt"));
  ASSERT_TRUE(server.valid());
  auto client = NewClient(TlsOptions(server));
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("does not name 127.0.0.1"), std::string::npos)
      << result.status().ToString();
  EXPECT_TRUE(server.seen().empty());
}

TEST_F(TlsTest, WrongCaIsUnavailable) {
  FakePrometheus server(File("server.crt"), File("server.key"), File("ca.crt"));
  ASSERT_TRUE(server.valid());
  Options options = TlsOptions(server);
  options.ca_file = File("other-ca.crt");
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("certificate"), std::string::npos)
      << result.status().ToString();
  EXPECT_TRUE(server.seen().empty());

  // Unless verification is off.
  options.insecure_skip_tls_verify = true;
  auto insecure = NewClient(options);
  ASSERT_NE(insecure, nullptr);
  result = insecure->Query("up", std::nullopt, In(10s));
  EXPECT_TRUE(result.ok()) << result.status().ToString();
}

TEST_F(TlsTest, MissingClientCertificateIsUnavailable) {
  FakePrometheus server(File("server.crt"), File("server.key"), File("ca.crt"));
  ASSERT_TRUE(server.valid());
  Options options = TlsOptions(server);
  options.cert_file.clear();
  options.key_file.clear();
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
  EXPECT_TRUE(server.seen().empty());
}

TEST_F(TlsTest, HttpsClientAgainstPlainServerIsUnavailable) {
  FakePrometheus server;
  ASSERT_TRUE(server.valid());
  Options options = TlsOptions(server);
  auto client = NewClient(options);
  ASSERT_NE(client, nullptr);
  Result<QueryResult> result = client->Query("up", std::nullopt, In(10s));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
}

TEST_F(TlsTest, MismatchedClientKeyFailsCreate) {
  Options options;
  options.url = "https://127.0.0.1:1";
  options.cert_file = File("client.crt");
  options.key_file = File("server.key");
  auto client = HttpPrometheusClient::Create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
}

// ---- Options validation

TEST(HttpPrometheusClientCreateTest, Validation) {
  const std::string dir = MakeTempDir("create");
  ASSERT_FALSE(dir.empty());
  WriteFile(dir + "/empty", "\n");
  WriteFile(dir + "/token", "t");
  WriteFile(dir + "/not-pem", "hello");
  struct Row {
    const char* name;
    std::function<void(Options&)> edit;
    bool ok;
  };
  const Row rows[] = {
      {"Plain", [](Options&) {}, true},
      {"HttpsWithPrefix", [](Options& o) { o.url = "https://mimir.example/prometheus/"; },
       true},
      {"Ipv6", [](Options& o) { o.url = "http://[::1]:9090"; }, true},
      {"UppercaseScheme", [](Options& o) { o.url = "HTTP://Prometheus:9090"; }, true},
      {"LowercaseVerb", [](Options& o) { o.verb = "post"; }, true},
      {"Bearer", [&](Options& o) { o.bearer_token_file = dir + "/token"; }, true},
      {"EmptyUrl", [](Options& o) { o.url = ""; }, false},
      {"NoScheme", [](Options& o) { o.url = "prometheus:9090"; }, false},
      {"FtpScheme", [](Options& o) { o.url = "ftp://prometheus:9090"; }, false},
      {"NoHost", [](Options& o) { o.url = "http://"; }, false},
      {"NoHostWithPort", [](Options& o) { o.url = "http://:9090"; }, false},
      {"UserInfo", [](Options& o) { o.url = "http://u:p@prometheus:9090"; }, false},
      {"Query", [](Options& o) { o.url = "http://prometheus:9090/?a=b"; }, false},
      {"Fragment", [](Options& o) { o.url = "http://prometheus:9090/#x"; }, false},
      {"Space", [](Options& o) { o.url = "http://prom etheus:9090"; }, false},
      {"PortTooLarge", [](Options& o) { o.url = "http://prometheus:99999"; }, false},
      {"PortZero", [](Options& o) { o.url = "http://prometheus:0"; }, false},
      {"EmptyPort", [](Options& o) { o.url = "http://prometheus:"; }, false},
      {"PortNotNumber", [](Options& o) { o.url = "http://prometheus:http"; }, false},
      {"BadIpv6", [](Options& o) { o.url = "http://[::1"; }, false},
      {"BadVerb", [](Options& o) { o.verb = "PUT"; }, false},
      {"BearerAndBasic",
       [&](Options& o) {
         o.bearer_token_file = dir + "/token";
         o.basic_auth_username = "u";
         o.basic_auth_password_file = dir + "/token";
       },
       false},
      {"BearerAndSigV4",
       [&](Options& o) {
         o.bearer_token_file = dir + "/token";
         o.sigv4.enabled = true;
         o.sigv4.region = "us-east-1";
       },
       false},
      {"UserWithoutPassword", [](Options& o) { o.basic_auth_username = "u"; }, false},
      {"PasswordWithoutUser",
       [&](Options& o) { o.basic_auth_password_file = dir + "/token"; }, false},
      {"UserWithColon",
       [&](Options& o) {
         o.basic_auth_username = "a:b";
         o.basic_auth_password_file = dir + "/token";
       },
       false},
      {"MissingTokenFile", [&](Options& o) { o.bearer_token_file = dir + "/nope"; }, false},
      {"EmptyTokenFile", [&](Options& o) { o.bearer_token_file = dir + "/empty"; }, false},
      {"CaFileOnHttp", [&](Options& o) { o.ca_file = dir + "/token"; }, false},
      {"InsecureOnHttp", [](Options& o) { o.insecure_skip_tls_verify = true; }, false},
      {"CaFileNotPem",
       [&](Options& o) {
         o.url = "https://prometheus";
         o.ca_file = dir + "/not-pem";
       },
       false},
      {"CaFileMissing",
       [&](Options& o) {
         o.url = "https://prometheus";
         o.ca_file = dir + "/nope";
       },
       false},
      {"CertWithoutKey",
       [&](Options& o) {
         o.url = "https://prometheus";
         o.cert_file = dir + "/token";
       },
       false},
      {"AuthorizationHeader",
       [](Options& o) { o.headers = {{"Authorization", "Bearer x"}}; }, false},
      {"HostHeader", [](Options& o) { o.headers = {{"host", "x"}}; }, false},
      {"AmzHeader", [](Options& o) { o.headers = {{"X-Amz-Date", "x"}}; }, false},
      {"HeaderNameWithSpace", [](Options& o) { o.headers = {{"X Org", "x"}}; }, false},
      {"HeaderValueWithNewline",
       [](Options& o) { o.headers = {{"X-Org", "a\r\nX-Evil: 1"}}; }, false},
      {"SigV4WithoutRegion", [](Options& o) { o.sigv4.enabled = true; }, false},
      {"ZeroRequestTimeout", [](Options& o) { o.request_timeout = 0ms; }, false},
      {"ZeroConnectTimeout", [](Options& o) { o.connect_timeout = 0ms; }, false},
      {"NegativeIdle", [](Options& o) { o.max_idle_connections = -1; }, false},
  };
  for (const Row& row : rows) {
    Options options;
    options.url = "http://prometheus:9090";
    row.edit(options);
    auto client = HttpPrometheusClient::Create(options);
    EXPECT_EQ(client.ok(), row.ok) << row.name << ": " << client.status().ToString();
    if (!row.ok && !client.ok()) {
      EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument) << row.name;
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace sextant::query
