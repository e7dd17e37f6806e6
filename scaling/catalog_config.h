// CatalogConfig: the config file's `catalog:` section, which turns entries of the built-in
// catalog (scaling/catalog.h) off and sets the Karpenter headroom's parameters:
//
//   catalog:
//     enabled: true                # Default: true. false turns every entry off
//     disabled: [tgi-batch-size]   # Default: none. Entries turned off, by name
//                                  # (case-insensitive; a name the catalog lacks is an error)
//     gpuHeadroom:
//       resource: nvidia.com/gpu   # Default: nvidia.com/gpu. The extended resource counted by
//                                  # gpu-pending-demand and gpu-headroom-deficit
//       buffer: 2                  # Default: 0. GPUs of warm headroom the deficit adds: a
//                                  # non-negative integer
//
// Errors: InvalidArgument "file:line:col: catalog.key: what" for unknown or duplicate keys,
// wrong types, an unknown entry name (the message lists the catalog's names), a resource that
// is not a Kubernetes resource name, and a negative or fractional buffer. Nothing throws.
// Ownership: plain values. Thread safety: immutable after loading.
#ifndef SEXTANT_SCALING_CATALOG_CONFIG_H_
#define SEXTANT_SCALING_CATALOG_CONFIG_H_

#include <set>
#include <string>

#include "common/result.h"

namespace YAML {
class Node;
}  // namespace YAML

namespace sextant::scaling {

class YamlDocument;

struct CatalogConfig {
  bool enabled = true;             // Default: true
  std::set<std::string> disabled;  // lowercased entry names. Default: none
  std::string gpu_resource = "nvidia.com/gpu";  // Default: nvidia.com/gpu
  int64_t gpu_buffer = 0;                        // Default: 0

  // Whether the entry named `name` (as the catalog spells it) is served.
  bool Serves(const std::string& name) const;
  // The resource as kube-state-metrics labels it: every character outside [a-zA-Z0-9_]
  // becomes '_' (nvidia.com/gpu -> nvidia_com_gpu).
  std::string KubeStateResource() const;
};

// Parses the value of the top-level `catalog:` key (`node`, at `key`) into `out`; null, `{}`
// and `[]` (what earlier versions accepted) leave the defaults. Used by scaling/adapter_config.cc.
Status ParseCatalog(const YamlDocument& doc, const YAML::Node& node, const YAML::Node& key,
                    CatalogConfig* out);

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_CATALOG_CONFIG_H_
