// Table-driven tests of the flag parser: defaults, both spellings, lists, durations, errors.
#include "server/options.h"

#include <gtest/gtest.h>

namespace sextant::server {
namespace {

TEST(ServerOptions, DefaultsMatchTheDocumentedOnes) {
  auto o = ParseServerOptions({});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->secure_port, 6443);
  EXPECT_EQ(o->bind_address, "0.0.0.0");
  EXPECT_EQ(o->cert_dir, "apiserver.local.config/certificates");
  EXPECT_EQ(o->authentication.request_header.username_headers,
            std::vector<std::string>{"X-Remote-User"});
  EXPECT_EQ(o->authentication.request_header.group_headers,
            std::vector<std::string>{"X-Remote-Group"});
  EXPECT_EQ(o->authentication.request_header.extra_headers_prefixes,
            std::vector<std::string>{"X-Remote-Extra-"});
  EXPECT_EQ(o->always_allow_paths,
            (std::vector<std::string>{"/healthz", "/readyz", "/livez"}));
}

TEST(ServerOptions, BothSpellingsAndLists) {
  auto o = ParseServerOptions({"--secure-port=8443", "--bind-address", "127.0.0.1",
                               "--requestheader-allowed-names=a, b",
                               "--requestheader-allowed-names", "c",
                               "--keep-alive-timeout=1m", "--request-timeout", "1500ms",
                               "--v=3"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->secure_port, 8443);
  EXPECT_EQ(o->bind_address, "127.0.0.1");
  EXPECT_EQ(o->authentication.request_header.allowed_names,
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(o->keep_alive_timeout.count(), 60);
  EXPECT_EQ(o->request_timeout.count(), 1500);
  EXPECT_EQ(o->verbosity, 3);
}

TEST(ServerOptions, ListenerThreads) {
  auto defaults = ParseServerOptions({});
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->max_workers, 16);
  EXPECT_EQ(defaults->io_threads, 0);  // the number of usable CPUs
  auto o = ParseServerOptions({"--max-workers=4", "--io-threads", "3"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->max_workers, 4);
  EXPECT_EQ(o->io_threads, 3);
  EXPECT_FALSE(ParseServerOptions({"--io-threads=-1"}).ok());
  EXPECT_FALSE(ParseServerOptions({"--max-workers=0"}).ok());
}

struct BadFlagCase {
  const char* name;
  std::vector<std::string> args;
  const char* message_contains;
};

class BadFlags : public ::testing::TestWithParam<BadFlagCase> {};

TEST_P(BadFlags, AreRejectedNamingTheFlag) {
  auto o = ParseServerOptions(GetParam().args);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find(GetParam().message_contains), std::string::npos)
      << o.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadFlags,
    ::testing::Values(
        BadFlagCase{"unknown", {"--no-such-flag=1"}, "--no-such-flag"},
        BadFlagCase{"port_range", {"--secure-port=70000"}, "--secure-port"},
        BadFlagCase{"port_text", {"--secure-port=abc"}, "--secure-port"},
        BadFlagCase{"missing_value", {"--cert-dir"}, "--cert-dir needs a value"},
        BadFlagCase{"bad_duration", {"--read-timeout=5x"}, "--read-timeout"},
        BadFlagCase{"dot_duration", {"--read-timeout=.s"}, "--read-timeout"},
        BadFlagCase{"cert_without_key", {"--tls-cert-file=a.crt"}, "together"},
        BadFlagCase{"positional", {"extra"}, "unexpected argument"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ParseDuration, GoUnits) {
  EXPECT_EQ(ParseDuration("500ms")->count(), 500);
  EXPECT_EQ(ParseDuration("1m30s")->count(), 90000);
  EXPECT_EQ(ParseDuration("2h")->count(), 7200000);
  EXPECT_EQ(ParseDuration("0")->count(), 0);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("10").ok());
}

}  // namespace
}  // namespace sextant::server
