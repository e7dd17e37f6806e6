#include "server/http_request.h"

namespace sextant::server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Go's url unescape: %XX → byte; with `plus_is_space` (query components) '+' → ' '.
std::optional<std::string> Unescape(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;  // needs two hex digits
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::vector<std::string> HttpRequest::HeaderValues(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) values.push_back(value);
  }
  return values;
}

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

std::vector<std::string> HttpRequest::HeaderNames() const {
  std::vector<std::string> names;
  for (const auto& header : headers) {
    bool seen = false;
    for (const std::string& name : names) seen = seen || EqualsIgnoreCase(name, header.first);
    if (!seen) names.push_back(header.first);
  }
  return names;
}

std::optional<std::string> HttpRequest::QueryValue(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

Result<std::string> DecodeRequestPath(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (StartsWithIgnoreCase(path, "http://") || StartsWithIgnoreCase(path, "https://")) {
    std::string_view rest = path.substr(path.find("//") + 2);
    size_t slash = rest.find('/');
    path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  } else if (path.empty() || path.front() != '/') {
    return InvalidArgumentError("the request target is not an absolute path");
  }
  std::optional<std::string> decoded = Unescape(path, /*plus_is_space=*/false);
  if (!decoded) return InvalidArgumentError("invalid URL escape in the request path");
  return *std::move(decoded);
}

std::string_view RawQuery(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

QueryParams ParseQuery(std::string_view raw_query) {
  QueryParams params;
  while (!raw_query.empty()) {
    size_t amp = raw_query.find('&');
    std::string_view pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    size_t eq = pair.find('=');
    std::optional<std::string> key = Unescape(pair.substr(0, eq), /*plus_is_space=*/true);
    std::optional<std::string> value =
        eq == std::string_view::npos ? std::string()
                                     : Unescape(pair.substr(eq + 1), /*plus_is_space=*/true);
    if (!key || !value) continue;
    params.emplace_back(*std::move(key), *std::move(value));
  }
  return params;
}

}  // namespace sextant::server
