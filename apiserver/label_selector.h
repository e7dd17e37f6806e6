// LabelSelector: a Kubernetes label selector, parsed, printed and matched exactly as
// k8s.io/apimachinery pkg/labels does (labels.Parse, Selector.String, Selector.Matches).
//
// Grammar (the labelSelector query parameter; requirements are ANDed):
//   selector    ::= "" | requirement ("," requirement)*
//   requirement ::= ["!"] KEY | KEY ("=" | "==" | "!=") [VALUE] | KEY (">" | "<") INTEGER
//                 | KEY ("in" | "notin") "(" [VALUE] ("," [VALUE])* ")"
// KEY is a qualified name with an optional DNS-subdomain prefix ("example.com/app"); VALUE
// is empty or at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric (so "a.b" is a
// value, "x|y" and "*" are not); ">" and "<" take exactly one base-10 int64. Whitespace
// (' ', '\t', '\r', '\n') separates tokens. Parsing sorts requirements by key (stable) and
// the values of each requirement (byte-wise, de-duplicated), as upstream.
//
// Ownership: LabelSelector and Requirement are plain values; they own their strings and
// keep nothing of the text they were parsed from.
// Thread safety: values; const methods may be called concurrently, e.g. one parsed selector
// matched from many threads.
// Errors: parsing and validating never throw; they return InvalidArgument. The message is
// apimachinery's ("unable to parse requirement: found '(', expected: in, notin, =, ==, !=,
// gt, lt", "... Invalid value: \"x|y\": a valid label must be ...") followed by where the
// input went wrong: " (at position N)", N being the 0-based byte offset of the offending
// token, or " (at position N, the end of the selector)". Key errors name the field "key"
// where upstream prints "<nil>". Messages are valid UTF-8: quoted values use Go's escapes;
// other echoed input has invalid bytes replaced by U+FFFD, as kube-apiserver's clients see.
#ifndef SEXTANT_APISERVER_LABEL_SELECTOR_H_
#define SEXTANT_APISERVER_LABEL_SELECTOR_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace sextant::apiserver {

// A set of labels: key → value (labels.Set).
using Labels = std::map<std::string, std::string>;

enum class SelectorOperator {
  kDoesNotExist,
  kEquals,
  kDoubleEquals,
  kIn,
  kNotEquals,
  kNotIn,
  kExists,
  kGreaterThan,
  kLessThan,
};

// As k8s selection.Operator: "!", "=", "==", "in", "!=", "notin", "exists", "gt", "lt".
std::string_view SelectorOperatorString(SelectorOperator op);

// One clause of a selector. Build it with NewRequirement (or get it from Parse) to have it
// validated; a hand-built Requirement is used as it is.
struct Requirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kExists;
  // Sorted byte-wise and de-duplicated when made by Parse or NewRequirement.
  std::vector<std::string> values;

  // Requirement.String(): "!k", "k", "k=v", "k==v", "k!=v", "k>5", "k<5", "k in (a,b)",
  // "k notin (a,b)"; values printed sorted. A single empty In/NotIn value prints "k in ()".
  std::string String() const;

  // Requirement.Matches(): In/=/== need the key with one of the values; NotIn/!= match a
  // missing key or another value; Exists/DoesNotExist test the key; Gt/Lt need the key, a
  // base-10 int64 label value and exactly one int64 value, and compare strictly.
  bool Matches(const Labels& labels) const;

  bool operator==(const Requirement&) const = default;
};

// NewRequirement: validates the key (qualified name), the values (label values) and their
// count for the operator (In/NotIn: at least one; =, ==, !=, Gt, Lt: exactly one, an int64
// for Gt/Lt; Exists/DoesNotExist: none). All problems are reported in one InvalidArgument
// ("[a, b]" when several, as field.ErrorList.ToAggregate). The values are sorted and
// de-duplicated.
Result<Requirement> NewRequirement(std::string key, SelectorOperator op,
                                   std::vector<std::string> values);

// labels.Set.String(): "k=v" pairs sorted by key, joined by ','. Not validated.
std::string LabelsString(const Labels& labels);

class LabelSelector {
 public:
  // The selector that matches everything (as Everything()).
  LabelSelector() = default;

  // labels.Parse: parses the labelSelector query parameter. "" (or only whitespace) yields
  // the empty selector, which matches everything. Errors are InvalidArgument (see top).
  static Result<LabelSelector> Parse(std::string_view text);

  // labels.Everything(): no requirements; matches every label set.
  static LabelSelector Everything();

  // NewSelector().Add(requirements...): keeps the requirements as given (not re-validated)
  // and sorts them by key, stably.
  static LabelSelector FromRequirements(std::vector<Requirement> requirements);

  // labels.ValidatedSelectorFromSet: key=value for each label. Fails with InvalidArgument
  // listing every invalid key and value; an empty set yields the empty selector.
  static Result<LabelSelector> FromSet(const Labels& labels);

  // labels.ConvertSelectorToLabelsMap: the older, equality-only syntax "k=v,k2=v2" (spaces
  // around keys and values trimmed as Go's strings.TrimSpace; a repeated key keeps its last
  // value). "" yields an empty map. "!=", "==", "in" and bare keys are errors
  // ("invalid selector: [x y]"), as are invalid keys and values; errors say where, as Parse.
  static Result<Labels> ParseEqualityMap(std::string_view text);

  // Sorted by key (stable), like apimachinery's internalSelector.
  const std::vector<Requirement>& requirements() const { return requirements_; }

  // True when there are no requirements (the selector matches everything).
  bool Empty() const { return requirements_.empty(); }

  // True when every requirement matches `labels`.
  bool Matches(const Labels& labels) const;

  // Selector.String(): the requirements' strings joined by ','. Canonical: for a selector
  // made of validated requirements, Parse(String()) yields an equal selector.
  std::string String() const;

  bool operator==(const LabelSelector&) const = default;

 private:
  explicit LabelSelector(std::vector<Requirement> requirements)
      : requirements_(std::move(requirements)) {}

  std::vector<Requirement> requirements_;
};

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_LABEL_SELECTOR_H_
