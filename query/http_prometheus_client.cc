#include "query/http_prometheus_client.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <optional>

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "query/prometheus_decode.h"

namespace sextant::query {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

// Transport failures closer than this to a deadline count as having hit it: socket
// timeouts are set in whole microseconds and may fire a hair early.
constexpr milliseconds kDeadlineSlack{10};
// Secret files larger than this are not read (a token or password is a few KiB at most).
constexpr std::streamsize kMaxSecretBytes = 64 * 1024;

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

void AppendPercentEncoded(std::string_view in, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
}

// "k=v&k=v", keys and values percent-encoded: a query string and a form body alike.
std::string EncodeParams(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out.push_back('&');
    AppendPercentEncoded(key, out);
    out.push_back('=');
    AppendPercentEncoded(value, out);
  }
  return out;
}

// Unix seconds with a millisecond fraction: "1700000000.123", "-0.001".
std::string FormatUnixSeconds(system_clock::time_point time) {
  const int64_t ms = std::chrono::floor<milliseconds>(time.time_since_epoch()).count();
  const uint64_t magnitude =
      ms < 0 ? static_cast<uint64_t>(-(ms + 1)) + 1 : static_cast<uint64_t>(ms);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%03" PRIu64, ms < 0 ? "-" : "",
                magnitude / 1000, magnitude % 1000);
  return buf;
}

// A duration both Go's time.ParseDuration and Prometheus' model.ParseDuration accept:
// "30s" when whole seconds, else "2500ms". REQUIRES: d > 0.
std::string FormatDuration(milliseconds d) {
  const int64_t ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string_view TrimSpace(std::string_view s) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)); };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool HasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// RFC 9110 token characters.
bool IsHeaderName(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 || std::string_view("!#$%&'*+-.^_`|~").find(ch) !=
                                       std::string_view::npos;
  });
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

struct ParsedUrl {
  std::string scheme;       // "http" | "https"
  std::string host_in_url;  // "example", "10.0.0.1", "[::1]"
  int port = 0;
  std::string path_prefix;  // "" or "/prefix"
};

Result<ParsedUrl> ParseUrl(std::string_view url) {
  const auto bad = [&](std::string why) {
    return InvalidArgumentError("url \"" + std::string(url) + "\": " + std::move(why));
  };
  for (char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c >= 0x7F) return bad("holds a space, control or non-ASCII character");
  }
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return bad("expected http://host[:port][/prefix]");
  ParsedUrl parsed;
  parsed.scheme = Lowercase(url.substr(0, sep));
  if (parsed.scheme != "http" && parsed.scheme != "https") {
    return bad("the scheme must be http or https");
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return bad("a query or fragment is not allowed");
  }
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return bad("user info is not allowed (use basic_auth_username/_password_file)");
  }
  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") !=
                            std::string_view::npos) {
      return bad("invalid IPv6 address");
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
    parsed.host_in_url = "[" + std::string(host) + "]";
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
    if (host.empty()) return bad("no host");
    for (char ch : host) {
      if (std::isalnum(static_cast<unsigned char>(ch)) == 0 && ch != '.' && ch != '-' &&
          ch != '_') {
        return bad("invalid character in the host name");
      }
    }
    parsed.host_in_url = std::string(host);
  }
  parsed.port = parsed.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    if (port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != std::string_view::npos) {
      return bad("invalid port");
    }
    parsed.port = std::stoi(std::string(port_text));
    if (parsed.port < 1 || parsed.port > 65535) return bad("port out of range");
  }
  if (path.find_first_of("\"<>\\^`{|}") != std::string_view::npos) {
    return bad("invalid character in the path");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  parsed.path_prefix = std::string(path);
  return parsed;
}

// The first certificate verification error of the handshake running on this thread (the
// request's own thread: cpp-httplib connects synchronously).
thread_local long t_verify_error = X509_V_OK;

int RecordVerifyError(int ok, X509_STORE_CTX* store_ctx) {
  if (ok == 0 && t_verify_error == X509_V_OK) {
    t_verify_error = X509_STORE_CTX_get_error(store_ctx);
  }
  return ok;
}

bool IsReservedHeader(std::string_view name) {
  const std::string lower = Lowercase(name);
  return lower == "host" || lower == "authorization" || lower == "content-type" ||
         lower == "content-length" || lower == "connection" || lower == "transfer-encoding" ||
         lower.rfind("x-amz-", 0) == 0;
}

}  // namespace

// How https connections verify the server: one CA store shared by every connection (OpenSSL
// stores are reference-counted and safe to share), and the host name or IP address that the
// certificate must name.
struct TlsTrust {
  X509_STORE* store = nullptr;
  std::string host;  // without brackets
  bool host_is_ip = false;

  ~TlsTrust() { X509_STORE_free(store); }

  static Result<std::unique_ptr<TlsTrust>> Create(const std::string& ca_file,
                                                  const std::string& host_in_url) {
    auto trust = std::make_unique<TlsTrust>();
    trust->host = host_in_url;
    if (!trust->host.empty() && trust->host.front() == '[') {
      trust->host = trust->host.substr(1, trust->host.size() - 2);
    }
    unsigned char address[sizeof(in6_addr)];
    trust->host_is_ip = inet_pton(AF_INET, trust->host.c_str(), address) == 1 ||
                        inet_pton(AF_INET6, trust->host.c_str(), address) == 1;
    trust->store = X509_STORE_new();
    if (trust->store == nullptr) return InternalError("X509_STORE_new failed");
    if (!ca_file.empty()) {
      if (X509_STORE_load_file(trust->store, ca_file.c_str()) != 1) {
        return InvalidArgumentError("ca_file \"" + ca_file +
                                    "\": cannot be read or holds no PEM certificate");
      }
    } else if (X509_STORE_set_default_paths(trust->store) != 1) {
      return InternalError("cannot load the system's CA certificates");
    }
    return trust;
  }

  // Makes `ctx` verify the chain and the name during the handshake.
  void Apply(SSL_CTX* ctx) const {
    X509_STORE_up_ref(store);
    SSL_CTX_set_cert_store(ctx, store);  // takes the reference
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (host_is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &RecordVerifyError);
  }
};

// A small file holding a secret (a token or a password), re-read whenever it changes on
// disk. Thread safety: Get may be called concurrently.
class SecretFile {
 public:
  static Result<std::unique_ptr<SecretFile>> Open(std::string path, std::string field) {
    auto file = std::unique_ptr<SecretFile>(new SecretFile(std::move(path), std::move(field)));
    std::string why;
    if (!file->Refresh(why)) {
      return InvalidArgumentError(file->field_ + " \"" + file->path_ + "\": " + why);
    }
    return file;
  }

  // The current secret: the file's content, or the last good content if re-reading fails.
  std::string Get() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string why;
    if (!Refresh(why) && !warned_) {
      warned_ = true;
      SEXTANT_LOG(WARNING) << field_ << " \"" << path_ << "\": " << why
                           << "; keeping the previous value";
    }
    return value_;
  }

 private:
  struct Version {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const Version&) const = default;
  };

  SecretFile(std::string path, std::string field)
      : path_(std::move(path)), field_(std::move(field)) {}

  // Re-reads the file when its version changed. False (and `why`) when it cannot be read or
  // holds nothing usable; value_ and version_ then stay as they were.
  bool Refresh(std::string& why) {  // REQUIRES: mu_ held, or not yet shared
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      why = "cannot stat the file";
      return false;
    }
    const Version version{st.st_dev, st.st_ino, st.st_size,
                          int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                          int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec};
    if (loaded_ && version == version_) return true;
    std::ifstream in(path_, std::ios::binary);
    std::string content;
    if (in) {
      content.resize(static_cast<std::size_t>(kMaxSecretBytes) + 1);
      in.read(content.data(), kMaxSecretBytes + 1);
      content.resize(static_cast<std::size_t>(in.gcount()));
    }
    if (!in && !in.eof()) {
      why = "cannot read the file";
      return false;
    }
    if (content.size() > static_cast<std::size_t>(kMaxSecretBytes)) {
      why = "the file is larger than 64 KiB";
      return false;
    }
    const std::string_view trimmed = TrimSpace(content);
    if (trimmed.empty()) {
      why = "the file is empty";
      return false;
    }
    if (HasLineBreakOrNul(trimmed)) {
      why = "the secret holds a line break or NUL";
      return false;
    }
    value_ = std::string(trimmed);
    version_ = version;
    loaded_ = true;
    warned_ = false;
    return true;
  }

  const std::string path_;
  const std::string field_;  // the option's name, for messages
  std::mutex mu_;
  bool loaded_ = false;  // GUARDED_BY(mu_)
  bool warned_ = false;  // GUARDED_BY(mu_)
  Version version_;      // GUARDED_BY(mu_)
  std::string value_;    // GUARDED_BY(mu_); secret: never logged
};

Result<std::unique_ptr<HttpPrometheusClient>> HttpPrometheusClient::Create(Options options) {
  Result<ParsedUrl> url = ParseUrl(options.url);
  if (!url.ok()) return url.status();
  const bool https = url->scheme == "https";

  options.verb = [](std::string verb) {
    for (char& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return verb;
  }(options.verb);
  if (options.verb != "GET" && options.verb != "POST") {
    return InvalidArgumentError("verb must be GET or POST, got \"" + options.verb + "\"");
  }
  const bool bearer = !options.bearer_token_file.empty();
  const bool basic =
      !options.basic_auth_username.empty() || !options.basic_auth_password_file.empty();
  if (static_cast<int>(bearer) + static_cast<int>(basic) +
          static_cast<int>(options.sigv4.enabled) > 1) {
    return InvalidArgumentError(
        "at most one of bearer_token_file, basic auth and sigv4 may be set");
  }
  if (basic) {
    if (options.basic_auth_username.empty() || options.basic_auth_password_file.empty()) {
      return InvalidArgumentError(
          "basic_auth_username and basic_auth_password_file must be set together");
    }
    if (options.basic_auth_username.find(':') != std::string::npos ||
        HasLineBreakOrNul(options.basic_auth_username)) {
      return InvalidArgumentError("basic_auth_username must not hold ':' or a line break");
    }
  }
  if (!https && (!options.ca_file.empty() || !options.cert_file.empty() ||
                 !options.key_file.empty() || options.insecure_skip_tls_verify)) {
    return InvalidArgumentError(
        "ca_file, cert_file, key_file and insecure_skip_tls_verify need an https url");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return InvalidArgumentError("cert_file and key_file must be set together");
  }
  for (const auto& [name, value] : options.headers) {
    if (!IsHeaderName(name)) {
      return InvalidArgumentError("headers: \"" + name + "\" is not a valid header name");
    }
    if (IsReservedHeader(name)) {
      return InvalidArgumentError("headers: \"" + name + "\" may not be set as an extra header");
    }
    if (HasLineBreakOrNul(value)) {
      return InvalidArgumentError("headers: the value of \"" + name + "\" holds a line break");
    }
  }
  if (options.connect_timeout < milliseconds(1) || options.request_timeout < milliseconds(1)) {
    return InvalidArgumentError("connect_timeout and request_timeout must be at least 1ms");
  }
  if (options.max_idle_connections < 0) {
    return InvalidArgumentError("max_idle_connections must not be negative");
  }

  auto client = std::unique_ptr<HttpPrometheusClient>(new HttpPrometheusClient(options));
  client->scheme_host_port_ = url->scheme + "://" + url->host_in_url + ":" +
                              std::to_string(url->port);
  client->host_header_ = url->host_in_url;
  if (url->port != (https ? 443 : 80)) client->host_header_ += ":" + std::to_string(url->port);
  client->path_prefix_ = url->path_prefix;
  client->url_for_log_ = url->scheme + "://" + client->host_header_ + client->path_prefix_;

  if (https && !options.insecure_skip_tls_verify) {
    auto trust = TlsTrust::Create(options.ca_file, url->host_in_url);
    if (!trust.ok()) return trust.status();
    client->trust_ = std::move(*trust);
  }
  if (bearer) {
    auto file = SecretFile::Open(options.bearer_token_file, "bearer_token_file");
    if (!file.ok()) return file.status();
    client->bearer_token_ = std::move(*file);
  }
  if (basic) {
    auto file = SecretFile::Open(options.basic_auth_password_file, "basic_auth_password_file");
    if (!file.ok()) return file.status();
    client->basic_password_ = std::move(*file);
  }
  if (options.sigv4.enabled) {
    if (options.sigv4.region.empty() || options.sigv4.service.empty()) {
      return InvalidArgumentError("sigv4: region and service must be set");
    }
    Result<AwsCredentials> credentials = AwsCredentialsFromEnvironment();
    if (!credentials.ok()) {
      return InvalidArgumentError("sigv4: " + credentials.status().message());
    }
    client->aws_credentials_ = std::move(*credentials);
  }

  // The first connection object checks that the client certificate and key load (and
  // match); it opens no socket until the first request.
  std::unique_ptr<httplib::Client> first = client->NewConnection();
  if (!first->is_valid()) {
    return InvalidArgumentError(
        "cert_file/key_file: cannot load the client certificate and key, or they do not match");
  }
  if (options.max_idle_connections > 0) client->idle_.push_back(std::move(first));
  return client;
}

HttpPrometheusClient::HttpPrometheusClient(Options options) : options_(std::move(options)) {}

HttpPrometheusClient::~HttpPrometheusClient() = default;

std::size_t HttpPrometheusClient::idle_connections() const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  return idle_.size();
}

std::unique_ptr<httplib::Client> HttpPrometheusClient::NewConnection() const {
  auto connection = std::make_unique<httplib::Client>(scheme_host_port_, options_.cert_file,
                                                      options_.key_file);
  connection->set_keep_alive(options_.max_idle_connections > 0);
  connection->set_url_encode(false);  // the target is encoded already, and signed as is
  connection->set_follow_location(false);
  connection->set_tcp_nodelay(true);
  if (scheme_host_port_.rfind("https:", 0) == 0) {
    // cpp-httplib's own post-handshake check cannot match IP address SANs (0.11.4), so
    // OpenSSL verifies chain and name during the handshake instead (TlsTrust::Apply).
    connection->enable_server_certificate_verification(false);
    SSL_CTX* ctx = connection->ssl_context();
    if (trust_ != nullptr && ctx != nullptr) trust_->Apply(ctx);
  }
  return connection;
}

std::unique_ptr<httplib::Client> HttpPrometheusClient::CheckOut(bool& reused) {
  std::unique_ptr<httplib::Client> connection;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (connection == nullptr) connection = NewConnection();
  reused = connection->is_socket_open() != 0;
  return connection;
}

void HttpPrometheusClient::GiveBack(std::unique_ptr<httplib::Client> connection) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (idle_.size() < static_cast<std::size_t>(options_.max_idle_connections)) {
      idle_.push_back(std::move(connection));
      return;
    }
  }
  // The pool is full: `connection` closes here, outside the lock.
}

Status HttpPrometheusClient::Count(Status status) {
  if (!status.ok()) failures_.fetch_add(1, std::memory_order_relaxed);
  return status;
}

Result<std::vector<std::pair<std::string, std::string>>> HttpPrometheusClient::RequestHeaders(
    const std::string& method, const std::string& path, const Params& params,
    const std::string& body) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Host", host_header_);
  if (method == "POST") {
    headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  }
  for (const auto& header : options_.headers) headers.push_back(header);
  if (bearer_token_ != nullptr) {
    headers.emplace_back("Authorization", "Bearer " + bearer_token_->Get());
  } else if (basic_password_ != nullptr) {
    headers.emplace_back("Authorization",
                         "Basic " + Base64(options_.basic_auth_username + ":" +
                                           basic_password_->Get()));
  } else if (options_.sigv4.enabled) {
    SigningRequest request;
    request.method = method;
    request.path = path;
    if (method == "GET") request.query = params;
    request.headers = headers;
    request.body = body;
    SigV4Params sig_params;
    sig_params.region = options_.sigv4.region;
    sig_params.service = options_.sigv4.service;
    sig_params.time = system_clock::now();
    auto signed_headers = SignRequest(request, sig_params, aws_credentials_);
    if (!signed_headers.ok()) return signed_headers.status();
    for (auto& header : *signed_headers) headers.push_back(std::move(header));
  }
  return headers;
}

Result<HttpPrometheusClient::Response> HttpPrometheusClient::Send(const char* api_path,
                                                                  const Params& params,
                                                                  bool has_timeout_param,
                                                                  Deadline deadline) {
  const std::string where = url_for_log_ + api_path;
  const steady_clock::time_point now = steady_clock::now();
  // Compared before subtracting: deadline may be time_point::min().
  if (deadline < now + milliseconds(1)) {
    return DeadlineExceededError(where + ": the deadline passed before the request was sent");
  }
  const milliseconds remaining = std::chrono::floor<milliseconds>(deadline - now);
  const milliseconds budget = std::min(options_.request_timeout, remaining);
  const Deadline hard_deadline = now + budget;

  Params all_params = params;
  if (has_timeout_param) all_params.emplace_back("timeout", FormatDuration(budget));
  const std::string encoded = EncodeParams(all_params);
  std::string method = options_.verb;
  if (method == "GET" && options_.max_get_query_bytes > 0 &&
      encoded.size() > options_.max_get_query_bytes) {
    method = "POST";
  }
  const std::string path = path_prefix_ + api_path;
  const std::string body = method == "POST" ? encoded : std::string();
  // The Status for a failure at `when`, if it came from running out of time.
  const auto timed_out = [&](steady_clock::time_point when,
                             httplib::Error error) -> std::optional<Status> {
    if (when + kDeadlineSlack >= deadline) {
      return DeadlineExceededError(where + ": the deadline passed while waiting for the "
                                           "backend (" + httplib::to_string(error) + ")");
    }
    if (when + kDeadlineSlack >= hard_deadline) {
      return UnavailableError(where + ": no answer within request_timeout (" +
                              FormatDuration(budget) + ")");
    }
    return std::nullopt;
  };

  for (int attempt = 0;; ++attempt) {
    const steady_clock::time_point start = steady_clock::now();
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(hard_deadline - start);
    if (left <= std::chrono::microseconds(0)) {
      return *timed_out(hard_deadline, httplib::Error::ConnectionTimeout);
    }
    auto headers = RequestHeaders(method, path, all_params, body);
    if (!headers.ok()) {
      return InternalError(where + ": cannot build the request: " + headers.status().message());
    }
    httplib::Request request;
    request.method = method;
    request.path = method == "GET" ? path + "?" + encoded : path;
    for (auto& [name, value] : *headers) request.headers.emplace(name, value);
    request.body = body;
    request.progress = [hard_deadline](uint64_t, uint64_t) {
      return steady_clock::now() < hard_deadline;
    };

    bool reused = false;
    std::unique_ptr<httplib::Client> connection = CheckOut(reused);
    connection->set_connection_timeout(
        std::min(left, std::chrono::duration_cast<std::chrono::microseconds>(
                           options_.connect_timeout)));
    connection->set_read_timeout(left);
    connection->set_write_timeout(left);
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (method == "POST") posts_.fetch_add(1, std::memory_order_relaxed);

    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    t_verify_error = X509_V_OK;
    if (connection->send(request, response, error)) {
      SEXTANT_VLOG(3) << method << " " << where << " -> HTTP " << response.status << " in "
                      << std::chrono::duration_cast<milliseconds>(steady_clock::now() - start)
                             .count()
                      << "ms";
      GiveBack(std::move(connection));
      return Response{response.status, std::move(response.body)};
    }

    const steady_clock::time_point failed_at = steady_clock::now();
    // A reused connection that fails well before the timeout was most likely closed by the
    // backend while idle: try once more on a new connection.
    if (attempt == 0 && reused &&
        (error == httplib::Error::Read || error == httplib::Error::Write) &&
        failed_at - start < left / 2) {
      SEXTANT_VLOG(1) << method << " " << where << ": " << httplib::to_string(error)
                      << " on a reused connection; retrying on a new one";
      continue;
    }
    if (std::optional<Status> status = timed_out(failed_at, error)) return *status;
    std::string what;
    switch (error) {
      case httplib::Error::Connection:
        what = "cannot connect";
        break;
      case httplib::Error::ConnectionTimeout:
        what = "connecting timed out";
        break;
      case httplib::Error::Read:
        what = "reading the response failed";
        break;
      case httplib::Error::Write:
        what = "sending the request failed";
        break;
      case httplib::Error::SSLConnection:
      case httplib::Error::SSLServerVerification:
        if (t_verify_error == X509_V_ERR_HOSTNAME_MISMATCH ||
            t_verify_error == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          what = "TLS: the server certificate does not name " + trust_->host;
        } else if (t_verify_error != X509_V_OK) {
          what = std::string("TLS: the server certificate failed verification: ") +
                 X509_verify_cert_error_string(t_verify_error) +
                 (options_.ca_file.empty() ? " (system roots)" : " (ca_file)");
        } else {
          what = "TLS handshake failed (client certificate refused, or the server does not "
                 "speak TLS)";
        }
        break;
      case httplib::Error::SSLLoadingCerts:
        what = "TLS: cannot load ca_file or the system certificates";
        break;
      default:
        what = httplib::to_string(error);
        break;
    }
    return UnavailableError(where + ": " + what);
  }
}

Result<QueryResult> HttpPrometheusClient::Query(const std::string& expr,
                                                std::optional<SystemTime> time,
                                                Deadline deadline) {
  if (expr.empty()) return Count(InvalidArgumentError("query: empty expression"));
  Params params{{"query", expr}};
  if (time.has_value()) params.emplace_back("time", FormatUnixSeconds(*time));
  Result<Response> response = Send("/api/v1/query", params, true, deadline);
  if (!response.ok()) return Count(response.status());
  Result<QueryResult> result = DecodeQueryResponse(response->status, response->body);
  if (!result.ok()) {
    return Count(Status(result.status().code(),
                        url_for_log_ + "/api/v1/query: " + result.status().message()));
  }
  warnings_.fetch_add(result->warnings.size(), std::memory_order_relaxed);
  return result;
}

Result<QueryResult> HttpPrometheusClient::QueryRange(const std::string& expr, SystemTime start,
                                                     SystemTime end, milliseconds step,
                                                     Deadline deadline) {
  if (expr.empty()) return Count(InvalidArgumentError("query_range: empty expression"));
  if (end < start) return Count(InvalidArgumentError("query_range: end before start"));
  if (step < milliseconds(1)) {
    return Count(InvalidArgumentError("query_range: step must be at least 1ms"));
  }
  Params params{{"query", expr},
                {"start", FormatUnixSeconds(start)},
                {"end", FormatUnixSeconds(end)},
                {"step", FormatDuration(step)}};
  Result<Response> response = Send("/api/v1/query_range", params, true, deadline);
  if (!response.ok()) return Count(response.status());
  Result<QueryResult> result = DecodeQueryResponse(response->status, response->body);
  if (!result.ok()) {
    return Count(Status(result.status().code(),
                        url_for_log_ + "/api/v1/query_range: " + result.status().message()));
  }
  warnings_.fetch_add(result->warnings.size(), std::memory_order_relaxed);
  return result;
}

Result<std::vector<LabelSet>> HttpPrometheusClient::Series(const std::vector<std::string>& match,
                                                           SystemTime start, SystemTime end,
                                                           Deadline deadline) {
  if (match.empty()) return Count(InvalidArgumentError("series: no match[] selector"));
  if (end < start) return Count(InvalidArgumentError("series: end before start"));
  Params params;
  for (const std::string& selector : match) params.emplace_back("match[]", selector);
  params.emplace_back("start", FormatUnixSeconds(start));
  params.emplace_back("end", FormatUnixSeconds(end));
  Result<Response> response = Send("/api/v1/series", params, false, deadline);
  if (!response.ok()) return Count(response.status());
  Result<std::vector<LabelSet>> result =
      DecodeSeriesResponse(response->status, response->body);
  if (!result.ok()) {
    return Count(Status(result.status().code(),
                        url_for_log_ + "/api/v1/series: " + result.status().message()));
  }
  return result;
}

}  // namespace sextant::query
