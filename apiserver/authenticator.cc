#include "apiserver/authenticator.h"

#include <algorithm>
#include <cctype>

namespace sextant::apiserver {
namespace {

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool StartsWithIgnoreCase(const std::string& s, const std::string& prefix) {
  if (s.size() < prefix.size()) return false;
  return ToLower(s.substr(0, prefix.size())) == ToLower(prefix);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Extra keys are percent-encoded by the aggregator (k8s.io/apiserver unescapes them);
// a malformed escape is kept as written.
std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

Authenticator::Authenticator(AuthenticatorOptions options)
    : options_(std::move(options)) {}

std::optional<UserInfo> Authenticator::Authenticate(
    const std::optional<VerifiedPeer>& peer, const HeaderValues& header_values,
    const HeaderNames& header_names) const {
  if (!peer) return std::nullopt;
  if (peer->verified_by_request_header_ca) {
    if (auto user = FromRequestHeaders(*peer, header_values, header_names)) {
      return user;
    }
  }
  if (peer->verified_by_client_ca && !peer->common_name.empty()) {
    return UserInfo{peer->common_name, peer->organizations, {}};
  }
  return std::nullopt;
}

std::optional<UserInfo> Authenticator::FromRequestHeaders(
    const VerifiedPeer& peer, const HeaderValues& header_values,
    const HeaderNames& header_names) const {
  const RequestHeaderOptions& rh = options_.request_header;
  if (!rh.allowed_names.empty() &&
      std::find(rh.allowed_names.begin(), rh.allowed_names.end(),
                peer.common_name) == rh.allowed_names.end()) {
    return std::nullopt;
  }
  UserInfo user;
  for (const std::string& header : rh.username_headers) {
    for (const std::string& value : header_values(header)) {
      if (!value.empty()) {
        user.name = value;
        break;
      }
    }
    if (!user.name.empty()) break;
  }
  if (user.name.empty()) return std::nullopt;
  for (const std::string& header : rh.group_headers) {
    for (const std::string& value : header_values(header)) {
      user.groups.push_back(value);
    }
  }
  std::vector<std::string> seen;  // header names are case-insensitive
  for (const std::string& name : header_names()) {
    const std::string lowered = ToLower(name);
    if (std::find(seen.begin(), seen.end(), lowered) != seen.end()) continue;
    seen.push_back(lowered);
    for (const std::string& prefix : rh.extra_headers_prefixes) {
      if (prefix.empty() || !StartsWithIgnoreCase(name, prefix)) continue;
      std::string key = ToLower(PercentDecode(name.substr(prefix.size())));
      if (key.empty()) continue;
      for (const std::string& value : header_values(name)) {
        user.extra[key].push_back(value);
      }
    }
  }
  return user;
}

}  // namespace sextant::apiserver
