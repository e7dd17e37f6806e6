#include "query/promql.h"

#include <array>
#include <cstdint>
#include <utility>

namespace sextant::query {
namespace {

constexpr char32_t kReplacementChar = 0xFFFD;  // what Go calls utf8.RuneError
constexpr char32_t kMaxRune = 0x10FFFF;
constexpr char kHexDigits[] = "0123456789abcdef";

// One step of UTF-8 decoding with Go's utf8.DecodeRuneInString results: a well-formed
// sequence gives its code point and length; anything else (a stray continuation byte, an
// overlong form, a surrogate, a value above U+10FFFF, a truncated sequence) gives
// valid == false and size 1.
struct DecodedRune {
  char32_t rune;
  size_t size;
  bool valid;
};

// REQUIRES: !s.empty().
DecodedRune DecodeRune(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c0 = b(0);
  if (c0 < 0x80) return {c0, 1, true};
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  char32_t value;
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    need = 2;
    value = c0 & 0x1F;
  } else if (c0 >= 0xE0 && c0 <= 0xEF) {
    need = 3;
    value = c0 & 0x0F;
    if (c0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (c0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    need = 4;
    value = c0 & 0x07;
    if (c0 == 0xF0) lo = 0x90;  // no overlong forms
    if (c0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {kReplacementChar, 1, false};
  }
  if (s.size() < need) return {kReplacementChar, 1, false};
  for (size_t i = 1; i < need; ++i) {
    const unsigned char c = b(i);
    const unsigned char min = i == 1 ? lo : 0x80;
    const unsigned char max = i == 1 ? hi : 0xBF;
    if (c < min || c > max) return {kReplacementChar, 1, false};
    value = (value << 6) | (c & 0x3F);
  }
  return {value, need, true};
}

// Appends `r` as UTF-8; surrogates and values above U+10FFFF become U+FFFD (as Go's
// utf8.EncodeRune does).
void AppendUtf8(char32_t r, std::string* out) {
  if (r > kMaxRune || (r >= 0xD800 && r <= 0xDFFF)) r = kReplacementChar;
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

void AppendHexByte(unsigned char c, std::string* out) {
  out->append("\\x");
  out->push_back(kHexDigits[c >> 4]);
  out->push_back(kHexDigits[c & 0xF]);
}

// The value of a hex digit, or 16 when `c` is none.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 16;
}

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) { return IsAsciiAlpha(c) || IsAsciiDigit(c) || c == '_'; }
bool IsPromqlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Words Prometheus' lexer turns into keywords, operators or numbers rather than a metric
// identifier (lex.go's `key` table, plus inf and nan), compared case-insensitively as the
// lexer does. Some are accepted as metric names by today's grammar, some are not, and the
// list grows between releases: none of them is ever rendered as a bare metric name.
bool IsPromqlKeyword(std::string_view word) {
  static constexpr std::array<std::string_view, 37> kKeywords = {
      "and",      "or",         "unless",       "atan2",    "sum",       "avg",
      "count",    "min",        "max",          "group",    "stddev",    "stdvar",
      "topk",     "bottomk",    "count_values", "quantile", "limitk",    "limit_ratio",
      "offset",   "smoothed",   "anchored",     "by",       "without",   "on",
      "ignoring", "group_left", "group_right",  "fill",     "fill_left", "fill_right",
      "bool",     "start",      "end",          "step",     "range",     "inf",
      "nan"};
  if (word.size() > 16) return false;
  std::string lower(word);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (std::string_view k : kKeywords) {
    if (lower == k) return true;
  }
  return false;
}

Status UnquoteError() { return InvalidArgumentError("invalid syntax"); }

}  // namespace

std::string QuotePromqlString(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < value.size()) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      const DecodedRune d = DecodeRune(value.substr(i));
      if (!d.valid) {
        AppendHexByte(c, &out);
      } else if (d.rune == kReplacementChar) {
        out.append("\\uFFFD");
      } else {
        out.append(value.substr(i, d.size));
      }
      i += d.size;
      continue;
    }
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '"':
        out.append("\\\"");
        break;
      case '\a':
        out.append("\\a");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\v':
        out.append("\\v");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          AppendHexByte(c, &out);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

Result<std::string> UnquotePromqlString(std::string_view literal) {
  const size_t n = literal.size();
  if (n < 2) return UnquoteError();
  const char quote = literal[0];
  if (literal[n - 1] != quote) return UnquoteError();
  std::string_view body = literal.substr(1, n - 2);

  if (quote == '`') {
    if (body.find('`') != std::string_view::npos) return UnquoteError();
    return std::string(body);
  }
  if (quote != '"' && quote != '\'') return UnquoteError();
  if (body.find('\n') != std::string_view::npos) return UnquoteError();
  // Nothing to decode: the bytes are the value, even when they are not valid UTF-8.
  if (body.find('\\') == std::string_view::npos && body.find(quote) == std::string_view::npos) {
    return std::string(body);
  }

  std::string out;
  out.reserve(body.size());
  size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (c == quote) return UnquoteError();  // an unescaped quote inside
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Decoded and re-encoded: invalid UTF-8 turns into U+FFFD here.
      const DecodedRune d = DecodeRune(body.substr(i));
      AppendUtf8(d.rune, &out);
      i += d.size;
      continue;
    }
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= body.size()) return UnquoteError();
    const char e = body[i + 1];
    i += 2;
    switch (e) {
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
      case '"':
        if (e != quote) return UnquoteError();
        out.push_back(e);
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (body.size() - i < digits) return UnquoteError();
        uint64_t v = 0;
        for (size_t j = 0; j < digits; ++j) {
          const int h = HexValue(body[i + j]);
          if (h > 15) return UnquoteError();
          v = (v << 4) | static_cast<uint64_t>(h);
        }
        i += digits;
        if (e == 'x') {
          out.push_back(static_cast<char>(v));  // one byte, possibly not UTF-8
        } else {
          if (v > kMaxRune) return UnquoteError();
          AppendUtf8(static_cast<char32_t>(v), &out);
        }
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        if (body.size() - i < 2) return UnquoteError();
        unsigned v = static_cast<unsigned>(e - '0');
        for (size_t j = 0; j < 2; ++j) {
          const char d = body[i + j];
          if (d < '0' || d > '7') return UnquoteError();
          v = (v << 3) | static_cast<unsigned>(d - '0');
        }
        i += 2;
        if (v > 255) return UnquoteError();
        out.push_back(static_cast<char>(v));
        break;
      }
      default:
        return UnquoteError();
    }
  }
  return out;
}

std::string QuoteRegexMeta(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (char c : s) {
    if (IsWordChar(c) || static_cast<unsigned char>(c) >= 0x80) {
      out.push_back(c);
    } else if (c == '\0') {
      out.append("\\x00");
    } else {
      out.push_back('\\');
      out.push_back(c);
    }
  }
  return out;
}

std::string JoinRegexAlternatives(const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back('|');
    out.append(QuoteRegexMeta(values[i]));
  }
  return out;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || IsAsciiDigit(name[0])) return false;
  for (char c : name) {
    if (!IsWordChar(c)) return false;
  }
  return true;
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || IsAsciiDigit(name[0])) return false;
  for (char c : name) {
    if (!IsWordChar(c) && c != ':') return false;
  }
  return true;
}

std::string SanitizeLabelName(std::string_view name) {
  if (name.empty()) return "_";
  std::string out;
  out.reserve(name.size() + 1);
  if (IsAsciiDigit(name[0])) out.push_back('_');
  size_t i = 0;
  while (i < name.size()) {
    const char c = name[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      out.push_back('_');
      i += DecodeRune(name.substr(i)).size;  // one '_' per character
      continue;
    }
    out.push_back(IsWordChar(c) ? c : '_');
    ++i;
  }
  return out;
}

std::string_view LabelMatcherOpString(LabelMatcher::Op op) {
  switch (op) {
    case LabelMatcher::Op::kEqual:
      return "=";
    case LabelMatcher::Op::kNotEqual:
      return "!=";
    case LabelMatcher::Op::kRegexMatch:
      return "=~";
    case LabelMatcher::Op::kRegexNoMatch:
      return "!~";
  }
  return "=";
}

std::string LabelMatcher::String() const {
  std::string out = IsValidLabelName(name) ? name : SanitizeLabelName(name);
  out.append(LabelMatcherOpString(op));
  out.append(QuotePromqlString(value));
  return out;
}

std::string RenderMatchers(const std::vector<LabelMatcher>& matchers) {
  std::string out;
  for (size_t i = 0; i < matchers.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(matchers[i].String());
  }
  return out;
}

std::string RenderSelector(std::string_view metric_name,
                           const std::vector<LabelMatcher>& matchers) {
  const bool bare = IsValidMetricName(metric_name) && !IsPromqlKeyword(metric_name);
  std::string out;
  if (bare) out.append(metric_name);
  out.push_back('{');
  if (!metric_name.empty() && !bare) {
    out.append("__name__=");
    out.append(QuotePromqlString(metric_name));
    if (!matchers.empty()) out.push_back(',');
  }
  out.append(RenderMatchers(matchers));
  out.push_back('}');
  return out;
}

// ---------------------------------------------------------------------------------------
// ParseVectorSelector: a hand-written recursive-descent parser for one selector.

namespace {

class SelectorParser {
 public:
  explicit SelectorParser(std::string_view in) : in_(in) {}

  Result<ParsedSelector> Parse() {
    ParsedSelector result;
    SkipSpace();
    if (!AtEnd() && (IsAsciiAlpha(Peek()) || Peek() == '_' || Peek() == ':')) {
      const size_t start = pos_;
      while (!AtEnd() && (IsWordChar(Peek()) || Peek() == ':')) ++pos_;
      std::string_view name = in_.substr(start, pos_ - start);
      if (IsPromqlKeyword(name)) {
        pos_ = start;
        return Error("keyword where a metric name was expected");
      }
      result.metric_name = std::string(name);
      SkipSpace();
    }
    if (AtEnd()) {
      if (result.metric_name.empty()) return Error("empty selector");
      return result;
    }
    if (Peek() != '{') return Error("expected '{'");
    ++pos_;
    while (true) {
      SkipSpace();
      if (AtEnd()) return Error("unexpected end of input inside braces");
      if (Peek() == '}') break;  // `{}`, or after a trailing comma
      LabelMatcher m;
      SEXTANT_RETURN_IF_ERROR(ParseMatcher(&m));
      result.matchers.push_back(std::move(m));
      SkipSpace();
      if (AtEnd()) return Error("unexpected end of input inside braces");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() != '}') return Error("expected ',' or '}'");
      break;
    }
    ++pos_;  // the '}'
    SkipSpace();
    if (!AtEnd()) return Error("unexpected text after the selector");
    if (result.metric_name.empty() && result.matchers.empty()) {
      return Error("vector selector must contain a metric name or a matcher");
    }
    if (!result.metric_name.empty()) {
      for (const LabelMatcher& m : result.matchers) {
        if (m.name == "__name__") return Error("metric name must not be set twice");
      }
    }
    return result;
  }

 private:
  bool AtEnd() const { return pos_ >= in_.size(); }
  char Peek() const { return in_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() && IsPromqlSpace(Peek())) ++pos_;
  }
  Status Error(std::string_view what) const {
    return InvalidArgumentError("vector selector: " + std::string(what) + " at offset " +
                                std::to_string(pos_));
  }

  Status ParseMatcher(LabelMatcher* m) {
    if (!IsAsciiAlpha(Peek()) && Peek() != '_') return Error("expected a label name");
    const size_t start = pos_;
    while (!AtEnd() && IsWordChar(Peek())) ++pos_;
    m->name = std::string(in_.substr(start, pos_ - start));
    SkipSpace();
    if (AtEnd()) return Error("expected a matcher operator");
    const char first = Peek();
    const char second = pos_ + 1 < in_.size() ? in_[pos_ + 1] : '\0';
    if (first == '=' && second == '~') {
      m->op = LabelMatcher::Op::kRegexMatch;
      pos_ += 2;
    } else if (first == '=') {
      m->op = LabelMatcher::Op::kEqual;
      pos_ += 1;
    } else if (first == '!' && second == '=') {
      m->op = LabelMatcher::Op::kNotEqual;
      pos_ += 2;
    } else if (first == '!' && second == '~') {
      m->op = LabelMatcher::Op::kRegexNoMatch;
      pos_ += 2;
    } else {
      return Error("expected a matcher operator");
    }
    SkipSpace();
    if (AtEnd() || (Peek() != '"' && Peek() != '\'' && Peek() != '`')) {
      return Error("expected a string");
    }
    return ParseString(&m->value);
  }

  // Scans the literal at pos_ with the checks of lex.go's lexString / lexRawString /
  // lexEscape, then decodes it with UnquotePromqlString.
  Status ParseString(std::string* value) {
    const size_t start = pos_;
    const char quote = Peek();
    ++pos_;
    while (true) {
      if (AtEnd()) return Error("unterminated string");
      const char c = Peek();
      if (c == quote) {
        ++pos_;
        break;
      }
      if (quote != '`' && c == '\n') return Error("unterminated string");
      if (quote != '`' && c == '\\') {
        SEXTANT_RETURN_IF_ERROR(CheckEscape(quote));
        continue;
      }
      const DecodedRune d = DecodeRune(in_.substr(pos_));
      // The lexer cannot tell U+FFFD from a decoding error and rejects both.
      if (!d.valid || d.rune == kReplacementChar) return Error("invalid UTF-8 rune");
      pos_ += d.size;
    }
    Result<std::string> decoded = UnquotePromqlString(in_.substr(start, pos_ - start));
    if (!decoded.ok()) {
      pos_ = start;
      return Error("invalid string literal");
    }
    *value = std::move(*decoded);
    return OkStatus();
  }

  // REQUIRES: Peek() == '\\'. Advances past the escape sequence.
  Status CheckEscape(char quote) {
    ++pos_;
    if (AtEnd()) return Error("escape sequence not terminated");
    const char e = Peek();
    ++pos_;
    struct {
      int digits;
      uint32_t base;
      uint32_t max;
    } form;
    switch (e) {
      case 'a':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
      case '\\':
        return OkStatus();
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
        --pos_;  // the first octal digit counts
        form = {3, 8, 255};
        break;
      case 'x':
        form = {2, 16, 255};
        break;
      case 'u':
        form = {4, 16, kMaxRune};
        break;
      case 'U':
        form = {8, 16, kMaxRune};
        break;
      default:
        if (e == quote) return OkStatus();
        return Error("unknown escape sequence");
    }
    uint64_t v = 0;
    for (int i = 0; i < form.digits; ++i) {
      if (AtEnd()) return Error("escape sequence not terminated");
      const uint32_t d = static_cast<uint32_t>(HexValue(Peek()));
      if (d >= form.base) return Error("illegal character in escape sequence");
      v = v * form.base + d;
      ++pos_;
    }
    if (v > form.max || (v >= 0xD800 && v < 0xE000)) {
      return Error("escape sequence is an invalid Unicode code point");
    }
    return OkStatus();
  }

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

Result<ParsedSelector> ParseVectorSelector(std::string_view text) {
  return SelectorParser(text).Parse();
}

}  // namespace sextant::query
