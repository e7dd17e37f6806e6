#include "apiserver/selector_lexer.h"

#include <optional>
#include <utility>

#include "apiserver/label_validation.h"

namespace sextant::apiserver::selector_internal {
namespace {

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsSpecialSymbol(char c) {
  switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<': return true;
    default: return false;
  }
}

// The token a literal spells on its own (upstream string2token), if any.
std::optional<Token> KeywordOrSymbol(std::string_view literal) {
  static constexpr std::pair<std::string_view, Token> kTable[] = {
      {")", Token::kClosedPar},     {",", Token::kComma},    {"!", Token::kDoesNotExist},
      {"==", Token::kDoubleEquals}, {"=", Token::kEquals},   {">", Token::kGreaterThan},
      {"in", Token::kIn},           {"<", Token::kLessThan}, {"!=", Token::kNotEquals},
      {"notin", Token::kNotIn},     {"(", Token::kOpenPar},
  };
  for (const auto& [spelling, token] : kTable) {
    if (spelling == literal) return token;
  }
  return std::nullopt;
}

}  // namespace

std::string_view TokenName(Token token) {
  switch (token) {
    case Token::kError: return "ErrorToken";
    case Token::kEndOfString: return "EndOfStringToken";
    case Token::kClosedPar: return "ClosedParToken";
    case Token::kComma: return "CommaToken";
    case Token::kDoesNotExist: return "DoesNotExistToken";
    case Token::kDoubleEquals: return "DoubleEqualsToken";
    case Token::kEquals: return "EqualsToken";
    case Token::kGreaterThan: return "GreaterThanToken";
    case Token::kIdentifier: return "IdentifierToken";
    case Token::kIn: return "InToken";
    case Token::kLessThan: return "LessThanToken";
    case Token::kNotEquals: return "NotEqualsToken";
    case Token::kNotIn: return "NotInToken";
    case Token::kOpenPar: return "OpenParToken";
  }
  return "UnknownToken";
}

char SelectorLexer::Read() {
  if (cursor_ >= text_.size()) return '\0';
  return text_[cursor_++];
}

ScannedToken SelectorLexer::Next() {
  std::size_t start = cursor_;
  char c = Read();
  while (IsWhitespace(c)) {
    start = cursor_;
    c = Read();
  }
  if (c == '\0') return {Token::kEndOfString, "", start};
  StepBack();
  return IsSpecialSymbol(c) ? ScanSymbols(start) : ScanWord(start);
}

ScannedToken SelectorLexer::ScanWord(std::size_t start) {
  std::string word;
  for (char c = Read(); c != '\0'; c = Read()) {
    if (IsSpecialSymbol(c) || IsWhitespace(c)) {
      StepBack();
      break;
    }
    word.push_back(c);
  }
  const Token token = KeywordOrSymbol(word).value_or(Token::kIdentifier);
  return {token, std::move(word), start};
}

// The longest run of special symbols that spells an operator, extended one byte at a time
// for as long as the longer run still spells one.
ScannedToken SelectorLexer::ScanSymbols(std::size_t start) {
  std::string run;
  std::optional<ScannedToken> longest;
  for (char c = Read(); c != '\0'; c = Read()) {
    if (!IsSpecialSymbol(c)) {
      StepBack();
      break;
    }
    run.push_back(c);
    if (std::optional<Token> token = KeywordOrSymbol(run)) {
      longest = ScannedToken{*token, run, start};
    } else if (longest.has_value()) {
      StepBack();
      break;
    }
  }
  if (!longest.has_value()) {
    return {Token::kError, "error expected: keyword found '" + run + "'", start};
  }
  return *std::move(longest);
}

std::vector<ScannedToken> ScanSelector(std::string_view text) {
  SelectorLexer lexer(text);
  std::vector<ScannedToken> tokens;
  do {
    tokens.push_back(lexer.Next());
  } while (tokens.back().token != Token::kEndOfString);
  return tokens;
}

Result<SelectorOperator> BinaryOperatorFromToken(const ScannedToken& token) {
  switch (token.token) {
    case Token::kIn: return SelectorOperator::kIn;
    case Token::kNotIn: return SelectorOperator::kNotIn;
    case Token::kEquals: return SelectorOperator::kEquals;
    case Token::kDoubleEquals: return SelectorOperator::kDoubleEquals;
    case Token::kNotEquals: return SelectorOperator::kNotEquals;
    case Token::kGreaterThan: return SelectorOperator::kGreaterThan;
    case Token::kLessThan: return SelectorOperator::kLessThan;
    default:
      return InvalidArgumentError("found '" + ToValidUtf8(token.literal) +
                                  "', expected: in, notin, =, ==, !=, gt, lt");
  }
}

}  // namespace sextant::apiserver::selector_internal
