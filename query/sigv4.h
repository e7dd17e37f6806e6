// AWS Signature Version 4 (AWS4-HMAC-SHA256) request signing, so that the Prometheus HTTP API
// client can talk to Amazon Managed Service for Prometheus (service "aps") and any other
// AWS service that signs requests the general, non-S3, way.
//
// The caller describes a request exactly as it will be sent (SigningRequest) and gets back
// the headers to add to it (X-Amz-Date, X-Amz-Security-Token with session credentials,
// Authorization). The request must then go out with exactly those method, path, query,
// headers and body: any byte that changes afterwards invalidates the signature.
//
// Canonicalization (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
//  - URI: dot segments removed and runs of '/' collapsed, a trailing '/' kept; then every
//    byte except A-Z a-z 0-9 - . _ ~ and '/' percent-encoded (uppercase hex). The path given
//    is the one on the wire, already percent-encoded, so "%20" becomes "%2520": the double
//    encoding every service except S3 expects.
//  - Query: key and value percent-encoded as above ('/' too, space as %20, never '+'),
//    sorted by encoded key and then encoded value, "k=v" joined by '&' ("k=" when empty).
//  - Headers: every header of the request is signed. Names lowercased; values trimmed of
//    spaces and tabs, inner runs collapsed to one space; repeated names joined by ',' in
//    order; sorted by name.
//  - Payload: lowercase hex SHA-256 of the body.
// Not implemented: S3's rules (no normalization, single encoding, required
// x-amz-content-sha256), presigned URLs, unsigned or chunked payloads, SigV4a.
//
// Verified against AWS's SigV4 test suite (../shared/conformance/sigv4, see its README).
//
// Secrets: AwsCredentials holds a secret key and a session token. Never log them; no error
// message of this file contains them.
// Thread safety: free functions over plain values with no shared state, safe to call from
// any thread; AwsCredentialsFromEnvironment reads the environment with getenv and must not
// race with setenv/unsetenv (call it at startup).
// Errors: Result<T>; InvalidArgument for a request, parameters or credentials that cannot be
// signed, Internal if OpenSSL fails. Nothing throws.
#ifndef SEXTANT_QUERY_SIGV4_H_
#define SEXTANT_QUERY_SIGV4_H_

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace sextant::query {

// Long-term (access key) or temporary (plus session token) AWS credentials.
struct AwsCredentials {
  std::string access_key_id;      // "AKIA..." or "ASIA..."
  std::string secret_access_key;  // secret: never logged
  std::string session_token;      // Default: "" (long-term credentials, no token)
};

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, when set, AWS_SESSION_TOKEN.
// Errors: InvalidArgument naming the variable when either of the first two is unset or
// empty.
Result<AwsCredentials> AwsCredentialsFromEnvironment();

// One HTTP request, as it will be sent.
struct SigningRequest {
  using Headers = std::vector<std::pair<std::string, std::string>>;

  std::string method;  // "GET", "POST"
  // The path as sent on the wire (already percent-encoded), without query or fragment.
  // REQUIRES: begins with '/'.
  std::string path;
  // Decoded query parameters in any order; a key may repeat. The signer encodes them.
  Headers query;
  // Every header that will be sent, in order, names in any case; all of them are signed.
  // REQUIRES: contains Host; contains none of the headers the signer adds (Authorization,
  // X-Amz-Date, X-Amz-Security-Token, and X-Amz-Content-Sha256 when asked for).
  Headers headers;
  std::string body;
};

struct SigV4Params {
  std::string region;   // e.g. "us-east-1"
  std::string service;  // "aps" for Amazon Managed Service for Prometheus
  // The signing time, read by the caller from its Clock; sub-second parts are ignored. AWS
  // rejects signatures more than 5 minutes away from its own clock.
  std::chrono::system_clock::time_point time;
  // Also add and sign X-Amz-Content-Sha256 (the payload hash). aps does not need it.
  // Default: false.
  bool add_content_sha256 = false;
};

// `time` as SigV4's ISO 8601 basic format in UTC, e.g. "20150830T123600Z".
std::string AmzDate(std::chrono::system_clock::time_point time);

// The canonical request over `request` as given: every header in request.headers is signed
// and none is added (SignRequest canonicalizes the request plus its own headers). Exposed
// for tests.
// Errors: Internal if OpenSSL fails to hash the body.
Result<std::string> CanonicalRequest(const SigningRequest& request);

// "AWS4-HMAC-SHA256\n<AmzDate>\n<date>/<region>/<service>/aws4_request\n<hex SHA-256 of
// canonical_request>". Exposed for tests.
// Errors: Internal if OpenSSL fails.
Result<std::string> StringToSign(std::string_view canonical_request,
                                 const SigV4Params& params);

// Signs `request` and returns the headers to add, in this order: X-Amz-Date,
// X-Amz-Security-Token (when credentials.session_token is not empty; it is signed),
// X-Amz-Content-Sha256 (when params.add_content_sha256), Authorization
// ("AWS4-HMAC-SHA256 Credential=<key id>/<scope>, SignedHeaders=..., Signature=<hex>").
// Errors: InvalidArgument when a REQUIRES above does not hold, when the method is not an
// HTTP token, when the path holds '?' or '#', when a header name or value or the session
// token holds CR, LF or NUL, or when the region, service, access key id or secret key is
// empty or unfit for the credential scope; Internal if OpenSSL fails.
Result<std::vector<std::pair<std::string, std::string>>> SignRequest(
    const SigningRequest& request, const SigV4Params& params,
    const AwsCredentials& credentials);

}  // namespace sextant::query

#endif  // SEXTANT_QUERY_SIGV4_H_
