// PromQL building blocks that keep a query's structure out of the caller's hands.
//
// Everything a client sends (label values from an HPA's selector, names derived from label
// keys) reaches a query only through these functions: values become string literals that
// Prometheus decodes back to exactly the same bytes, regex values are escaped so they match
// only themselves, and names that are not valid identifiers are never emitted raw. No input
// can close a brace, end a string or add an operator. This file knows nothing of Kubernetes.
//
// Semantics follow Prometheus: string literals as util/strutil.Unquote and the lexer in
// promql/parser/lex.go; regex escaping as RE2's QuoteMeta (Prometheus regexes are RE2
// syntax, fully anchored).
//
// Thread safety: free functions and plain values; no shared state.
// Errors: Result<T> with InvalidArgument; nothing throws.
#ifndef SEXTANT_QUERY_PROMQL_H_
#define SEXTANT_QUERY_PROMQL_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sextant::query {

// A double-quoted PromQL string literal that Prometheus' lexer accepts and strutil.Unquote
// decodes to exactly `value`, for any bytes. Escaped: `\` and `"`, the control characters
// (\a \b \f \n \r \t \v by name, the others and DEL as \xHH), every byte that is not part of
// valid UTF-8 (\xHH, one per byte) and U+FFFD (as \uFFFD: the lexer rejects it raw, because
// it cannot tell it from a decoding error). Other valid UTF-8 is kept as is.
// Example: `a"b\` -> `"a\"b\\"`.
std::string QuotePromqlString(std::string_view value);

// The value of a PromQL string literal (including its quotes), with the semantics of
// Prometheus' strutil.Unquote: '...' and "..." with the escapes \a \b \f \n \r \t \v \\,
// the literal's own quote, \NNN (octal, <= 255), \xHH (a raw byte), \uHHHH and
// \UHHHHHHHH (<= 0x10FFFF, encoded as UTF-8); no raw newline. `...` takes no escapes, may
// span lines and cannot contain a backtick. Like Unquote (and unlike the lexer) it accepts
// surrogate escapes (they decode to U+FFFD) and replaces raw invalid UTF-8 with U+FFFD when
// the literal contains an escape or a quote.
// Errors: InvalidArgument "invalid syntax".
Result<std::string> UnquotePromqlString(std::string_view literal);

// `s` as a regex that matches exactly `s` (RE2 QuoteMeta): every byte except [A-Za-z0-9_]
// and bytes >= 0x80 is preceded by `\`; NUL becomes `\x00`. Example: `1.5-2.0?` ->
// `1\.5\-2\.0\?`. Prometheus compiles regexes with Go's regexp, which rejects patterns that
// are not valid UTF-8: a value with invalid UTF-8 can be matched with = / != only.
std::string QuoteRegexMeta(std::string_view s);

// "v1|v2|..." of QuoteRegexMeta(v) for each value, in order: with =~ it matches exactly the
// listed values (a selector's `in (a.b, c|d)`), with !~ everything else. An empty value
// contributes an empty alternative (it matches ""). No values yields "", which matches only
// the empty string: callers decide what an empty set means before rendering.
std::string JoinRegexAlternatives(const std::vector<std::string>& values);

// [a-zA-Z_][a-zA-Z0-9_]*
bool IsValidLabelName(std::string_view name);

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);

// A valid label name derived from `name`: each character outside [a-zA-Z0-9_] becomes one
// '_' (a multi-byte UTF-8 character is one character; a byte that is not valid UTF-8 is
// one character too), a leading digit gets a '_' prefix, and "" becomes "_".
// Examples: app.kubernetes.io/name -> app_kubernetes_io_name, 9lives -> _9lives,
// héllo -> h_llo. Different names can map to the same result (a-b and a.b -> a_b).
std::string SanitizeLabelName(std::string_view name);

// One label matcher of a vector selector, e.g. job=~"api|web".
struct LabelMatcher {
  std::string name;
  enum class Op { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch } op = Op::kEqual;
  std::string value;  // the unquoted value; for regex ops, the regex itself

  // name op "quoted value", e.g. `job!~"a\\.b"`. A name that is not a valid label name is
  // rendered as SanitizeLabelName(name): callers should validate names first, but no name
  // can change the selector's structure.
  std::string String() const;

  bool operator==(const LabelMatcher&) const = default;
};

// "=", "!=", "=~" or "!~".
std::string_view LabelMatcherOpString(LabelMatcher::Op op);

// The matchers' String()s joined by ',' without braces, e.g. `a="x",b!~"y|z"`.
std::string RenderMatchers(const std::vector<LabelMatcher>& matchers);

// `metric_name{matchers}`. When metric_name is not a valid metric name, or is a PromQL
// keyword that cannot stand as one (or, sum, bool, inf, ...), it is rendered as a leading
// `__name__="..."` matcher instead; an empty metric_name renders only the braces.
// REQUIRES: metric_name or matchers non-empty (`{}` is not a valid selector; Prometheus
// rejects it, it cannot do harm).
std::string RenderSelector(std::string_view metric_name, const std::vector<LabelMatcher>& matchers);

// A vector selector as written: `name{...}` gives metric_name "name"; `{__name__="x"}` gives
// an empty metric_name and a __name__ matcher.
struct ParsedSelector {
  std::string metric_name;
  std::vector<LabelMatcher> matchers;
};

// Parses exactly one PromQL vector selector: an optional metric name (not a keyword),
// optional braces holding `label op string` matchers separated by commas (a trailing comma
// is allowed), with spaces, tabs, CR and LF around tokens, and strings in any of the three
// quote styles, checked as Prometheus' lexer checks them (no raw invalid UTF-8 or U+FFFD, no
// surrogate escapes). Anything else is an error: text after the selector, a second brace,
// operators, range/offset/@ modifiers, comments, quoted label names, `{}`, and a metric name
// given both before the braces and as __name__. It checks structure only: it does not
// compile regexes or require a matcher that does not match "".
// Errors: InvalidArgument naming the byte offset of the problem.
Result<ParsedSelector> ParseVectorSelector(std::string_view text);

}  // namespace sextant::query

#endif  // SEXTANT_QUERY_PROMQL_H_
