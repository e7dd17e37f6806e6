// GrpcServer: the KEDA external scaler's gRPC listener (--grpc-port; 0 = off).
//
// TLS: --grpc-tls-cert-file/--grpc-tls-private-key-file, or else the HTTPS serving pair
// (--tls-cert-file/--tls-private-key-file, or the self-signed apiserver.crt/apiserver.key in
// --cert-dir, which TlsContext::Create() writes before the gRPC server starts).
// --grpc-client-ca-file: client certificates are required and verified against that bundle.
// --grpc-insecure: plaintext (for tests and a mesh that terminates TLS).
// Shutdown(): ends the StreamIsActive calls and stops the server (in-flight unary calls get
// up to `grace`); main calls it on SIGTERM before the HTTPS drain.
// Thread safety: Start() and Shutdown() from one thread.
// Errors: Start() returns InvalidArgument for unreadable files, Unavailable if it cannot bind.
#ifndef SEXTANT_SERVER_GRPC_SERVER_H_
#define SEXTANT_SERVER_GRPC_SERVER_H_

#include <chrono>
#include <memory>
#include <string>

#include "apiserver/provider.h"
#include "common/result.h"

namespace grpc {
class Server;
}

namespace sextant::server {

class KedaScaler;

struct GrpcServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 0;
  bool insecure = false;
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // non-empty: require and verify client certificates
};

class GrpcServer {
 public:
  GrpcServer(GrpcServerOptions options, apiserver::ExternalMetricsProvider& provider);
  ~GrpcServer();

  // Returns the bound port.
  Result<int> Start();
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  GrpcServerOptions options_;
  std::unique_ptr<KedaScaler> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_GRPC_SERVER_H_
