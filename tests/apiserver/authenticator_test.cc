// The authentication decision table: which peer + headers combination is which user.
#include "apiserver/authenticator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

namespace sextant::apiserver {
namespace {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::optional<UserInfo> AuthenticateWith(const Authenticator& auth, const std::optional<VerifiedPeer>& peer,
                            const HeaderList& headers) {
  auto values = [&](const std::string& name) {
    std::vector<std::string> out;
    for (const auto& [k, v] : headers) {
      if (Lower(k) == Lower(name)) out.push_back(v);
    }
    return out;
  };
  auto names = [&]() {
    std::vector<std::string> out;
    for (const auto& [k, v] : headers) {
      if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
    }
    return out;
  };
  return auth.Authenticate(peer, values, names);
}

VerifiedPeer FrontProxy(std::string cn = "front-proxy-client") {
  VerifiedPeer p;
  p.verified_by_request_header_ca = true;
  p.common_name = std::move(cn);
  return p;
}

VerifiedPeer ClientCert() {
  VerifiedPeer p;
  p.verified_by_client_ca = true;
  p.common_name = "alice";
  p.organizations = {"dev", "ops"};
  return p;
}

Authenticator Make(std::vector<std::string> allowed = {}) {
  AuthenticatorOptions o;
  o.request_header.allowed_names = std::move(allowed);
  return Authenticator(o);
}

TEST(Authenticator, NoCertificateIsAnonymousEvenWithHeaders) {
  EXPECT_FALSE(AuthenticateWith(Make(), std::nullopt, {{"X-Remote-User", "admin"}}).has_value());
}

TEST(Authenticator, UnverifiedCertificateIsRejected) {
  VerifiedPeer p;  // verified by nobody
  p.common_name = "mallory";
  EXPECT_FALSE(AuthenticateWith(Make(), p, {{"X-Remote-User", "admin"}}).has_value());
}

TEST(Authenticator, FrontProxyTakesUserGroupsAndExtras) {
  auto user = AuthenticateWith(Make(), FrontProxy(),
                  {{"X-Remote-User", "system:serviceaccount:kube-system:hpa"},
                   {"X-Remote-Group", "system:serviceaccounts"},
                   {"X-Remote-Group", "system:authenticated"},
                   {"X-Remote-Extra-Scopes", "a"},
                   {"x-remote-extra-scopes", "b"},
                   {"X-Remote-Extra-Acme.com%2Fproject", "p1"}});
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->name, "system:serviceaccount:kube-system:hpa");
  EXPECT_EQ(user->groups,
            (std::vector<std::string>{"system:serviceaccounts", "system:authenticated"}));
  EXPECT_EQ(user->extra["scopes"], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(user->extra["acme.com/project"], std::vector<std::string>{"p1"});
}

TEST(Authenticator, FrontProxyWithoutUserHeaderIsNotAuthenticated) {
  EXPECT_FALSE(AuthenticateWith(Make(), FrontProxy(), {{"X-Remote-Group", "g"}}).has_value());
}

TEST(Authenticator, FrontProxyCommonNameMustBeAllowed) {
  auto auth = Make({"front-proxy-client"});
  EXPECT_TRUE(AuthenticateWith(auth, FrontProxy(), {{"X-Remote-User", "u"}}).has_value());
  EXPECT_FALSE(AuthenticateWith(auth, FrontProxy("someone-else"), {{"X-Remote-User", "u"}}).has_value());
}

TEST(Authenticator, ClientCertificateUsesCommonNameAndOrganizations) {
  auto user = AuthenticateWith(Make(), ClientCert(), {{"X-Remote-User", "admin"}});
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->name, "alice");  // headers never trusted on a direct certificate
  EXPECT_EQ(user->groups, (std::vector<std::string>{"dev", "ops"}));
}

TEST(Authenticator, CustomHeaderNames) {
  AuthenticatorOptions o;
  o.request_header.username_headers = {"X-User-A", "X-User-B"};
  o.request_header.group_headers = {"X-Groups"};
  o.request_header.extra_headers_prefixes = {"X-Extra-"};
  Authenticator auth(o);
  auto user = AuthenticateWith(auth, FrontProxy(),
                  {{"X-User-B", "bob"}, {"X-Groups", "g"}, {"X-Extra-K", "v"},
                   {"X-Remote-User", "ignored"}});
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->name, "bob");
  EXPECT_EQ(user->groups, std::vector<std::string>{"g"});
  EXPECT_EQ(user->extra["k"], std::vector<std::string>{"v"});
}

}  // namespace
}  // namespace sextant::apiserver
