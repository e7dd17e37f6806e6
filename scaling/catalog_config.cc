#include "scaling/catalog_config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>

#include "apiserver/label_validation.h"
#include "scaling/catalog.h"
#include "scaling/config_yaml.h"
#include "scaling/provider_util.h"

namespace sextant::scaling {
namespace {

std::string CatalogNames() {
  std::string names;
  for (const CatalogEntry& e : Catalog()) {
    if (!names.empty()) names += ", ";
    names += e.name;
  }
  return names;
}

Status ParseGpuHeadroom(const YamlDocument& doc, const YAML::Node& node, CatalogConfig* out) {
  static const std::set<std::string> kKeys = {"resource", "buffer"};
  return doc.ForEachKey(
      node, "catalog.gpuHeadroom", "catalog.gpuHeadroom", kKeys,
      [&](const std::string& name, const YAML::Node& k, const YAML::Node& v) -> Status {
        const std::string path = "catalog.gpuHeadroom." + name;
        if (name == "resource") {
          std::string resource = out->gpu_resource;
          SEXTANT_RETURN_IF_ERROR(doc.GetString(v, k, path, &resource));
          const std::vector<std::string> errors = apiserver::QualifiedNameErrors(resource);
          if (!errors.empty()) {
            return doc.Error(v, k, path, "is not a Kubernetes resource name: " + errors.front());
          }
          out->gpu_resource = resource;
          return OkStatus();
        }
        // buffer
        if (!v.IsDefined() || v.IsNull()) return OkStatus();
        const std::string text = v.IsScalar() ? v.Scalar() : "";
        int64_t buffer = -1;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), buffer);
        if (!v.IsScalar() || v.Tag() == "!" || ec != std::errc() ||
            end != text.data() + text.size() || buffer < 0 || buffer > 1000000) {
          return doc.Error(v, k, path, "must be a whole number of GPUs, 0 to 1000000");
        }
        out->gpu_buffer = buffer;
        return OkStatus();
      });
}

}  // namespace

bool CatalogConfig::Serves(const std::string& name) const {
  return enabled && disabled.count(Lower(name)) == 0;
}

std::string CatalogConfig::KubeStateResource() const {
  std::string out = gpu_resource;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  }
  return out;
}

Status ParseCatalog(const YamlDocument& doc, const YAML::Node& node, const YAML::Node& key,
                    CatalogConfig* out) {
  if (!node.IsDefined() || node.IsNull()) return OkStatus();
  // `catalog: []` was the reserved empty value of earlier versions: still the defaults.
  if (node.IsSequence() && node.size() == 0) return OkStatus();
  if (!node.IsMap()) return doc.Error(node, key, "catalog", "must be a mapping");
  static const std::set<std::string> kKeys = {"enabled", "disabled", "gpuHeadroom"};
  return doc.ForEachKey(
      node, "catalog", "catalog", kKeys,
      [&](const std::string& name, const YAML::Node& k, const YAML::Node& v) -> Status {
        const std::string path = "catalog." + name;
        if (name == "enabled") return doc.GetBool(v, k, path, &out->enabled);
        if (name == "gpuHeadroom") {
          if (!v.IsDefined() || v.IsNull()) return OkStatus();
          if (!v.IsMap()) return doc.Error(v, k, path, "must be a mapping");
          return ParseGpuHeadroom(doc, v, out);
        }
        // disabled
        return doc.ForEachItem(v, k, path, [&](const YAML::Node& item, const std::string& ipath) {
          std::string entry;
          SEXTANT_RETURN_IF_ERROR(doc.GetString(item, k, ipath, &entry));
          if (FindCatalogEntry(entry) == nullptr) {
            return doc.Error(item, k, ipath,
                             "\"" + entry + "\" is not a catalog entry; the catalog has: " +
                                 CatalogNames());
          }
          out->disabled.insert(Lower(entry));
          return OkStatus();
        });
      });
}

}  // namespace sextant::scaling
