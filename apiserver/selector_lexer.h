// Internal to apiserver/: the tokens and the lexer of the Kubernetes label selector grammar
// (k8s.io/apimachinery pkg/labels), used by label_selector.cc and by its tests. Other code
// uses apiserver/label_selector.h.
//
// The lexer reproduces apimachinery's byte-wise scanner: whitespace is ' ', '\t', '\r', '\n';
// the special symbols are = ! ( ) , > <; every other run of bytes is an identifier, or the
// keyword `in` / `notin`. NUL bytes behave as upstream, whose reader returns 0 at the end: a
// NUL where a token would start ends the input; a NUL right after a word or operator ends
// that token and is skipped. Each token carries the byte offset where it starts.
//
// Ownership: SelectorLexer views the text it was given; the caller keeps that text alive
// while it lexes. Tokens own copies of their literals.
// Thread safety: a SelectorLexer is not thread-safe (it has a cursor); the free functions are
// pure.
// Errors: the lexer does not fail; a run of special symbols that is no operator becomes a
// Token::kError whose literal is upstream's message. BinaryOperatorFromToken fails with
// InvalidArgument and upstream's exact text (invalid UTF-8 in it replaced by U+FFFD).
#ifndef SEXTANT_APISERVER_SELECTOR_LEXER_H_
#define SEXTANT_APISERVER_SELECTOR_LEXER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/label_selector.h"
#include "common/result.h"

namespace sextant::apiserver::selector_internal {

// In the order of apimachinery's Token constants (ErrorToken = 0, ...).
enum class Token {
  kError,
  kEndOfString,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

// The Go constant's name, e.g. "IdentifierToken", "EndOfStringToken".
std::string_view TokenName(Token token);

struct ScannedToken {
  Token token = Token::kError;
  std::string literal;       // "" for kEndOfString
  std::size_t position = 0;  // byte offset of the token's first byte in the input
};

class SelectorLexer {
 public:
  explicit SelectorLexer(std::string_view text) : text_(text) {}

  // The next token; kEndOfString (again and again) once the input is used up.
  ScannedToken Next();

 private:
  // The byte at the cursor, advancing past it; '\0' (without advancing) at the end.
  // REQUIRES for StepBack(): the last Read() returned a byte other than '\0'.
  char Read();
  void StepBack() { --cursor_; }
  ScannedToken ScanWord(std::size_t start);
  ScannedToken ScanSymbols(std::size_t start);

  std::string_view text_;
  std::size_t cursor_ = 0;
};

// Every token of `text` up to and including the first kEndOfString (upstream Parser.scan).
std::vector<ScannedToken> ScanSelector(std::string_view text);

// The binary operator a token names (upstream parseOperator, which reads the token with
// `in` and `notin` as keywords). Anything else fails with
// "found '<literal>', expected: in, notin, =, ==, !=, gt, lt".
Result<SelectorOperator> BinaryOperatorFromToken(const ScannedToken& token);

}  // namespace sextant::apiserver::selector_internal

#endif  // SEXTANT_APISERVER_SELECTOR_LEXER_H_
