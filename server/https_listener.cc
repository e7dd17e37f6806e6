#include "server/https_listener.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/log.h"

namespace sextant::server {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
// Concrete executor types rather than any_io_executor: no type erasure per operation.
using TcpStream = beast::basic_stream<tcp, Strand, beast::unlimited_rate_policy>;
using TlsStream = beast::ssl_stream<TcpStream>;
using StrandSocket = net::basic_stream_socket<tcp, Strand>;

namespace listener_internal {
namespace {

constexpr size_t kFirstReadBytes = 4096;
// How long a closing connection waits for the peer's close_notify (or its FIN).
constexpr std::chrono::milliseconds kLingerTimeout{1000};

// The current time as an HTTP Date header value, formatted once per second per thread.
std::string_view HttpDate() {
  thread_local std::time_t cached = 0;
  thread_local char text[40];
  const std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  return text;
}

std::string ReasonText(int status) {
  std::string_view reason = http::obsolete_reason(static_cast<http::status>(status));
  return std::to_string(status) + " " + std::string(reason);
}

bool IsHttpParseError(const beast::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_target).category();
}

// A connection that ended without a usable request, in the ordinary ways.
bool IsPeerGone(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == net::error::eof || ec == ssl::error::stream_truncated ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted ||
         ec == net::error::broken_pipe || ec == net::error::bad_descriptor;
}

}  // namespace

// Everything a connection needs from its listener, plus the accept loop and the registry of
// live connections (so that Stop() can close the idle ones).
class Listener {
 public:
  Listener(HttpsListenerOptions options, const TlsContext& tls, HttpHandler& handler)
      : options_(std::move(options)),
        tls_(tls),
        handler_(handler),
        ioc_(std::max(1, options_.io_threads)),
        acceptor_(net::make_strand(ioc_)),
        accept_retry_(acceptor_.get_executor()) {}

  Result<int> Bind();
  void Serve();
  void Stop();

  const HttpsListenerOptions& options() const { return options_; }
  HttpHandler& handler() { return handler_; }
  ssl::context& ssl_context() { return *ssl_context_; }
  net::io_context& io_context() { return ioc_; }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }

  std::list<std::weak_ptr<Session>>::iterator Register(std::weak_ptr<Session> session) {
    std::lock_guard<std::mutex> lock(mu_);
    return sessions_.insert(sessions_.end(), std::move(session));
  }
  void Unregister(std::list<std::weak_ptr<Session>>::iterator it) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(it);
  }

 private:
  void Accept();
  void OnAccept(beast::error_code ec, StrandSocket socket);
  void RunIo();

  const HttpsListenerOptions options_;
  const TlsContext& tls_;
  HttpHandler& handler_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::list<std::weak_ptr<Session>> sessions_;  // GUARDED_BY(mu_)
  // Declared before the io_context: connections (destroyed with it) still use these.
  std::optional<ssl::context> ssl_context_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;     // on its own strand
  net::steady_timer accept_retry_;
};

// One connection. Its members are used by one thread at a time: by handlers on the
// connection's strand, except while a request is with the HttpHandler. Then no operation is
// pending on the connection and nothing else touches it (Stop()'s CloseIfIdle() only reads
// the atomic state), so the response is written by the thread that gives it, without a hop
// back to the strand; the write's completion comes back on the strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(StrandSocket socket, Listener& listener)
      : listener_(listener), stream_(std::move(socket), listener.ssl_context()) {
    beast::error_code ec;
    tcp::endpoint peer = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string() + ":" + std::to_string(peer.port());
  }
  ~Session() {
    if (registered_) listener_.Unregister(registration_);
  }

  void Start() {
    registration_ = listener_.Register(weak_from_this());
    registered_ = true;
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Handshake(); });
  }

  // The connection's strand; safe to call from any thread.
  Strand executor() { return stream_.get_executor(); }

  // On the strand: closes the connection unless a request is being read or served.
  void CloseIfIdle() {
    const State state = state_.load(std::memory_order_acquire);
    if (state == State::kHandshake || state == State::kIdle) CloseNow();
  }

  // From the handler's thread: the response to the current request (see the class comment).
  void Deliver(HttpResponse response) { Write(std::move(response)); }

 private:
  enum class State { kHandshake, kIdle, kReading, kServing, kWriting, kClosing, kClosed };

  TcpStream& lowest() { return beast::get_lowest_layer(stream_); }
  const HttpsListenerOptions& options() const { return listener_.options(); }

  void Handshake() {
    state_ = State::kHandshake;
    lowest().expires_after(options().handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&Session::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      SEXTANT_VLOG(3) << "TLS handshake with " << remote_ << " failed: " << ec.message();
      return CloseNow();
    }
    WaitForRequest();
  }

  // Waits up to the keep-alive timeout for the first byte of the next request.
  void WaitForRequest() {
    if (buffer_.size() > 0) return ReadRequest();  // pipelined
    if (listener_.stopping()) return Shutdown();
    state_ = State::kIdle;
    lowest().expires_after(options().keep_alive_timeout);
    stream_.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, size_t bytes) {
    if (ec) {
      if (ec == beast::error::timeout) {
        SEXTANT_VLOG(4) << "closing idle connection from " << remote_;
      } else if (!IsPeerGone(ec)) {
        SEXTANT_VLOG(3) << "reading from " << remote_ << ": " << ec.message();
      }
      return CloseNow();
    }
    buffer_.commit(bytes);
    ReadRequest();
  }

  // From the first byte on, the whole request must arrive within the read timeout.
  void ReadRequest() {
    state_ = State::kReading;
    version_ = 11;
    head_ = false;
    keep_alive_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(options().max_header_bytes, UINT32_MAX)));
    parser_->body_limit(options().max_body_bytes);
    lowest().expires_after(options().read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    const auto& request = parser_->get();
    version_ = request.version();
    if (parser_->is_done()) return Dispatch();
    if (version_ >= 11 && beast::iequals(request[http::field::expect], "100-continue")) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue, sizeof kContinue - 1),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->CloseNow();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  void OnReadError(const beast::error_code& ec) {
    if (ec == http::error::header_limit) return WriteError(431, "");
    if (ec == http::error::body_limit) return WriteError(413, "");
    if (ec == beast::error::timeout) {
      SEXTANT_VLOG(3) << "read timeout on a request from " << remote_;
      return CloseNow();
    }
    if (IsPeerGone(ec)) return CloseNow();
    if (IsHttpParseError(ec)) return WriteError(400, ec.message());
    SEXTANT_VLOG(3) << "reading a request from " << remote_ << ": " << ec.message();
    CloseNow();
  }

  void Dispatch() {
    http::request<http::string_body>& message = parser_->get();
    keep_alive_ = message.keep_alive();
    head_ = message.method() == http::verb::head;
    if (version_ >= 11 && message.find(http::field::host) == message.end()) {
      return WriteError(400, "missing required Host header");
    }
    Result<std::string> path = DecodeRequestPath(message.target());
    if (!path.ok()) return WriteError(400, path.status().message());

    HttpRequest request;
    request.method = std::string(message.method_string());
    request.path = *std::move(path);
    request.query = ParseQuery(RawQuery(message.target()));
    request.headers.reserve(std::distance(message.begin(), message.end()));
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()),
                                   std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.version = version_;
    request.ssl = stream_.native_handle();
    request.remote_address = remote_;
    parser_.reset();

    state_ = State::kServing;
    lowest().expires_never();
    // Keeps Serve() running while the handler works on another thread.
    work_.emplace(listener_.io_context().get_executor());
    in_handler_ = true;
    listener_.handler().OnRequest(std::move(request), Responder(shared_from_this()));
  }

  void WriteError(int status, const std::string& detail) {
    SEXTANT_VLOG(3) << "answering " << status << " to " << remote_
                    << (detail.empty() ? "" : ": ") << detail;
    keep_alive_ = false;
    head_ = false;
    parser_.reset();
    Write({status, "text/plain; charset=utf-8", ReasonText(status)});
  }

  void Write(HttpResponse response) {
    state_ = State::kWriting;
    keep_alive_ = keep_alive_ && !listener_.stopping();
    response_.emplace();
    response_->version(version_);
    response_->result(static_cast<unsigned>(response.status));
    response_->set(http::field::date, HttpDate());
    if (!response.content_type.empty()) {
      response_->set(http::field::content_type, response.content_type);
    }
    response_->content_length(response.body.size());
    if (!head_) response_->body() = std::move(response.body);
    response_->keep_alive(keep_alive_);
    lowest().expires_after(options().write_timeout);
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    response_.reset();
    if (in_handler_) {
      in_handler_ = false;
      listener_.handler().OnRequestDone();
    }
    work_.reset();
    if (ec) {
      if (!IsPeerGone(ec)) {
        SEXTANT_VLOG(3) << "writing a response to " << remote_ << ": " << ec.message();
      }
      return CloseNow();
    }
    if (!keep_alive_) return Shutdown();
    WaitForRequest();
  }

  // Sends close_notify and waits briefly for the peer to close, so that it reads the last
  // response before the socket goes away.
  void Shutdown() {
    state_ = State::kClosing;
    lowest().expires_after(std::min<std::chrono::milliseconds>(kLingerTimeout,
                                                               options().write_timeout));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->CloseNow(); });
  }

  void CloseNow() {
    if (state_.load(std::memory_order_relaxed) == State::kClosed) return;
    state_ = State::kClosed;
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  Listener& listener_;
  TlsStream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::atomic<State> state_{State::kHandshake};
  int version_ = 11;
  bool head_ = false;
  bool keep_alive_ = false;
  bool in_handler_ = false;  // OnRequestDone() is owed
  bool registered_ = false;
  std::list<std::weak_ptr<Session>>::iterator registration_;
};

Result<int> Listener::Bind() {
  try {
    ssl_context_.emplace(ssl::context::tls_server);
  } catch (const std::exception& error) {
    return InternalError(std::string("cannot create the TLS context: ") + error.what());
  }
  if (!tls_.Configure(*ssl_context_->native_handle())) {
    return InternalError("the TLS listener could not be set up (see the log)");
  }
  const std::string where =
      options_.bind_address + ":" + std::to_string(options_.port);
  beast::error_code ec;
  tcp::endpoint endpoint;
  net::ip::address address = net::ip::make_address(options_.bind_address, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<unsigned short>(options_.port));
  } else {
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(options_.bind_address, std::to_string(options_.port),
                                    tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return UnavailableError("cannot listen on " + where + ": " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  }
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return UnavailableError("cannot listen on " + where + ": " + ec.message());
  tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) return UnavailableError("cannot listen on " + where + ": " + ec.message());
  return static_cast<int>(bound.port());
}

void Listener::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_),
                         [this](beast::error_code ec, StrandSocket socket) {
                           OnAccept(ec, std::move(socket));
                         });
}

void Listener::OnAccept(beast::error_code ec, StrandSocket socket) {
  if (stopping() || !acceptor_.is_open()) return;
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    // Out of file descriptors, typically: back off instead of spinning.
    SEXTANT_LOG(WARNING) << "accept failed: " << ec.message();
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopping()) Accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<Session>(std::move(socket), *this)->Start();
  Accept();
}

void Listener::RunIo() {
  while (true) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& error) {
      SEXTANT_LOG(ERROR) << "unexpected exception on an I/O thread: " << error.what();
    }
  }
}

void Listener::Serve() {
  net::dispatch(acceptor_.get_executor(), [this] {
    if (!stopping()) Accept();
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < options_.io_threads; ++i) threads.emplace_back([this] { RunIo(); });
  RunIo();
  for (std::thread& thread : threads) thread.join();
}

void Listener::Stop() {
  if (stopping_.exchange(true)) return;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    accept_retry_.cancel();
    acceptor_.close(ignored);
  });
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::weak_ptr<Session>& weak : sessions_) {
      if (std::shared_ptr<Session> session = weak.lock()) sessions.push_back(session);
    }
  }
  for (std::shared_ptr<Session>& session : sessions) {
    net::post(session->executor(), [session] { session->CloseIfIdle(); });
  }
}

}  // namespace listener_internal

// --- Responder -----------------------------------------------------------------------------

Responder::Responder(std::shared_ptr<listener_internal::Session> session)
    : session_(std::move(session)) {}

Responder::Responder(Responder&&) noexcept = default;

Responder& Responder::operator=(Responder&& other) noexcept {
  if (this != &other) {
    if (session_) Send({500, "text/plain; charset=utf-8", "500 Internal Server Error"});
    session_ = std::move(other.session_);
  }
  return *this;
}

Responder::~Responder() {
  if (session_) {
    SEXTANT_LOG(ERROR) << "a request was dropped without a response; answering 500";
    Send({500, "text/plain; charset=utf-8", "500 Internal Server Error"});
  }
}

void Responder::Send(HttpResponse response) {
  if (!session_) return;
  std::shared_ptr<listener_internal::Session> session = std::move(session_);
  session->Deliver(std::move(response));
}

// --- HttpsListener -------------------------------------------------------------------------

HttpsListener::HttpsListener(HttpsListenerOptions options, const TlsContext& tls,
                             HttpHandler& handler)
    : impl_(std::make_unique<listener_internal::Listener>(std::move(options), tls, handler)) {}

HttpsListener::~HttpsListener() = default;

Result<int> HttpsListener::Bind() { return impl_->Bind(); }
void HttpsListener::Serve() { impl_->Serve(); }
void HttpsListener::Stop() { impl_->Stop(); }

}  // namespace sextant::server
