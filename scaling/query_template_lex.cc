// Lexer for QueryTemplate: Go text/template's lexer rules (text/template/parse/lex.go) with
// `<<` `>>` delimiters: text, actions, trim markers, comments and the tokens inside actions.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "scaling/query_template_internal.h"

namespace sextant::scaling::template_internal {
namespace {

constexpr std::string_view kLeft = "<<";
constexpr std::string_view kRight = ">>";

constexpr FieldSpec kMetricsQueryFields[] = {
    {"Series", Type::kString},  {"LabelMatchers", Type::kString}, {"LabelValuesByName", Type::kMap},
    {"GroupBy", Type::kString}, {"GroupBySlice", Type::kList},
};
constexpr FieldSpec kGroupResourceFields[] = {
    {"Group", Type::kString},
    {"Resource", Type::kString},
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool StartsAt(std::string_view s, std::size_t i, std::string_view what) {
  return i <= s.size() && s.substr(i).starts_with(what);
}
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
void AppendUtf8(uint32_t r, std::string* out) {
  if (r < 0x80) {
    out->push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (r >> 12)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (r >> 18)));
    out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

using TK = Token::Kind;

class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}
  bool Scan();
  std::vector<Piece>& pieces() { return pieces_; }
  const SyntaxProblem& problem() const { return problem_; }

 private:
  bool Fail(std::size_t offset, std::string message) {
    problem_ = {offset, std::move(message)};
    return false;
  }
  bool LexAction(std::size_t open, std::size_t p, Piece* piece, std::size_t* next, bool* trim_next);
  bool LexString(std::size_t* i, std::string* out);
  bool LexNumber(std::size_t* i, Token* token);

  std::string_view s_;
  std::vector<Piece> pieces_;
  SyntaxProblem problem_;
};

bool Lexer::Scan() {
  std::size_t pos = 0;
  bool trim_leading = false;
  while (true) {
    const std::size_t open = s_.find(kLeft, pos);
    const std::size_t text_end = open == std::string_view::npos ? s_.size() : open;
    std::size_t start = pos;
    if (trim_leading) {
      while (start < text_end && IsSpace(s_[start])) ++start;
    }
    const bool left_trim = open != std::string_view::npos && StartsAt(s_, open + 2, "-") &&
                           open + 3 < s_.size() && IsSpace(s_[open + 3]);
    std::size_t end = text_end;
    if (left_trim) {
      while (end > start && IsSpace(s_[end - 1])) --end;
    }
    if (end > start) {
      Piece text;
      text.offset = start;
      text.text = std::string(s_.substr(start, end - start));
      pieces_.push_back(std::move(text));
    }
    if (open == std::string_view::npos) return true;
    const std::size_t p = open + kLeft.size() + (left_trim ? 2 : 0);
    if (StartsAt(s_, p, "/*")) {
      const std::size_t close = s_.find("*/", p + 2);
      if (close == std::string_view::npos) return Fail(open, "unclosed comment");
      const std::size_t q = close + 2;
      if (q < s_.size() && IsSpace(s_[q]) && StartsAt(s_, q + 1, "-") &&
          StartsAt(s_, q + 2, kRight)) {
        trim_leading = true;
        pos = q + 2 + kRight.size();
      } else if (StartsAt(s_, q, kRight)) {
        trim_leading = false;
        pos = q + kRight.size();
      } else {
        return Fail(close, "comment ends before closing delimiter");
      }
      continue;
    }
    Piece action;
    action.is_action = true;
    action.offset = open;
    if (!LexAction(open, p, &action, &pos, &trim_leading)) return false;
    pieces_.push_back(std::move(action));
  }
}

bool Lexer::LexAction(std::size_t open, std::size_t p, Piece* piece, std::size_t* next,
                      bool* trim_next) {
  std::size_t i = p;
  bool space = false;
  std::vector<Token>& toks = piece->tokens;
  while (true) {
    if (i >= s_.size()) return Fail(open, "unclosed action");
    if (IsSpace(s_[i]) && StartsAt(s_, i + 1, "-") && StartsAt(s_, i + 2, kRight)) {
      toks.push_back({TK::kEnd, i, "", true});
      *next = i + 2 + kRight.size();
      *trim_next = true;
      return true;
    }
    if (StartsAt(s_, i, kRight)) {
      toks.push_back({TK::kEnd, i, "", space});
      *next = i + kRight.size();
      *trim_next = false;
      return true;
    }
    const char c = s_[i];
    if (IsSpace(c)) {
      ++i;
      space = true;
      continue;
    }
    Token t;
    t.offset = i;
    t.space_before = space;
    space = false;
    auto ident_end = [&](std::size_t j) {
      while (j < s_.size() && IsAlnum(s_[j])) ++j;
      return j;
    };
    if (c == '"' || c == '`') {
      t.kind = TK::kString;
      if (!LexString(&i, &t.text)) return false;
    } else if (c == '\'') {
      return Fail(i, "character constants are not supported");
    } else if (c == '$') {
      const std::size_t j = ident_end(i + 1);
      t.kind = TK::kVariable;
      t.text = std::string(s_.substr(i, j - i));
      i = j;
    } else if (c == '.' && i + 1 < s_.size() && IsDigit(s_[i + 1])) {
      return Fail(i, "floating-point constants are not supported");
    } else if (c == '.' && i + 1 < s_.size() && IsAlnum(s_[i + 1])) {
      const std::size_t j = ident_end(i + 1);
      t.kind = TK::kField;
      t.text = std::string(s_.substr(i + 1, j - i - 1));
      i = j;
    } else if (c == '.') {
      t.kind = TK::kDot;
      ++i;
    } else if (IsDigit(c) || ((c == '-' || c == '+') && i + 1 < s_.size() && IsDigit(s_[i + 1]))) {
      if (!LexNumber(&i, &t)) return false;
    } else if (IsAlnum(c)) {
      const std::size_t j = ident_end(i);
      t.text = std::string(s_.substr(i, j - i));
      t.kind = t.text == "true" || t.text == "false" ? TK::kBool
               : t.text == "nil"                     ? TK::kNil
                                                     : TK::kIdent;
      i = j;
    } else if (c == '(' || c == ')' || c == '|' || c == ',' || c == '=') {
      t.kind = c == '('   ? TK::kLParen
               : c == ')' ? TK::kRParen
               : c == '|' ? TK::kPipe
               : c == ',' ? TK::kComma
                          : TK::kAssign;
      t.text = std::string(1, c);
      ++i;
    } else if (c == ':' && StartsAt(s_, i + 1, "=")) {
      t.kind = TK::kDeclare;
      t.text = ":=";
      i += 2;
    } else {
      return Fail(i, std::string("unexpected character '") + c + "' in action");
    }
    toks.push_back(std::move(t));
  }
}

bool Lexer::LexString(std::size_t* i, std::string* out) {
  const std::size_t start = *i;
  if (s_[start] == '`') {
    const std::size_t close = s_.find('`', start + 1);
    if (close == std::string_view::npos) return Fail(start, "unterminated raw quoted string");
    for (char c : s_.substr(start + 1, close - start - 1)) {
      if (c != '\r') out->push_back(c);  // as strconv.Unquote does
    }
    *i = close + 1;
    return true;
  }
  std::size_t j = start + 1;
  while (true) {
    if (j >= s_.size() || s_[j] == '\n') return Fail(start, "unterminated quoted string");
    const char c = s_[j];
    if (c == '"') break;
    if (c != '\\') {
      out->push_back(c);
      ++j;
      continue;
    }
    if (j + 1 >= s_.size()) return Fail(start, "unterminated quoted string");
    const char e = s_[j + 1];
    static constexpr std::string_view kSimple = "abfnrtv\\\"";
    static constexpr std::string_view kValues = "\a\b\f\n\r\t\v\\\"";
    if (const std::size_t k = kSimple.find(e); k != std::string_view::npos) {
      out->push_back(kValues[k]);
      j += 2;
      continue;
    }
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : (e >= '0' && e <= '7') ? 3 : 0;
    if (digits == 0) return Fail(j, std::string("invalid escape \\") + e + " in string");
    const int base = e >= '0' && e <= '7' ? 8 : 16;
    const std::size_t first = base == 8 ? j + 1 : j + 2;
    uint32_t value = 0;
    for (int k = 0; k < digits; ++k) {
      const int d = first + k < s_.size() ? HexValue(s_[first + k]) : -1;
      if (d < 0 || d >= base) return Fail(j, "invalid escape in string");
      value = value * base + d;
    }
    if (e == 'x' || base == 8) {
      if (value > 255) return Fail(j, "octal escape value > 255 in string");
      out->push_back(static_cast<char>(value));
    } else {
      if (value > 0x10FFFF || (value >= 0xD800 && value < 0xE000)) {
        return Fail(j, "escape is not a valid Unicode code point");
      }
      AppendUtf8(value, out);
    }
    j = first + digits;
  }
  *i = j + 1;
  return true;
}

bool Lexer::LexNumber(std::size_t* i, Token* token) {
  std::size_t j = *i + 1;
  while (j < s_.size() &&
         (IsAlnum(s_[j]) || s_[j] == '.' ||
          ((s_[j] == '+' || s_[j] == '-') &&
           (s_[j - 1] == 'e' || s_[j - 1] == 'E' || s_[j - 1] == 'p' || s_[j - 1] == 'P')))) {
    ++j;
  }
  const std::string text(s_.substr(*i, j - *i));
  std::string_view digits = text;
  if (digits[0] == '-' || digits[0] == '+') digits.remove_prefix(1);
  bool decimal = !digits.empty();
  for (char c : digits) decimal = decimal && IsDigit(c);
  if (!decimal || (digits.size() > 1 && digits[0] == '0')) {
    return Fail(*i, "number " + text + " is not supported (decimal integers only)");
  }
  int64_t value = 0;
  const std::string_view parse = text[0] == '+' ? std::string_view(text).substr(1) : text;
  auto [end, ec] = std::from_chars(parse.data(), parse.data() + parse.size(), value);
  if (ec != std::errc() || end != parse.data() + parse.size()) {
    return Fail(*i, "number " + text + " overflows int");
  }
  token->kind = TK::kNumber;
  token->text = text;
  *i = j;
  return true;
}
}  // namespace

std::string TokenText(const Token& t) {
  switch (t.kind) {
    case TK::kEnd:
      return ">>";
    case TK::kField:
      return "." + t.text;
    case TK::kDot:
      return ".";
    case TK::kString:
      return "\"" + t.text + "\"";
    default:
      return t.text;
  }
}

bool LexTemplate(std::string_view text, std::vector<Piece>* pieces, SyntaxProblem* problem) {
  Lexer lexer(text);
  if (!lexer.Scan()) {
    *problem = lexer.problem();
    return false;
  }
  *pieces = std::move(lexer.pieces());
  return true;
}

const char* TypeName(Type t, TemplateData data) {
  switch (t) {
    case Type::kAny:
      return "interface {}";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kString:
      return "string";
    case Type::kList:
      return "[]string";
    case Type::kMap:
      return "map[string]string";
    case Type::kRoot:
      return RootTypeName(data);
  }
  return "?";
}

std::span<const FieldSpec> Schema(TemplateData data) {
  if (data == TemplateData::kGroupResource) return kGroupResourceFields;
  return kMetricsQueryFields;
}

const char* RootTypeName(TemplateData data) {
  return data == TemplateData::kGroupResource ? "schema.GroupResource" : "naming.queryTemplateArgs";
}

void Locate(std::string_view text, std::size_t offset, int* line, int* column) {
  offset = std::min(offset, text.size());
  *line = 1;
  std::size_t line_start = 0;
  for (std::size_t k = 0; k < offset; ++k) {
    if (text[k] == '\n') {
      ++*line;
      line_start = k + 1;
    }
  }
  *column = static_cast<int>(offset - line_start) + 1;
}

std::string DescribeOffset(std::string_view text, std::size_t offset) {
  int line = 0;
  int column = 0;
  Locate(text, offset, &line, &column);
  return "offset " + std::to_string(offset) + " (line " + std::to_string(line) + ", column " +
         std::to_string(column) + ")";
}

}  // namespace sextant::scaling::template_internal
