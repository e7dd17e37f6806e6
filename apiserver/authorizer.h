// Authorizer: may this user do this? The seam for delegated authorization.
//
// Today Sextant ships AlwaysAllowAuthorizer (every authenticated user may read every external
// metric); the SubjectAccessReview-backed authorizer of a later issue implements the same
// interface, so the API handler does not change.
// Thread safety: implementations are called concurrently.
#ifndef SEXTANT_APISERVER_AUTHORIZER_H_
#define SEXTANT_APISERVER_AUTHORIZER_H_

#include <string>

#include "apiserver/authenticator.h"

namespace sextant::apiserver {

// What is being asked, in the shape of a SubjectAccessReview's resourceAttributes /
// nonResourceAttributes.
struct AuthorizationAttributes {
  const UserInfo* user = nullptr;
  std::string verb;  // "get" or "list"
  bool resource_request = false;
  std::string namespace_name;  // resource requests
  std::string resource;        // the metric name, lowercased as client-go sends it
  std::string path;            // non-resource requests (discovery)
};

struct AuthorizationDecision {
  bool allowed = false;
  std::string reason;  // shown to the client when denied
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual AuthorizationDecision Authorize(const AuthorizationAttributes& attributes) = 0;
};

class AlwaysAllowAuthorizer : public Authorizer {
 public:
  AuthorizationDecision Authorize(const AuthorizationAttributes&) override {
    return {true, ""};
  }
};

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_AUTHORIZER_H_
