#include "server/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <sstream>

#include "server/keda_scaler.h"

namespace sextant::server {
namespace {

Result<std::string> ReadFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError(flag + ": cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

GrpcServer::GrpcServer(GrpcServerOptions options, apiserver::ExternalMetricsProvider& provider)
    : options_(std::move(options)), service_(std::make_unique<KedaScaler>(provider)) {}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<int> GrpcServer::Start() {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (options_.insecure) {
    credentials = grpc::InsecureServerCredentials();
  } else {
    auto cert = ReadFile("--grpc-tls-cert-file", options_.cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadFile("--grpc-tls-private-key-file", options_.key_file);
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!options_.client_ca_file.empty()) {
      auto ca = ReadFile("--grpc-client-ca-file", options_.client_ca_file);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }
  int bound = 0;
  std::string host = options_.bind_address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(options_.port), credentials, &bound);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || bound == 0) {
    server_.reset();
    return UnavailableError("gRPC: cannot listen on " + host + ":" +
                            std::to_string(options_.port));
  }
  return bound;
}

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (!server_) return;
  service_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

}  // namespace sextant::server
