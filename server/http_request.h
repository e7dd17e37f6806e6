// HttpRequest / HttpResponse: one HTTP/1.x exchange as the HTTPS listener hands it to the
// code that answers it, independent of the HTTP library; plus the URL decoding rules the
// listener applies, which follow Go's net/http and net/url (what Kubernetes clients expect of
// an API server):
// - DecodeRequestPath(): the request target's path, percent-decoded like url.PathUnescape
//   ('+' stays '+'); an invalid escape (`%` not followed by two hex digits) is an error
//   (the listener answers 400). An absolute-form target (https://host/p) yields its path.
// - ParseQuery(): the query string split like url.ParseQuery: pairs separated by '&', key
//   and value percent-decoded with '+' as space; a malformed pair (bad escape, or a ';' in
//   it) is skipped, as url.URL.Query() silently does.
// Header names compare case-insensitively; values are kept as received, in order.
// Thread safety: values; distinct objects may be used concurrently.
// Errors: DecodeRequestPath() returns InvalidArgument naming the problem.
#ifndef SEXTANT_SERVER_HTTP_REQUEST_H_
#define SEXTANT_SERVER_HTTP_REQUEST_H_

#include <openssl/ssl.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace sextant::server {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // as sent ("GET", "HEAD", ...)
  std::string path;    // percent-decoded, without the query
  QueryParams query;   // decoded pairs, in order (see ParseQuery)
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;
  int version = 11;    // 10 or 11
  // The TLS connection the request came on; valid until the response has been handed back.
  // Nothing else reads or writes the connection in between.
  const SSL* ssl = nullptr;
  std::string remote_address;  // "ip:port"

  // Every value of header `name` (case-insensitive), in order.
  std::vector<std::string> HeaderValues(std::string_view name) const;
  // The first value of header `name`, or "" when absent.
  std::string Header(std::string_view name) const;
  // The distinct header names (case-insensitively), first spelling kept.
  std::vector<std::string> HeaderNames() const;
  // The first value of query parameter `name`, nullopt when absent (Go's Values.Has/Get).
  std::optional<std::string> QueryValue(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // empty: no Content-Type header
  std::string body;
};

// True when `a` and `b` are equal ignoring ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// The path of a request target (origin-form "/p?q" or absolute-form "https://h/p?q"),
// percent-decoded. InvalidArgument for an invalid escape or a target of another form.
Result<std::string> DecodeRequestPath(std::string_view target);

// The query of a request target: the part after the first '?', or "".
std::string_view RawQuery(std::string_view target);

// Go's url.ParseQuery, keeping the pairs that decode (see the top of this file).
QueryParams ParseQuery(std::string_view raw_query);

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_HTTP_REQUEST_H_
