// Authenticator: who is asking, as an aggregated API server establishes it.
//
// Two ways in, checked in this order (as k8s.io/apiserver's union authenticator does):
// 1. Front-proxy (request header): the client certificate verifies against the
//    requestheader CA and, when allowed names are configured, its common name is one of them.
//    The user is then taken from the username headers (first non-empty wins), groups from
//    the group headers (every value, in order), extras from headers under the extra prefix
//    (lowercased key after the prefix, percent-decoded). Without a username header this way
//    does not authenticate and the next is tried.
// 2. Client certificate: verifies against the client CA; user = CN, groups = O values.
// Anything else is unauthenticated. The X-Remote-* headers are never trusted on any request
// that did not come through way 1.
//
// Certificate verification costs a signature check, so the result is cached per TLS
// connection by server/tls_peer.h; this class works on the already
// verified facts.
// Thread safety: immutable after Create(); Authenticate() may be called concurrently.
// Errors: Create() fails with InvalidArgument naming the file that could not be read.
#ifndef SEXTANT_APISERVER_AUTHENTICATOR_H_
#define SEXTANT_APISERVER_AUTHENTICATOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace sextant::apiserver {

struct UserInfo {
  std::string name;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

struct RequestHeaderOptions {
  // Default: empty (front-proxy authentication off).
  std::string client_ca_file;
  // Default: empty (any common name signed by the CA).
  std::vector<std::string> allowed_names;
  // Default: {"X-Remote-User"}.
  std::vector<std::string> username_headers{"X-Remote-User"};
  // Default: {"X-Remote-Group"}.
  std::vector<std::string> group_headers{"X-Remote-Group"};
  // Default: {"X-Remote-Extra-"}.
  std::vector<std::string> extra_headers_prefixes{"X-Remote-Extra-"};
};

struct AuthenticatorOptions {
  RequestHeaderOptions request_header;
  // Default: empty (client certificate authentication off).
  std::string client_ca_file;
};

// What the TLS layer established about the peer's certificate chain.
struct VerifiedPeer {
  bool verified_by_request_header_ca = false;
  bool verified_by_client_ca = false;
  std::string common_name;
  std::vector<std::string> organizations;
};

// Header access, case-insensitive by name; returns every value of a header in order.
using HeaderValues = std::function<std::vector<std::string>(const std::string& name)>;
// Every header name present on the request (for prefix matching of extras).
using HeaderNames = std::function<std::vector<std::string>()>;

class Authenticator {
 public:
  explicit Authenticator(AuthenticatorOptions options);

  // The user, or nullopt when the request is not authenticated. `peer` is nullopt when the
  // client presented no certificate.
  std::optional<UserInfo> Authenticate(const std::optional<VerifiedPeer>& peer,
                                       const HeaderValues& header_values,
                                       const HeaderNames& header_names) const;

  const AuthenticatorOptions& options() const { return options_; }

 private:
  std::optional<UserInfo> FromRequestHeaders(const VerifiedPeer& peer,
                                             const HeaderValues& header_values,
                                             const HeaderNames& header_names) const;
  AuthenticatorOptions options_;
};

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_AUTHENTICATOR_H_
