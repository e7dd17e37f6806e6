#include "apiserver/label_validation.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>

namespace sextant::apiserver {
namespace {

struct Rune {
  char32_t value;
  std::size_t length;  // bytes
};

// The code point that starts `s`, if `s` starts with well-formed UTF-8 (no overlong forms,
// surrogates or values above U+10FFFF, as Go's decoder).
std::optional<Rune> DecodeUtf8(std::string_view s) {
  const auto lead = static_cast<unsigned char>(s.front());
  std::size_t length = 4;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
  } else if (lead < 0xF0 || lead > 0xF4) {
    return std::nullopt;
  }
  if (s.size() < length) return std::nullopt;
  char32_t value = lead & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(s[i]);
    if ((byte & 0xC0) != 0x80) return std::nullopt;
    value = (value << 6) | (byte & 0x3F);
  }
  static constexpr char32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  const bool surrogate = value >= 0xD800 && value <= 0xDFFF;
  if (value < kSmallest[length] || value > 0x10FFFF || surrogate) return std::nullopt;
  return Rune{value, length};
}

// The byte length of the well-formed UTF-8 character that starts `s`, or 0.
std::size_t CharacterLength(std::string_view s) {
  if (static_cast<unsigned char>(s.front()) < 0x80) return 1;
  const std::optional<Rune> rune = DecodeUtf8(s);
  return rune.has_value() ? rune->length : 0;
}

// Go's unicode.IsSpace beyond ASCII: U+0085, U+00A0 and the White_Space property.
bool IsNonAsciiSpace(char32_t rune) {
  return rune == 0x85 || rune == 0xA0 || rune == 0x1680 || (rune >= 0x2000 && rune <= 0x200A) ||
         rune == 0x2028 || rune == 0x2029 || rune == 0x202F || rune == 0x205F || rune == 0x3000;
}

// Runes Go's %q escapes although they decode: controls, non-ASCII spaces, and the common
// invisible format characters (an approximation of !unicode.IsPrint).
bool IsInvisibleRune(char32_t rune) {
  return rune < 0xA0 || IsNonAsciiSpace(rune) || rune == 0xAD ||
         (rune >= 0x200B && rune <= 0x200F) || (rune >= 0x202A && rune <= 0x202E) ||
         (rune >= 0x2060 && rune <= 0x206F) || rune == 0xFEFF;
}

void AppendHex(std::string& out, std::string_view prefix, std::uint32_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

void AppendQuotedAscii(std::string& out, char c) {
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\v': out += "\\v"; return;
    default: break;
  }
  if (c < 0x20 || c == 0x7F) {
    AppendHex(out, "\\x", static_cast<unsigned char>(c), 2);
  } else {
    out += c;
  }
}

constexpr std::string_view kQualifiedNameFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedNameMessage =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr std::size_t kQualifiedNameMaxLength = 63;
constexpr std::string_view kLabelValueFormat = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr std::string_view kLabelValueMessage =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";
constexpr std::size_t kLabelValueMaxLength = 63;
constexpr std::string_view kDnsSubdomainFormat =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kDnsSubdomainMessage =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";
constexpr std::size_t kDnsSubdomainMaxLength = 253;

std::string MaxLengthError(std::size_t length) {
  return "must be no more than " + std::to_string(length) + " characters";
}

// validation.RegexError, including its "'a',  or 'b', " spacing.
std::string RegexError(std::string_view message, std::string_view format,
                       std::initializer_list<std::string_view> examples) {
  std::string out(message);
  out += " (e.g. ";
  bool first = true;
  for (std::string_view example : examples) {
    if (!first) out += " or ";
    first = false;
    out.append("'").append(example).append("', ");
  }
  return out.append("regex used for validation is '").append(format).append("')");
}

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool MatchesQualifiedNameFormat(std::string_view s) {
  if (s.empty() || !IsAsciiAlnum(s.front()) || !IsAsciiAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAsciiAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool MatchesDnsLabelFormat(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

// Labels in the DNS label format, joined by '.'.
bool MatchesDnsSubdomainFormat(std::string_view s) {
  for (std::size_t dot = s.find('.'); dot != std::string_view::npos; dot = s.find('.')) {
    if (!MatchesDnsLabelFormat(s.substr(0, dot))) return false;
    s.remove_prefix(dot + 1);
  }
  return MatchesDnsLabelFormat(s);
}

std::string QualifiedNameRegexError() {
  return RegexError(kQualifiedNameMessage, kQualifiedNameFormat, {"MyName", "my.name", "123-abc"});
}

}  // namespace

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      AppendQuotedAscii(out, s[i++]);
      continue;
    }
    const std::optional<Rune> rune = DecodeUtf8(s.substr(i));
    if (!rune.has_value()) {
      AppendHex(out, "\\x", static_cast<unsigned char>(s[i++]), 2);
    } else if (IsInvisibleRune(rune->value)) {
      const bool wide = rune->value > 0xFFFF;
      AppendHex(out, wide ? "\\U" : "\\u", rune->value, wide ? 8 : 4);
      i += rune->length;
    } else {
      out += s.substr(i, rune->length);
      i += rune->length;
    }
  }
  return out + "\"";
}

std::string ToValidUtf8(std::string_view s) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  while (!s.empty()) {
    const std::size_t length = CharacterLength(s);
    out += length == 0 ? kReplacement : s.substr(0, length);
    s.remove_prefix(std::max<std::size_t>(length, 1));
  }
  return out;
}

std::vector<std::string> DnsSubdomainErrors(std::string_view value) {
  std::vector<std::string> errors;
  if (value.size() > kDnsSubdomainMaxLength) {
    errors.push_back(MaxLengthError(kDnsSubdomainMaxLength));
  }
  if (!MatchesDnsSubdomainFormat(value)) {
    errors.push_back(RegexError(kDnsSubdomainMessage, kDnsSubdomainFormat, {"example.com"}));
  }
  return errors;
}

std::vector<std::string> QualifiedNameErrors(std::string_view value) {
  std::vector<std::string> errors;
  std::string_view name = value;
  if (const std::size_t slash = value.find('/'); slash != std::string_view::npos) {
    if (value.find('/', slash + 1) != std::string_view::npos) {
      return {"a qualified name " + QualifiedNameRegexError() +
              " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"};
    }
    const std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) errors.push_back("prefix part must be non-empty");
    for (const std::string& error :
         prefix.empty() ? std::vector<std::string>{} : DnsSubdomainErrors(prefix)) {
      errors.push_back("prefix part " + error);
    }
  }
  if (name.empty()) {
    errors.push_back("name part must be non-empty");
  } else if (name.size() > kQualifiedNameMaxLength) {
    errors.push_back("name part " + MaxLengthError(kQualifiedNameMaxLength));
  }
  if (!MatchesQualifiedNameFormat(name)) errors.push_back("name part " + QualifiedNameRegexError());
  return errors;
}

std::vector<std::string> LabelValueErrors(std::string_view value) {
  std::vector<std::string> errors;
  if (value.size() > kLabelValueMaxLength) errors.push_back(MaxLengthError(kLabelValueMaxLength));
  if (!value.empty() && !MatchesQualifiedNameFormat(value)) {
    errors.push_back(
        RegexError(kLabelValueMessage, kLabelValueFormat, {"MyValue", "my_value", "12345"}));
  }
  return errors;
}

std::string InvalidValueMessage(std::string_view field, std::string_view rendered_value,
                                std::string_view detail) {
  std::string out(field);
  return out.append(": Invalid value: ").append(rendered_value).append(": ").append(detail);
}

bool IsValidNamespaceName(std::string_view value) {
  if (value.empty() || value.size() > 63) return false;
  for (char c : value) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return value.front() != '-' && value.back() != '-';
}

}  // namespace sextant::apiserver
