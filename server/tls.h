// TlsContext: the serving certificate and the client-certificate trust of the HTTPS listener.
//
// - Serving certificate: --tls-cert-file/--tls-private-key-file, or else a self-signed one
//   (P-256, CA:TRUE so it can be the APIService caBundle, SANs localhost, 127.0.0.1, ::1,
//   --tls-sni-names and the Service's DNS names) generated into --cert-dir as apiserver.crt /
//   apiserver.key and reused on restart while it is valid and covers the same names.
// - TLS 1.2 or newer. Client certificates are requested (never required: health probes come
//   without one) and advertised with both CAs' names so Go clients pick the right one.
// - A presented chain is verified against each CA bundle once per connection (purpose: TLS
//   client) and the outcome is cached on the connection (SSL ex_data), so keep-alive requests
//   do not pay for signature checks.
// Ownership: owns the CA stores; must outlive every SSL_CTX configured with it.
// Thread safety: immutable after Create(); PeerOf() is safe concurrently for distinct
// connections, and one connection's PeerOf() calls must not overlap (the listener hands a
// connection's requests out one at a time).
// Errors: Create() fails with InvalidArgument naming the file or the step that failed.
#ifndef SEXTANT_SERVER_TLS_H_
#define SEXTANT_SERVER_TLS_H_

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/authenticator.h"
#include "common/result.h"

namespace sextant::server {

struct TlsOptions {
  std::string cert_file;  // both empty: generate
  std::string key_file;
  std::string cert_dir;
  std::vector<std::string> extra_names;  // DNS names or IP addresses
  std::string client_ca_file;
  std::string request_header_ca_file;
};

class TlsContext {
 public:
  static Result<std::unique_ptr<TlsContext>> Create(const TlsOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Applies certificate, protocol floor and client-certificate settings; false on failure
  // (logged).
  bool Configure(SSL_CTX& ctx) const;

  // What the peer's certificate establishes, nullopt when it sent none.
  std::optional<apiserver::VerifiedPeer> PeerOf(const SSL* ssl) const;

  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }

 private:
  TlsContext() = default;
  apiserver::VerifiedPeer Verify(X509* leaf, STACK_OF(X509) * chain) const;

  std::string cert_file_;
  std::string key_file_;
  X509_STORE* client_ca_store_ = nullptr;          // owned; null when not configured
  X509_STORE* request_header_ca_store_ = nullptr;  // owned; null when not configured
  std::vector<std::string> ca_files_;              // advertised CA names come from these
};

// Generates (or reuses) the self-signed serving pair in `cert_dir`; returns the two paths.
Result<std::pair<std::string, std::string>> EnsureSelfSignedCertificate(
    const std::string& cert_dir, const std::vector<std::string>& names);

}  // namespace sextant::server

#endif  // SEXTANT_SERVER_TLS_H_
