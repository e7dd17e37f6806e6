// The generated serving certificate (declared in tls.h).
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>

#include "common/log.h"
#include "server/tls.h"

namespace sextant::server {
namespace {

constexpr int kValidDays = 365;
constexpr int kRenewBeforeSeconds = 7 * 24 * 3600;

bool IsIpAddress(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::string SubjectAltNames(const std::set<std::string>& names) {
  std::string san;
  for (const std::string& name : names) {
    if (!san.empty()) san += ",";
    san += (IsIpAddress(name) ? "IP:" : "DNS:") + name;
  }
  return san;
}

bool AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// True when the existing certificate is valid for a while yet and names exactly `names`.
bool Reusable(const std::string& cert_path, const std::string& key_path,
              const std::set<std::string>& names) {
  if (!std::filesystem::exists(cert_path) || !std::filesystem::exists(key_path)) {
    return false;
  }
  FILE* f = std::fopen(cert_path.c_str(), "r");
  if (!f) return false;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!cert) {
    ERR_clear_error();
    return false;
  }
  time_t renew_at = std::time(nullptr) + kRenewBeforeSeconds;
  bool fresh = X509_cmp_time(X509_get0_notAfter(cert), &renew_at) > 0;
  std::set<std::string> have;
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type == GEN_DNS) {
      have.insert(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)));
    } else if (gn->type == GEN_IPADD) {
      char text[INET6_ADDRSTRLEN] = {0};
      int len = ASN1_STRING_length(gn->d.iPAddress);
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(gn->d.iPAddress),
                text, sizeof text);
      have.insert(text);
    }
  }
  GENERAL_NAMES_free(sans);
  X509_free(cert);
  return fresh && have == names;
}

Status WritePem(const std::string& path, mode_t mode,
                const std::function<int(FILE*)>& write) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return InvalidArgumentError(path + ": cannot write");
  ::chmod(tmp.c_str(), mode);
  bool ok = write(f) == 1;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return InvalidArgumentError(path + ": cannot write");
  }
  return OkStatus();
}

}  // namespace

Result<std::pair<std::string, std::string>> EnsureSelfSignedCertificate(
    const std::string& cert_dir, const std::vector<std::string>& extra_names) {
  std::set<std::string> names{"localhost", "127.0.0.1", "::1"};
  names.insert(extra_names.begin(), extra_names.end());
  const std::string cert_path = cert_dir + "/apiserver.crt";
  const std::string key_path = cert_dir + "/apiserver.key";
  if (Reusable(cert_path, key_path, names)) {
    SEXTANT_LOG(INFO) << "reusing generated serving certificate " << cert_path;
    return std::make_pair(cert_path, key_path);
  }
  std::error_code ec;
  std::filesystem::create_directories(cert_dir, ec);
  if (ec) return InvalidArgumentError(cert_dir + ": cannot create: " + ec.message());

  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"),
                                                          EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) return InternalError("cannot generate a key pair");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(std::time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * kValidDays);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  std::string cn = "localhost@" + std::to_string(std::time(nullptr));
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  bool ok = AddExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE") &&
            AddExtension(cert.get(), NID_key_usage,
                         "critical,digitalSignature,keyEncipherment,keyCertSign") &&
            AddExtension(cert.get(), NID_ext_key_usage, "serverAuth") &&
            AddExtension(cert.get(), NID_subject_key_identifier, "hash") &&
            AddExtension(cert.get(), NID_subject_alt_name, SubjectAltNames(names)) &&
            X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) {
    ERR_clear_error();
    return InvalidArgumentError("cannot build a self-signed certificate for the names "
                                "given in --tls-sni-names");
  }
  SEXTANT_RETURN_IF_ERROR(WritePem(key_path, 0600, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }));
  SEXTANT_RETURN_IF_ERROR(
      WritePem(cert_path, 0644, [&](FILE* f) { return PEM_write_X509(f, cert.get()); }));
  SEXTANT_LOG(INFO) << "generated self-signed serving certificate " << cert_path << " for "
                    << SubjectAltNames(names);
  return std::make_pair(cert_path, key_path);
}

}  // namespace sextant::server
