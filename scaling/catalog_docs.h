// The catalog's documentation, generated from the table (scaling/catalog.h) so that it cannot
// drift: the PromQL each entry's value equals, and the README's catalog table, which
// `sextant catalog` prints and a test compares with README.md.
// Thread safety: pure functions.
#ifndef SEXTANT_SCALING_CATALOG_DOCS_H_
#define SEXTANT_SCALING_CATALOG_DOCS_H_

#include <string>

#include "scaling/catalog.h"
#include "scaling/catalog_config.h"

namespace sextant::scaling {

// The PromQL whose value at t equals the entry's for a request in namespace `ns` with an empty
// selector (scaling/catalog_eval.h), with the config's GPU resource and buffer, e.g.
// `sum(avg_over_time(vllm:num_requests_waiting{namespace="NS"}[1m]))`. Selector keys narrow
// the series as scaling/catalog_request.h says; they are not shown.
std::string CatalogPromql(const CatalogEntry& entry, const CatalogConfig& config,
                          const std::string& ns);

// The selector keys matched against series labels, e.g. "job, instance, pod, container,
// model_name, engine"; "every key" for the Neuron family.
std::string CatalogSeriesKeys(const CatalogEntry& entry);

// The README's catalog tables in Markdown, one per family, each row: name, unit, HPA target
// type and typical target, selector keys, PromQL (for namespace "NS" and the default config).
std::string CatalogMarkdown();

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_CATALOG_DOCS_H_
