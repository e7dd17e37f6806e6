#include "apiserver/label_selector.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "apiserver/label_validation.h"
#include "apiserver/selector_lexer.h"

namespace sextant::apiserver {
namespace {

using selector_internal::ScannedToken;
using selector_internal::Token;

// ----- Go text conventions that upstream's parsers follow -----------------------------------

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// The UTF-8 encodings of the non-ASCII runes Go's unicode.IsSpace accepts.
constexpr std::string_view kNonAsciiSpaces[] = {
    "\xC2\x85",     "\xC2\xA0",     "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81",
    "\xE2\x80\x82", "\xE2\x80\x83", "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86",
    "\xE2\x80\x87", "\xE2\x80\x88", "\xE2\x80\x89", "\xE2\x80\x8A", "\xE2\x80\xA8",
    "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80",
};

// The length of the white space (as Go's unicode.IsSpace) that starts / ends `s`, or 0.
std::size_t LeadingSpaceLength(std::string_view s) {
  if (!s.empty() && IsAsciiSpace(s.front())) return 1;
  for (std::string_view space : kNonAsciiSpaces) {
    if (s.starts_with(space)) return space.size();
  }
  return 0;
}
std::size_t TrailingSpaceLength(std::string_view s) {
  if (!s.empty() && IsAsciiSpace(s.back())) return 1;
  for (std::string_view space : kNonAsciiSpaces) {
    if (s.ends_with(space)) return space.size();
  }
  return 0;
}

// Go's strings.TrimSpace: drops leading and trailing Unicode white space.
std::string_view TrimGoSpace(std::string_view s) {
  while (std::size_t n = LeadingSpaceLength(s)) s.remove_prefix(n);
  while (std::size_t n = TrailingSpaceLength(s)) s.remove_suffix(n);
  return s;
}

// Go's strconv.ParseInt(s, 10, 64): optional sign, then base-10 digits only, in range.
std::optional<std::int64_t> ParseGoInt64(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t magnitude = 0;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), magnitude);
  if (error != std::errc() || end != s.data() + s.size()) return std::nullopt;
  const std::uint64_t limit =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + (negative ? 1 : 0);
  if (magnitude > limit) return std::nullopt;
  return static_cast<std::int64_t>(negative ? 0 - magnitude : magnitude);
}

// ----- Requirement validation (NewRequirement) ---------------------------------------------

struct Problem {
  std::string message;
  std::optional<std::size_t> value_index;  // the value it is about, if any
};

std::string QuotedList(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& value : values) quoted.push_back(GoQuote(value));
  return "[" + Join(quoted, ",") + "]";
}

std::optional<std::string> ValueCountProblem(SelectorOperator op, std::size_t count) {
  switch (op) {
    case SelectorOperator::kIn:
    case SelectorOperator::kNotIn:
      if (count == 0) return "for 'in', 'notin' operators, values set can't be empty";
      break;
    case SelectorOperator::kEquals:
    case SelectorOperator::kDoubleEquals:
    case SelectorOperator::kNotEquals:
      if (count != 1) return "exact-match compatibility requires one single value";
      break;
    case SelectorOperator::kExists:
    case SelectorOperator::kDoesNotExist:
      if (count != 0) return "values set must be empty for exists and does not exist";
      break;
    case SelectorOperator::kGreaterThan:
    case SelectorOperator::kLessThan:
      if (count != 1) return "for 'Gt', 'Lt' operators, exactly one value is required";
      break;
  }
  return std::nullopt;
}

// Every problem NewRequirement reports, in its order.
std::vector<Problem> RequirementProblems(const Requirement& r) {
  std::vector<Problem> problems;
  if (std::vector<std::string> errors = QualifiedNameErrors(r.key); !errors.empty()) {
    problems.push_back(
        {InvalidValueMessage("key", GoQuote(r.key), Join(errors, "; ")), std::nullopt});
  }
  if (std::optional<std::string> count = ValueCountProblem(r.op, r.values.size())) {
    problems.push_back({InvalidValueMessage("values", QuotedList(r.values), *count), std::nullopt});
  }
  const bool needs_integer =
      r.op == SelectorOperator::kGreaterThan || r.op == SelectorOperator::kLessThan;
  for (std::size_t i = 0; needs_integer && i < r.values.size(); ++i) {
    if (ParseGoInt64(r.values[i]).has_value()) continue;
    problems.push_back(
        {InvalidValueMessage("values[" + std::to_string(i) + "]", GoQuote(r.values[i]),
                             "for 'Gt', 'Lt' operators, the value must be an integer"),
         i});
  }
  for (std::size_t i = 0; i < r.values.size(); ++i) {
    std::vector<std::string> errors = LabelValueErrors(r.values[i]);
    if (errors.empty()) continue;
    const std::string field = "values[" + std::to_string(i) + "][" + ToValidUtf8(r.key) + "]";
    problems.push_back({InvalidValueMessage(field, GoQuote(r.values[i]), Join(errors, "; ")), i});
  }
  return problems;
}

// field.ErrorList.ToAggregate().Error(): one message alone, several as "[a, b]" (repeats
// dropped).
std::string AggregateMessage(const std::vector<Problem>& problems) {
  std::vector<std::string> messages;
  for (const Problem& problem : problems) {
    if (std::find(messages.begin(), messages.end(), problem.message) == messages.end()) {
      messages.push_back(problem.message);
    }
  }
  return messages.size() == 1 ? messages.front() : "[" + Join(messages, ", ") + "]";
}

void SortAndDeduplicate(std::vector<std::string>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

// " (at position N)", or with ", the end of the selector" when N is past the last byte.
std::string PositionSuffix(std::size_t position, std::size_t text_size) {
  std::string out = " (at position " + std::to_string(position);
  return out + (position >= text_size ? ", the end of the selector)" : ")");
}

// ----- The parser (upstream Parser: parse, parseRequirement, parseValues, ...) ---------------

// Where a value is expected, `in` and `notin` are plain words (upstream's Values context).
Token AsValue(Token token) {
  return token == Token::kIn || token == Token::kNotIn ? Token::kIdentifier : token;
}

bool StartsRequirement(const ScannedToken& token) {
  const Token kind = AsValue(token.token);
  return kind == Token::kIdentifier || kind == Token::kDoesNotExist;
}

std::string Found(const ScannedToken& token) {
  return "found '" + ToValidUtf8(token.literal) + "'";
}

class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : tokens_(selector_internal::ScanSelector(text)) {}

  // The requirements in input order, or the first error in upstream's words.
  Result<std::vector<Requirement>> ParseSelector();
  // The byte offset of what the last error is about.
  std::size_t error_position() const { return error_position_; }

 private:
  struct Value {
    std::string text;
    std::size_t position;
  };

  const ScannedToken& Peek() const { return tokens_[next_]; }
  // The next token; stays on the final kEndOfString.
  const ScannedToken& Take() {
    const ScannedToken& token = tokens_[next_];
    if (next_ + 1 < tokens_.size()) ++next_;
    return token;
  }
  Status Fail(std::size_t position, std::string message) {
    error_position_ = position;
    return InvalidArgumentError(std::move(message));
  }

  Result<Requirement> ParseRequirement();
  Result<std::vector<Value>> ParseValueSet();
  Result<std::vector<Value>> ParseValueList();
  Result<std::vector<Value>> ParseExactValue();
  Result<Requirement> BuildRequirement(const ScannedToken& key, SelectorOperator op,
                                       const std::vector<Value>& values);

  std::vector<ScannedToken> tokens_;  // ends with kEndOfString
  std::size_t next_ = 0;
  std::size_t error_position_ = 0;
};

Result<std::vector<Requirement>> SelectorParser::ParseSelector() {
  std::vector<Requirement> requirements;
  while (Peek().token != Token::kEndOfString) {
    if (!StartsRequirement(Peek())) {
      return Fail(Peek().position, Found(Peek()) + ", expected: !, identifier, or 'end of string'");
    }
    Result<Requirement> requirement = ParseRequirement();
    if (!requirement.ok()) {
      return InvalidArgumentError("unable to parse requirement: " + requirement.status().message());
    }
    requirements.push_back(*std::move(requirement));
    const ScannedToken& separator = Take();
    if (separator.token == Token::kEndOfString) break;
    if (separator.token != Token::kComma) {
      return Fail(separator.position, Found(separator) + ", expected: ',' or 'end of string'");
    }
    if (!StartsRequirement(Peek())) {
      return Fail(Peek().position, Found(Peek()) + ", expected: identifier after ','");
    }
  }
  return requirements;
}

// ["!"] KEY, then (unless negated or followed by ',' / the end) an operator and its values.
Result<Requirement> SelectorParser::ParseRequirement() {
  const ScannedToken* key = &Take();
  const bool negated = key->token == Token::kDoesNotExist;
  if (negated) key = &Take();
  if (AsValue(key->token) != Token::kIdentifier) {
    return Fail(key->position, Found(*key) + ", expected: identifier");
  }
  if (std::vector<std::string> errors = QualifiedNameErrors(key->literal); !errors.empty()) {
    return Fail(key->position,
                InvalidValueMessage("key", GoQuote(key->literal), Join(errors, "; ")));
  }
  if (negated) return BuildRequirement(*key, SelectorOperator::kDoesNotExist, {});
  const Token after_key = AsValue(Peek().token);
  if (after_key == Token::kEndOfString || after_key == Token::kComma) {
    return BuildRequirement(*key, SelectorOperator::kExists, {});
  }
  const ScannedToken& op_token = Take();
  Result<SelectorOperator> op = selector_internal::BinaryOperatorFromToken(op_token);
  if (!op.ok()) return Fail(op_token.position, op.status().message());
  const bool is_set = *op == SelectorOperator::kIn || *op == SelectorOperator::kNotIn;
  Result<std::vector<Value>> values = is_set ? ParseValueSet() : ParseExactValue();
  if (!values.ok()) return values.status();
  return BuildRequirement(*key, *op, *values);
}

// "(" then "" for "()", else a value list.
Result<std::vector<SelectorParser::Value>> SelectorParser::ParseValueSet() {
  const ScannedToken& open = Take();
  if (open.token != Token::kOpenPar) {
    return Fail(open.position, Found(open) + " expected: '('");
  }
  const ScannedToken& first = Peek();
  switch (AsValue(first.token)) {
    case Token::kClosedPar: Take(); return std::vector<Value>{{"", first.position}};
    case Token::kIdentifier:
    case Token::kComma: return ParseValueList();
    default: return Fail(first.position, Found(first) + ", expected: ',', ')' or identifier");
  }
}

// Comma-separated, possibly empty values through the closing ")": an empty slot (leading,
// doubled or trailing comma) is the value "". As current apimachinery (selector_test.go
// accepts "x in (a,,)"), the second of two commas is left for the next round; releases whose
// parser consumed it rejected an even run of commas before ")".
Result<std::vector<SelectorParser::Value>> SelectorParser::ParseValueList() {
  std::vector<Value> values;
  while (true) {
    const ScannedToken& token = Take();
    const Token kind = AsValue(token.token);
    if (kind != Token::kIdentifier && kind != Token::kComma) {
      return Fail(token.position, Found(token) + ", expected: ',', or identifier");
    }
    const ScannedToken& next = Peek();
    const Token next_kind = AsValue(next.token);
    if (kind == Token::kIdentifier) {
      values.push_back({token.literal, token.position});
      if (next_kind == Token::kComma) continue;
      if (next_kind != Token::kClosedPar) {
        return Fail(next.position, Found(next) + ", expected: ',' or ')'");
      }
      Take();
      return values;
    }
    if (values.empty()) values.push_back({"", token.position});
    if (next_kind == Token::kClosedPar) {
      values.push_back({"", next.position});
      Take();
      return values;
    }
    if (next_kind == Token::kComma) values.push_back({"", next.position});
  }
}

// The single value after =, ==, !=, > or <; "" when the requirement ends right there.
Result<std::vector<SelectorParser::Value>> SelectorParser::ParseExactValue() {
  const Token next_kind = AsValue(Peek().token);
  if (next_kind == Token::kEndOfString || next_kind == Token::kComma) {
    return std::vector<Value>{{"", Peek().position}};
  }
  const ScannedToken& token = Take();
  if (AsValue(token.token) != Token::kIdentifier) {
    return Fail(token.position, Found(token) + ", expected: identifier");
  }
  return std::vector<Value>{{token.literal, token.position}};
}

// NewRequirement on the parsed values; a failure points at the first offending value.
Result<Requirement> SelectorParser::BuildRequirement(const ScannedToken& key, SelectorOperator op,
                                                     const std::vector<Value>& values) {
  Requirement requirement{key.literal, op, {}};
  for (const Value& value : values) requirement.values.push_back(value.text);
  SortAndDeduplicate(requirement.values);
  const std::vector<Problem> problems = RequirementProblems(requirement);
  if (problems.empty()) return requirement;
  std::size_t position = key.position;
  if (const std::optional<std::size_t> index = problems.front().value_index) {
    const std::string& culprit = requirement.values[*index];
    position = std::find_if(values.begin(), values.end(), [&](const Value& v) {
                 return v.text == culprit;
               })->position;
  }
  return Fail(position, AggregateMessage(problems));
}

// One "k=v" piece of ConvertSelectorToLabelsMap's input; `text` is the whole input.
Status AddEqualityPair(std::string_view text, std::string_view piece, Labels& labels) {
  const auto offset_of = [&](std::string_view part) {
    return static_cast<std::size_t>(part.data() - text.data());
  };
  const std::size_t equals = piece.find('=');
  if (equals == std::string_view::npos || piece.find('=', equals + 1) != std::string_view::npos) {
    std::string parts = ToValidUtf8(piece);
    std::replace(parts.begin(), parts.end(), '=', ' ');  // how Go prints strings.Split's slice
    return InvalidArgumentError("invalid selector: [" + parts + "]" +
                                PositionSuffix(offset_of(piece), text.size()));
  }
  const std::string_view key = TrimGoSpace(piece.substr(0, equals));
  const std::string_view value = TrimGoSpace(piece.substr(equals + 1));
  if (std::vector<std::string> errors = QualifiedNameErrors(key); !errors.empty()) {
    return InvalidArgumentError(InvalidValueMessage("key", GoQuote(key), Join(errors, "; ")) +
                                PositionSuffix(offset_of(key), text.size()));
  }
  if (std::vector<std::string> errors = LabelValueErrors(value); !errors.empty()) {
    const std::string field = "[" + ToValidUtf8(key) + "]";
    return InvalidArgumentError(InvalidValueMessage(field, GoQuote(value), Join(errors, "; ")) +
                                PositionSuffix(offset_of(value), text.size()));
  }
  labels[std::string(key)] = std::string(value);
  return OkStatus();
}

bool SatisfiesInequality(SelectorOperator op, std::string_view label_value,
                         const std::vector<std::string>& values) {
  const std::optional<std::int64_t> actual = ParseGoInt64(label_value);
  if (!actual.has_value() || values.size() != 1) return false;
  const std::optional<std::int64_t> bound = ParseGoInt64(values.front());
  if (!bound.has_value()) return false;
  return op == SelectorOperator::kGreaterThan ? *actual > *bound : *actual < *bound;
}

}  // namespace

std::string_view SelectorOperatorString(SelectorOperator op) {
  switch (op) {
    case SelectorOperator::kDoesNotExist: return "!";
    case SelectorOperator::kEquals: return "=";
    case SelectorOperator::kDoubleEquals: return "==";
    case SelectorOperator::kIn: return "in";
    case SelectorOperator::kNotEquals: return "!=";
    case SelectorOperator::kNotIn: return "notin";
    case SelectorOperator::kExists: return "exists";
    case SelectorOperator::kGreaterThan: return "gt";
    case SelectorOperator::kLessThan: return "lt";
  }
  return "";
}

std::string Requirement::String() const {
  std::string out = op == SelectorOperator::kDoesNotExist ? "!" + key : key;
  std::string_view infix;
  switch (op) {
    case SelectorOperator::kExists:
    case SelectorOperator::kDoesNotExist: return out;
    case SelectorOperator::kEquals: infix = "="; break;
    case SelectorOperator::kDoubleEquals: infix = "=="; break;
    case SelectorOperator::kNotEquals: infix = "!="; break;
    case SelectorOperator::kGreaterThan: infix = ">"; break;
    case SelectorOperator::kLessThan: infix = "<"; break;
    case SelectorOperator::kIn: infix = " in ("; break;
    case SelectorOperator::kNotIn: infix = " notin ("; break;
  }
  std::vector<std::string> sorted = values;
  std::sort(sorted.begin(), sorted.end());  // printed sorted, duplicates kept (as upstream)
  out.append(infix).append(Join(sorted, ","));
  if (op == SelectorOperator::kIn || op == SelectorOperator::kNotIn) out += ")";
  return out;
}

bool Requirement::Matches(const Labels& labels) const {
  const auto found = labels.find(key);
  const bool has_key = found != labels.end();
  const auto has_value = [&] {
    return std::find(values.begin(), values.end(), found->second) != values.end();
  };
  switch (op) {
    case SelectorOperator::kIn:
    case SelectorOperator::kEquals:
    case SelectorOperator::kDoubleEquals: return has_key && has_value();
    case SelectorOperator::kNotIn:
    case SelectorOperator::kNotEquals: return !has_key || !has_value();
    case SelectorOperator::kExists: return has_key;
    case SelectorOperator::kDoesNotExist: return !has_key;
    case SelectorOperator::kGreaterThan:
    case SelectorOperator::kLessThan:
      return has_key && SatisfiesInequality(op, found->second, values);
  }
  return false;
}

Result<Requirement> NewRequirement(std::string key, SelectorOperator op,
                                   std::vector<std::string> values) {
  SortAndDeduplicate(values);
  Requirement requirement{std::move(key), op, std::move(values)};
  const std::vector<Problem> problems = RequirementProblems(requirement);
  if (!problems.empty()) return InvalidArgumentError(AggregateMessage(problems));
  return requirement;
}

std::string LabelsString(const Labels& labels) {
  std::vector<std::string> pairs;
  for (const auto& [key, value] : labels) pairs.push_back(key + "=" + value);
  return Join(pairs, ",");
}

Result<LabelSelector> LabelSelector::Parse(std::string_view text) {
  SelectorParser parser(text);
  Result<std::vector<Requirement>> requirements = parser.ParseSelector();
  if (!requirements.ok()) {
    return InvalidArgumentError(requirements.status().message() +
                                PositionSuffix(parser.error_position(), text.size()));
  }
  return FromRequirements(*std::move(requirements));
}

LabelSelector LabelSelector::Everything() { return LabelSelector(); }

LabelSelector LabelSelector::FromRequirements(std::vector<Requirement> requirements) {
  std::stable_sort(requirements.begin(), requirements.end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
  return LabelSelector(std::move(requirements));
}

Result<LabelSelector> LabelSelector::FromSet(const Labels& labels) {
  std::vector<Problem> problems;
  std::vector<Requirement> requirements;
  for (const auto& [key, value] : labels) {
    if (std::vector<std::string> errors = QualifiedNameErrors(key); !errors.empty()) {
      problems.push_back(
          {InvalidValueMessage("key", GoQuote(key), Join(errors, "; ")), std::nullopt});
    }
    if (std::vector<std::string> errors = LabelValueErrors(value); !errors.empty()) {
      problems.push_back({InvalidValueMessage("values[0][" + ToValidUtf8(key) + "]", GoQuote(value),
                                              Join(errors, "; ")),
                          std::nullopt});
    }
    requirements.push_back({key, SelectorOperator::kEquals, {value}});
  }
  if (!problems.empty()) return InvalidArgumentError(AggregateMessage(problems));
  return LabelSelector(std::move(requirements));  // a map iterates in key order
}

Result<Labels> LabelSelector::ParseEqualityMap(std::string_view text) {
  Labels labels;
  if (text.empty()) return labels;
  std::string_view rest = text;
  while (true) {
    const std::size_t comma = rest.find(',');
    SEXTANT_RETURN_IF_ERROR(AddEqualityPair(text, rest.substr(0, comma), labels));
    if (comma == std::string_view::npos) return labels;
    rest.remove_prefix(comma + 1);
  }
}

bool LabelSelector::Matches(const Labels& labels) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& r) { return r.Matches(labels); });
}

std::string LabelSelector::String() const {
  std::vector<std::string> parts;
  for (const Requirement& requirement : requirements_) parts.push_back(requirement.String());
  return Join(parts, ",");
}

}  // namespace sextant::apiserver
