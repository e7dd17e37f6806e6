#include "scaling/selector_matchers.h"

namespace sextant::scaling {

using apiserver::SelectorOperator;
using query::LabelMatcher;

Result<SelectorMatchers> SelectorToMatchers(const apiserver::LabelSelector& selector) {
  SelectorMatchers out;
  for (const apiserver::Requirement& r : selector.requirements()) {
    const std::string name = query::IsValidLabelName(r.key)
                                 ? r.key
                                 : query::SanitizeLabelName(r.key);
    switch (r.op) {
      case SelectorOperator::kEquals:
      case SelectorOperator::kDoubleEquals:
        out.matchers.push_back({name, LabelMatcher::Op::kEqual, r.values.at(0)});
        out.values_by_name[name].push_back(r.values.at(0));
        break;
      case SelectorOperator::kNotEquals:
        out.matchers.push_back({name, LabelMatcher::Op::kNotEqual, r.values.at(0)});
        break;
      case SelectorOperator::kIn:
        out.matchers.push_back(
            {name, LabelMatcher::Op::kRegexMatch, query::JoinRegexAlternatives(r.values)});
        for (const std::string& v : r.values) out.values_by_name[name].push_back(v);
        break;
      case SelectorOperator::kNotIn:
        out.matchers.push_back(
            {name, LabelMatcher::Op::kRegexNoMatch, query::JoinRegexAlternatives(r.values)});
        break;
      case SelectorOperator::kExists:
        out.matchers.push_back({name, LabelMatcher::Op::kNotEqual, ""});
        break;
      case SelectorOperator::kDoesNotExist:
        out.matchers.push_back({name, LabelMatcher::Op::kEqual, ""});
        break;
      case SelectorOperator::kGreaterThan:
      case SelectorOperator::kLessThan:
        return InvalidArgumentError("label selector operator \"" +
                                    std::string(apiserver::SelectorOperatorString(r.op)) +
                                    "\" (on key \"" + r.key +
                                    "\") is not supported for external metrics");
    }
  }
  return out;
}

}  // namespace sextant::scaling
