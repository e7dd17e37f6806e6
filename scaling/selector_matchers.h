// SelectorToMatchers: a Kubernetes label selector from an HPA request, as PromQL label
// matchers. This is the only road from client input into a query, so it is strict:
//
//   k=v, k==v   → k="v"             k!=v        → k!="v"
//   k in (a,b)  → k=~"a|b"          k notin (a) → k!~"a"       (each value regex-escaped)
//   k           → k!=""             !k          → k=""
//   k gt 1, k lt 1 → InvalidArgument: not supported for external metrics
// Values are written as PromQL string literals (query/promql.h), so no value can change a
// query's structure. Keys that are not Prometheus label names are mapped the documented way,
// each invalid character to '_' (app.kubernetes.io/name → app_kubernetes_io_name), as
// Prometheus' own relabelling and kube-state-metrics do.
// Also returns the values by label name of the = and in requirements, for templates'
// .LabelValuesByName.
// Thread safety: a pure function.
#ifndef SEXTANT_SCALING_SELECTOR_MATCHERS_H_
#define SEXTANT_SCALING_SELECTOR_MATCHERS_H_

#include <map>
#include <string>
#include <vector>

#include "apiserver/label_selector.h"
#include "common/result.h"
#include "query/promql.h"

namespace sextant::scaling {

struct SelectorMatchers {
  std::vector<query::LabelMatcher> matchers;
  std::map<std::string, std::vector<std::string>> values_by_name;
};

Result<SelectorMatchers> SelectorToMatchers(const apiserver::LabelSelector& selector);

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_SELECTOR_MATCHERS_H_
