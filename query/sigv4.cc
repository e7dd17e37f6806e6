#include "query/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace sextant::query {
namespace {

using Headers = SigningRequest::Headers;

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kHexDigits = "0123456789abcdef";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

// RFC 3986 percent-encoding with uppercase hex; `keep_slash` leaves '/' as is (paths).
void AppendPercentEncoded(std::string_view in, bool keep_slash, std::string& out) {
  static constexpr std::string_view kUpperHex = "0123456789ABCDEF";
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kUpperHex[c >> 4]);
      out.push_back(kUpperHex[c & 0xF]);
    }
  }
}

std::string PercentEncoded(std::string_view in) {
  std::string out;
  AppendPercentEncoded(in, /*keep_slash=*/false, out);
  return out;
}

// Dot segments removed, empty segments dropped (so runs of '/' collapse), a trailing '/'
// kept, then encoded once more.
std::string CanonicalUri(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    AppendPercentEncoded(segments[i], /*keep_slash=*/false, out);
  }
  if (!segments.empty() && path.ends_with('/')) out.push_back('/');
  return out;
}

std::string CanonicalQuery(const Headers& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [key, value] : query) {
    encoded.emplace_back(PercentEncoded(key), PercentEncoded(value));
  }
  // Byte order of the encoded strings (std::string compares as unsigned bytes).
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [key, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += key;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsSpaceOrTab(char c) { return c == ' ' || c == '\t'; }

// Leading and trailing spaces and tabs removed, inner runs replaced by one space.
std::string NormalizedHeaderValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (IsSpaceOrTab(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

struct Canonical {
  std::string request;
  std::string signed_headers;  // "host;x-amz-date"
};

// The canonical request over request.headers followed by `added` (the signer's headers).
Canonical BuildCanonical(const SigningRequest& request, const Headers& added,
                         std::string_view payload_hash) {
  std::map<std::string, std::string> headers;  // lowercase name -> values joined by ','
  for (const Headers* list : {&request.headers, &added}) {
    for (const auto& [name, value] : *list) {
      auto [it, inserted] = headers.try_emplace(LowerAscii(name));
      if (!inserted) it->second.push_back(',');
      it->second += NormalizedHeaderValue(value);
    }
  }
  Canonical out;
  std::string& r = out.request;
  r += request.method;
  r.push_back('\n');
  r += CanonicalUri(request.path);
  r.push_back('\n');
  r += CanonicalQuery(request.query);
  r.push_back('\n');
  for (const auto& [name, value] : headers) {
    r += name;
    r.push_back(':');
    r += value;
    r.push_back('\n');
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += name;
  }
  r.push_back('\n');
  r += out.signed_headers;
  r.push_back('\n');
  r += payload_hash;
  return out;
}

std::string LowerHex(const unsigned char* data, size_t size) {
  std::string out;
  out.reserve(2 * size);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHexDigits[data[i] >> 4]);
    out.push_back(kHexDigits[data[i] & 0xF]);
  }
  return out;
}

Result<std::string> Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return InternalError("SHA-256 failed in OpenSSL");
  }
  return LowerHex(digest, size);
}

// Raw HMAC-SHA256 bytes.
Result<std::string> HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
           &size) == nullptr) {
    return InternalError("HMAC-SHA256 failed in OpenSSL");
  }
  return std::string(reinterpret_cast<const char*>(mac), size);
}

// HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyymmdd), region), service), "aws4_request").
Result<std::string> SigningKey(std::string_view secret, std::string_view amz_date,
                               const SigV4Params& params) {
  Result<std::string> key = "AWS4" + std::string(secret);
  for (std::string_view part : {amz_date.substr(0, 8), std::string_view(params.region),
                                std::string_view(params.service),
                                std::string_view("aws4_request")}) {
    key = HmacSha256(*key, part);
    if (!key.ok()) return key;
  }
  return key;
}

std::string CredentialScope(std::string_view amz_date, const SigV4Params& params) {
  std::string scope(amz_date.substr(0, 8));
  scope += '/';
  scope += params.region;
  scope += '/';
  scope += params.service;
  scope += "/aws4_request";
  return scope;
}

bool HasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// An RFC 9110 token: methods and header names.
bool IsHttpToken(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Fits in "Credential=<key id>/<date>/<region>/<service>/aws4_request, ...".
bool FitsCredentialScope(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == 0x7F || c == '/' || c == ',') return false;
  }
  return true;
}

Status Validate(const SigningRequest& request, const SigV4Params& params,
                const AwsCredentials& credentials) {
  if (!IsHttpToken(request.method)) {
    return InvalidArgumentError("SigV4: the method is not an HTTP token");
  }
  if (!request.path.starts_with('/') ||
      request.path.find_first_of("?#") != std::string::npos || HasLineBreakOrNul(request.path)) {
    return InvalidArgumentError(
        "SigV4: the path must begin with '/' and hold no query, fragment or line break");
  }
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    if (!IsHttpToken(name) || HasLineBreakOrNul(value)) {
      return InvalidArgumentError("SigV4: header '" + name +
                                  "' has an invalid name or a line break in its value");
    }
    const std::string lower = LowerAscii(name);
    if (lower == "authorization" || lower == "x-amz-date" || lower == "x-amz-security-token" ||
        (params.add_content_sha256 && lower == "x-amz-content-sha256")) {
      return InvalidArgumentError("SigV4: the request already has header '" + name +
                                  "', which the signer adds");
    }
    has_host = has_host || lower == "host";
  }
  if (!has_host) return InvalidArgumentError("SigV4: the request has no Host header");
  if (!FitsCredentialScope(params.region) || !FitsCredentialScope(params.service)) {
    return InvalidArgumentError("SigV4: region and service must be non-empty, without '/'");
  }
  if (!FitsCredentialScope(credentials.access_key_id) ||
      credentials.secret_access_key.empty()) {
    return InvalidArgumentError("SigV4: the credentials lack a valid access key id or secret");
  }
  if (HasLineBreakOrNul(credentials.session_token)) {
    return InvalidArgumentError("SigV4: the session token holds a line break");
  }
  return OkStatus();
}

}  // namespace

Result<AwsCredentials> AwsCredentialsFromEnvironment() {
  auto get = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
  };
  AwsCredentials credentials{get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"),
                             get("AWS_SESSION_TOKEN")};
  if (credentials.access_key_id.empty()) {
    return InvalidArgumentError("AWS_ACCESS_KEY_ID is not set");
  }
  if (credentials.secret_access_key.empty()) {
    return InvalidArgumentError("AWS_SECRET_ACCESS_KEY is not set");
  }
  return credentials;
}

std::string AmzDate(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(time);
  const auto day = floor<days>(secs);
  const year_month_day ymd{day};
  const hh_mm_ss hms{secs - day};
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Result<std::string> CanonicalRequest(const SigningRequest& request) {
  Result<std::string> payload_hash = Sha256Hex(request.body);
  if (!payload_hash.ok()) return payload_hash.status();
  return BuildCanonical(request, {}, *payload_hash).request;
}

Result<std::string> StringToSign(std::string_view canonical_request,
                                 const SigV4Params& params) {
  Result<std::string> hash = Sha256Hex(canonical_request);
  if (!hash.ok()) return hash.status();
  const std::string amz_date = AmzDate(params.time);
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += CredentialScope(amz_date, params);
  out += '\n';
  out += *hash;
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> SignRequest(
    const SigningRequest& request, const SigV4Params& params,
    const AwsCredentials& credentials) {
  SEXTANT_RETURN_IF_ERROR(Validate(request, params, credentials));
  Result<std::string> payload_hash = Sha256Hex(request.body);
  if (!payload_hash.ok()) return payload_hash.status();

  const std::string amz_date = AmzDate(params.time);
  Headers added = {{"X-Amz-Date", amz_date}};
  if (!credentials.session_token.empty()) {
    added.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  if (params.add_content_sha256) added.emplace_back("X-Amz-Content-Sha256", *payload_hash);

  const Canonical canonical = BuildCanonical(request, added, *payload_hash);
  Result<std::string> string_to_sign = StringToSign(canonical.request, params);
  if (!string_to_sign.ok()) return string_to_sign.status();

  Result<std::string> key = SigningKey(credentials.secret_access_key, amz_date, params);
  if (!key.ok()) return key.status();
  Result<std::string> signature = HmacSha256(*key, *string_to_sign);
  if (!signature.ok()) return signature.status();

  std::string authorization(kAlgorithm);
  authorization += " Credential=" + credentials.access_key_id + "/" +
                   CredentialScope(amz_date, params);
  authorization += ", SignedHeaders=" + canonical.signed_headers;
  authorization += ", Signature=" +
                   LowerHex(reinterpret_cast<const unsigned char*>(signature->data()),
                            signature->size());
  added.emplace_back("Authorization", std::move(authorization));
  return added;
}

}  // namespace sextant::query
