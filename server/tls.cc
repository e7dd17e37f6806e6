#include "server/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/log.h"

namespace sextant::server {
namespace {

// Per-connection cache of the verification outcome; freed with the SSL object.
int PeerExDataIndex() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<apiserver::VerifiedPeer*>(ptr);
      });
  return index;
}

Result<X509_STORE*> LoadStore(const std::string& file) {
  X509_STORE* store = X509_STORE_new();
  if (!store || X509_STORE_load_file(store, file.c_str()) != 1) {
    X509_STORE_free(store);
    ERR_clear_error();
    return InvalidArgumentError(file + ": cannot load a CA bundle (PEM) from it");
  }
  return store;
}

std::vector<std::string> SubjectEntries(X509* cert, int nid) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0) out.emplace_back(reinterpret_cast<char*>(utf8), len);
    OPENSSL_free(utf8);
  }
  return out;
}

bool VerifiesAgainst(X509_STORE* store, X509* leaf, STACK_OF(X509) * chain) {
  if (!store) return false;
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  bool ok = ctx && X509_STORE_CTX_init(ctx, store, leaf, chain) == 1 &&
            X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1 &&
            X509_verify_cert(ctx) == 1;
  if (ctx && !ok) {
    SEXTANT_VLOG(3) << "client certificate rejected: "
                    << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  }
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

}  // namespace

Result<std::unique_ptr<TlsContext>> TlsContext::Create(const TlsOptions& options) {
  std::unique_ptr<TlsContext> tls(new TlsContext());
  if (options.cert_file.empty()) {
    auto pair = EnsureSelfSignedCertificate(options.cert_dir, options.extra_names);
    if (!pair.ok()) return pair.status();
    tls->cert_file_ = pair->first;
    tls->key_file_ = pair->second;
  } else {
    tls->cert_file_ = options.cert_file;
    tls->key_file_ = options.key_file;
  }
  if (!options.client_ca_file.empty()) {
    auto store = LoadStore(options.client_ca_file);
    if (!store.ok()) return store.status();
    tls->client_ca_store_ = *store;
    tls->ca_files_.push_back(options.client_ca_file);
  }
  if (!options.request_header_ca_file.empty()) {
    auto store = LoadStore(options.request_header_ca_file);
    if (!store.ok()) return store.status();
    tls->request_header_ca_store_ = *store;
    tls->ca_files_.push_back(options.request_header_ca_file);
  }
  // Fail at start, not at the first handshake, when the pair does not load.
  SSL_CTX* probe = SSL_CTX_new(TLS_server_method());
  bool ok = probe && tls->Configure(*probe);
  SSL_CTX_free(probe);
  if (!ok) {
    return InvalidArgumentError("cannot use serving certificate " + tls->cert_file_ +
                                " with key " + tls->key_file_);
  }
  return tls;
}

TlsContext::~TlsContext() {
  X509_STORE_free(client_ca_store_);
  X509_STORE_free(request_header_ca_store_);
}

bool TlsContext::Configure(SSL_CTX& ctx) const {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(&ctx, cert_file_.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(&ctx, key_file_.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1) {
    SEXTANT_LOG(ERROR) << "cannot load serving certificate " << cert_file_ << " / key "
                       << key_file_;
    ERR_clear_error();
    return false;
  }
  static const unsigned char kSessionContext[] = "sextant";
  SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof kSessionContext - 1);
  if (!ca_files_.empty()) {
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    for (const std::string& file : ca_files_) {
      SSL_add_file_cert_subjects_to_stack(names, file.c_str());
    }
    SSL_CTX_set_client_CA_list(&ctx, names);
    // Request a certificate, accept any at handshake time: verification happens per CA in
    // PeerOf(), and requests without a certificate still reach the health endpoints.
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
                       [](int, X509_STORE_CTX*) { return 1; });
  }
  ERR_clear_error();
  return true;
}

apiserver::VerifiedPeer TlsContext::Verify(X509* leaf, STACK_OF(X509) * chain) const {
  apiserver::VerifiedPeer peer;
  peer.verified_by_request_header_ca =
      VerifiesAgainst(request_header_ca_store_, leaf, chain);
  peer.verified_by_client_ca = VerifiesAgainst(client_ca_store_, leaf, chain);
  if (peer.verified_by_request_header_ca || peer.verified_by_client_ca) {
    std::vector<std::string> cn = SubjectEntries(leaf, NID_commonName);
    if (!cn.empty()) peer.common_name = cn.front();
    peer.organizations = SubjectEntries(leaf, NID_organizationName);
  }
  return peer;
}

std::optional<apiserver::VerifiedPeer> TlsContext::PeerOf(const SSL* ssl) const {
  if (!ssl) return std::nullopt;
  const int index = PeerExDataIndex();
  if (auto* cached = static_cast<apiserver::VerifiedPeer*>(SSL_get_ex_data(ssl, index))) {
    return *cached;
  }
  X509* leaf = SSL_get1_peer_certificate(ssl);
  if (!leaf) return std::nullopt;
  auto* peer = new apiserver::VerifiedPeer(Verify(leaf, SSL_get_peer_cert_chain(ssl)));
  X509_free(leaf);
  // Calls for one connection do not overlap; the SSL object owns the cache from here.
  SSL_set_ex_data(const_cast<SSL*>(ssl), index, peer);
  return *peer;
}

}  // namespace sextant::server
