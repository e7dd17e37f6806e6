// QueryTemplate: the part of Go's text/template that prometheus-adapter configs use, with
// prometheus-adapter's `<<` `>>` delimiters, so that `metricsQuery` and `resources.template`
// strings load unchanged and render byte for byte as the adapter renders them.
//
// prometheus-adapter compiles these with `template.New(..).Delims("<<", ">>").Parse(..)` and
// registers no functions of its own (pkg/naming/metrics_query.go, resource_converter.go): only
// Go's built-ins exist there. `join`, Sprig and friends are parse errors in the adapter too.
//
// Supported (Go semantics):
// - text; actions `<<pipeline>>`; comments `<</* ... */>>`; trim markers `<<- ` and ` ->>`.
// - operands: `.`, `.Field.Key` chains (struct fields, map keys), `$`, `$var.Field`,
//   `(pipeline).Field`, "interpreted" and `raw` strings, decimal integers, true, false, nil.
// - pipelines `a | f b` (the value goes in as the last argument); `$x := p`, `$x = p`.
// - `if`/`else if`/`else`, `with`/`else with`/`else`, `range` (lists, maps in key order;
//   `$v :=` and `$i, $v :=`; `else`; `break`, `continue`), `end`.
// - functions: and, or (short-circuit, return the deciding value), not, eq (any number of
//   alternatives), ne, lt, le, gt, ge, len, index, print, println, printf with the verbs
//   %s %d %v %q %% and no flags or widths.
// Rejected at Parse with InvalidArgument naming the construct and its offset: define,
// template, block, html, js, urlquery, call, slice, functions Go does not define (e.g. join),
// floating-point, char and non-decimal number literals, unknown fields of the data (Go would
// fail at execution; Sextant fails at load), ranging over a non-collection, wrong argument
// counts, and printf formats with other verbs, flags or widths.
//
// Values print as Go's fmt prints them for `{{.}}`: strings raw, []string as `[a b]`,
// map[string]string as `map[k1:v1 k2:v2]` (keys sorted), a missing map key as `<no value>`
// (but `index` of a missing key gives ""), a schema.GroupResource as `resource.group`.
// printf mistakes render as Go renders them (`%!d(string=x)`, `%!s(MISSING)`, ...).
//
// Ownership: a QueryTemplate owns its parsed form (shared, immutable) and is cheap to copy.
// Thread safety: immutable after Parse; Render() may run concurrently from many threads.
// Errors: Parse returns InvalidArgument "offset N (line L, column C): what"; the optional
// TemplateSyntaxError receives the same parts. Render returns InvalidArgument for failures
// Go would report at execution (index out of range, comparing a list, ...); it never throws.
#ifndef SEXTANT_SCALING_QUERY_TEMPLATE_H_
#define SEXTANT_SCALING_QUERY_TEMPLATE_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sextant::scaling {

namespace template_internal {
struct Tree;
}  // namespace template_internal

// The data a template is executed with; it decides which fields `.X` may name.
enum class TemplateData {
  // metricsQuery: .Series .LabelMatchers .LabelValuesByName .GroupBy .GroupBySlice
  kMetricsQuery,
  // resources.template: .Group .Resource (a schema.GroupResource)
  kGroupResource,
};

// prometheus-adapter's queryTemplateArgs (pkg/naming/metrics_query.go), field for field.
struct TemplateValues {
  std::string series;          // the series name, e.g. "http_requests_total"
  std::string label_matchers;  // comma-separated matchers, e.g. `pod=~"a|b",namespace="x"`
  // label -> its requested values joined by "|", e.g. {"pod": "a|b"} (map[string]string)
  std::map<std::string, std::string> label_values_by_name;
  std::string group_by;                     // comma-separated labels; "" for external rules
  std::vector<std::string> group_by_slice;  // the same as a list; empty for external rules
};

// schema.GroupResource as the adapter passes it to `resources.template`: the group with
// dots and dashes replaced by "_", the resource singular (e.g. {"apps", "deployment"}).
struct GroupResourceValues {
  std::string group;
  std::string resource;
};

struct TemplateSyntaxError {
  std::size_t offset = 0;  // byte offset into the template text
  int line = 1;            // 1-based, within the template text
  int column = 1;          // 1-based byte column within that line
  std::string message;     // what is wrong, without the position
};

class QueryTemplate {
 public:
  // The empty template: renders "" (for default-constructed rules).
  QueryTemplate();

  // Parses and checks `text` against the fields of `data`. On error, also fills `*error`
  // when given.
  static Result<QueryTemplate> Parse(std::string_view text,
                                     TemplateData data = TemplateData::kMetricsQuery,
                                     TemplateSyntaxError* error = nullptr);

  // REQUIRES: data() == kMetricsQuery (else Internal).
  Result<std::string> Render(const TemplateValues& values) const;
  // REQUIRES: data() == kGroupResource (else Internal).
  Result<std::string> Render(const GroupResourceValues& values) const;

  const std::string& text() const;
  TemplateData data() const;

 private:
  explicit QueryTemplate(std::shared_ptr<const template_internal::Tree> tree);
  std::shared_ptr<const template_internal::Tree> tree_;
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_QUERY_TEMPLATE_H_
