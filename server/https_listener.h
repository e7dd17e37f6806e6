// HttpsListener: the event-driven HTTPS/1.1 listener (Boost.Beast on Boost.Asio with
// asio::ssl). It accepts connections, runs the TLS handshake, reads requests, hands each one
// to an HttpHandler and writes the response the handler gives back.
//
// - A few I/O threads (`io_threads`) run every connection; each connection is served in order
//   on its own strand and holds no thread while it waits. A connection has at most one
//   request at a time: the next one is read once the response has been written.
// - Timeouts: TLS handshake `handshake_timeout`; waiting for the first byte of a request
//   (the first one and between keep-alive requests) `keep_alive_timeout`, then the connection
//   is closed; from the first byte to the end of the request (header and body)
//   `read_timeout`; writing a response `write_timeout`. A timed-out connection is closed
//   without a response.
// - Limits: a request header block (request line included) over `max_header_bytes` is
//   answered 431, a body over `max_body_bytes` 413, a request that does not parse (or whose
//   path has an invalid %-escape, or an HTTP/1.1 request without Host) 400; the connection
//   is then closed. These answers are the listener's own (text/plain) and never reach the
//   handler. `Expect: 100-continue` is answered before the body is read.
// - Keep-alive follows the request (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
//   `Connection: keep-alive`). A HEAD request gets the handler's headers without the body.
// - Lifecycle: Bind() → Serve() (blocks, running the I/O threads) → Stop() from any thread:
//   the listening socket closes, idle keep-alive connections (and handshakes) are closed, and
//   a connection with a request in progress is closed once its response has been written
//   (`Connection: close`). Serve() returns when no connection and no request is left (one
//   still sending a request lasts until its read timeout).
// Ownership: borrows the TlsContext and the handler; both must outlive the listener.
// Thread safety: Bind() and Serve() from one thread; Stop() from any thread; Responder::Send
// from any thread.
// Errors: Bind() fails with Unavailable when the address cannot be bound and Internal when
// TLS cannot be set up; connection errors are logged at --v=3 and close that connection only.
#ifndef SEXTANT_SERVER_HTTPS_LISTENER_H_
#define SEXTANT_SERVER_HTTPS_LISTENER_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "server/http_request.h"
#include "server/tls.h"

namespace sextant::server {

namespace listener_internal {
class Listener;
class Session;
}  // namespace listener_internal

// Gives a handler's response back to its connection. Move-only; Send() at most once, from
// any thread: the response is encrypted and handed to the socket on the calling thread (the
// connection is idle meanwhile), so a worker answers without a hop back to an I/O thread.
// Destroyed without Send(), it answers 500 so that the connection never hangs.
class Responder {
 public:
  Responder(Responder&&) noexcept;
  Responder& operator=(Responder&&) noexcept;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();

  void Send(HttpResponse response);

 private:
  friend class listener_internal::Session;
  explicit Responder(std::shared_ptr<listener_internal::Session> session);
  std::shared_ptr<listener_internal::Session> session_;
};

// What answers requests.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // A request has been read. Runs on an I/O thread: must not block (hand slow work to
  // another thread and call responder.Send() from there).
  virtual void OnRequest(HttpRequest request, Responder responder) = 0;
  // The response to one request given to OnRequest() has been written, or its connection
  // failed first. Exactly once per OnRequest(), on an I/O thread.
  virtual void OnRequestDone() = 0;
};

struct HttpsListenerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 6443;  // 0 picks a free port
  // Default: 1. Threads running the connections.
  int io_threads = 1;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds keep_alive_timeout{30000};
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};
  // Default: 16 KiB. Request line plus headers.
  size_t max_header_bytes = 16 * 1024;
  // Default: 1 MiB.
  size_t max_body_bytes = 1024 * 1024;
};

class HttpsListener {
 public:
  HttpsListener(HttpsListenerOptions options, const TlsContext& tls, HttpHandler& handler);
  ~HttpsListener();
  HttpsListener(const HttpsListener&) = delete;
  HttpsListener& operator=(const HttpsListener&) = delete;

  // Sets up TLS and binds the listening socket; returns the port.
  Result<int> Bind();
  // REQUIRES: Bind() succeeded. Runs the I/O threads (this one among them) until Stop() and
  // every connection has closed.
  void Serve();
  void Stop();

 private:
  std::unique_ptr<listener_internal::Listener> impl_;
};

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_HTTPS_LISTENER_H_
