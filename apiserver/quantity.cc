#include "apiserver/quantity.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace sextant::apiserver {
namespace {

using Format = Quantity::Format;
using Rounding = Decimal::Rounding;

constexpr int64_t kNanoExponent = -9;
constexpr int64_t kMilliExponent = -3;

// apimachinery's ErrFormatWrong text: the shape every quantity must have.
constexpr std::string_view kFormatRule =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

// ---------------------------------------------------------------------------------------
// Errors

// The input as it appears in an error message: quoted, at most 64 bytes, unprintable bytes
// replaced so that the message stays one clean line.
std::string Quoted(std::string_view text) {
  constexpr size_t kMaxShown = 64;
  std::string out = "\"";
  for (char c : text.substr(0, kMaxShown)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  out += text.size() > kMaxShown ? "\"..." : "\"";
  return out;
}

Status ParseError(std::string_view text, std::string_view problem) {
  return InvalidArgumentError("invalid quantity " + Quoted(text) + ": " + std::string(problem));
}

// ---------------------------------------------------------------------------------------
// Scanning: <sign>? <zeros> <whole digits> [. <fraction digits>] <suffix>

struct ScannedText {
  bool negative = false;
  std::string_view whole;     // integer digits after leading zeros; empty reads as "0"
  std::string_view fraction;  // digits after the '.', possibly empty
  bool has_digits = false;    // the number part holds at least one digit (zeros included)
  std::string_view suffix;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Letters that may start a suffix; which combinations mean something is decided later.
bool IsSuffixLetter(char c) {
  return std::string_view("eEinumkKMGTP").find(c) != std::string_view::npos;
}

size_t SkipDigits(std::string_view text, size_t pos) {
  while (pos < text.size() && IsDigit(text[pos])) ++pos;
  return pos;
}

// Splits `text` the way apimachinery's parseQuantityString does. That scanner is looser than
// the rule it quotes: the number part may have no digit at all ("-", ".", "Ki"), and is then
// read as zero.
// REQUIRES: !text.empty().
Result<ScannedText> Scan(std::string_view text) {
  ScannedText out;
  size_t pos = 0;
  if (text[0] == '-' || text[0] == '+') {
    out.negative = text[0] == '-';
    ++pos;
  }
  const size_t number_start = pos;
  while (pos < text.size() && text[pos] == '0') ++pos;
  if (pos == text.size()) {  // only a sign and zeros: apimachinery reads the number as "0"
    out.has_digits = true;
    return out;
  }
  const size_t whole_start = pos;
  pos = SkipDigits(text, pos);
  out.whole = text.substr(whole_start, pos - whole_start);
  if (pos < text.size() && text[pos] == '.') {
    const size_t fraction_start = ++pos;
    pos = SkipDigits(text, pos);
    out.fraction = text.substr(fraction_start, pos - fraction_start);
  }
  out.has_digits = whole_start > number_start || !out.whole.empty() || !out.fraction.empty();

  // Suffix: letters, then an optional sign and digits (an exponent), then the end.
  const size_t suffix_start = pos;
  while (pos < text.size() && IsSuffixLetter(text[pos])) ++pos;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
  pos = SkipDigits(text, pos);
  if (pos != text.size()) {
    return ParseError(text, "unexpected '" + std::string(1, text[pos]) + "' at offset " +
                                std::to_string(pos) + "; " + std::string(kFormatRule));
  }
  out.suffix = text.substr(suffix_start);
  return out;
}

// ---------------------------------------------------------------------------------------
// Suffixes

struct SuffixMeaning {
  int base = 10;         // 10 or 2
  int32_t exponent = 0;  // of the base
  Format format = Format::kDecimalSI;
};

struct NamedSuffix {
  std::string_view name;
  int base;
  int32_t exponent;
};

// clang-format off
constexpr std::array<NamedSuffix, 16> kNamedSuffixes = {{
    {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"", 10, 0},
    {"k", 10, 3},  {"M", 10, 6},  {"G", 10, 9},  {"T", 10, 12},
    {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20},
    {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
}};
// clang-format on

// Decimal SI suffixes by exponent / 3, from n (-9) to E (18).
constexpr std::array<std::string_view, 10> kDecimalSISuffixes = {"n", "u", "m", "",  "k",
                                                                 "M", "G", "T", "P", "E"};
// Binary SI suffixes by exponent / 10, from "" (2^0) to Ei (2^60).
constexpr std::array<std::string_view, 7> kBinarySISuffixes = {"",   "Ki", "Mi", "Gi",
                                                               "Ti", "Pi", "Ei"};

// The value of an exponent suffix's digits, like Go's strconv.ParseInt(s, 10, 64): an
// optional sign, then one or more digits. nullopt when malformed; out_of_range set when it
// does not fit int64.
std::optional<int64_t> ParseExponentDigits(std::string_view text, bool* out_of_range) {
  const bool has_sign = !text.empty() && (text.front() == '+' || text.front() == '-');
  const std::string_view digits = text.substr(has_sign ? 1 : 0);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), IsDigit)) return std::nullopt;
  // from_chars takes a '-' but not a '+'.
  const std::string_view number = text.front() == '+' ? digits : text;
  int64_t value = 0;
  const std::errc error = std::from_chars(number.data(), number.data() + number.size(), value).ec;
  if (error != std::errc()) {
    *out_of_range = error == std::errc::result_out_of_range;
    return std::nullopt;
  }
  return value;
}

Result<SuffixMeaning> InterpretSuffix(std::string_view text, std::string_view suffix) {
  for (const NamedSuffix& named : kNamedSuffixes) {
    if (named.name == suffix) {
      return SuffixMeaning{named.base, named.exponent,
                           named.base == 2 ? Format::kBinarySI : Format::kDecimalSI};
    }
  }
  if (suffix.size() > 1 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    bool out_of_range = false;
    std::optional<int64_t> exponent = ParseExponentDigits(suffix.substr(1), &out_of_range);
    // apimachinery truncates an int64 exponent to int32 (1e4294967296 reads as 1); refuse
    // instead of reading a different number.
    if (out_of_range || (exponent && (*exponent < std::numeric_limits<int32_t>::min() ||
                                      *exponent > std::numeric_limits<int32_t>::max()))) {
      return ParseError(text, "exponent " + Quoted(suffix) + " is out of range");
    }
    if (exponent) {
      return SuffixMeaning{10, static_cast<int32_t>(*exponent), Format::kDecimalExponent};
    }
  }
  return ParseError(text, "unknown suffix " + Quoted(suffix) +
                              " (want one of n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or e/E "
                              "followed by a base-10 exponent)");
}

// ---------------------------------------------------------------------------------------
// Parsing

// apimachinery first reads a quantity into an int64 mantissa with a base-10 scale, and falls
// back to big decimals only when that route cannot be exact. Both give the same number, but
// the route shows in two ways: only the fast route may keep the input text as String(), and
// only the fallback insists on at least one digit.
struct FastRoute {
  bool taken = false;
  bool keeps_text = false;
};

FastRoute ClassifyRoute(const ScannedText& scanned, const SuffixMeaning& suffix) {
  const int64_t whole_length = std::max<int64_t>(static_cast<int64_t>(scanned.whole.size()), 1);
  const int64_t fraction_length = static_cast<int64_t>(scanned.fraction.size());
  std::string shifted = scanned.whole.empty() ? "0" : std::string(scanned.whole);
  shifted += scanned.fraction;

  if (suffix.format == Format::kBinarySI) {
    if (fraction_length != 0) return {};
    // apimachinery's estimate of the digits 2^exponent adds is exponent × 3/10, which leaves
    // at most 11 whole digits (Ki) and keeps value × 2^exponent far below 2^63.
    const int64_t precision = 15 - whole_length - suffix.exponent * 3 / 10 - 1;
    if (precision < 0) return {};
    int64_t value = 0;
    std::from_chars(shifted.data(), shifted.data() + shifted.size(), value);
    // "Not a multiple of 8" is its cheap proof that no power of 1024 can move into the suffix.
    return {true, (value & 0x07) != 0};
  }

  // At most 18 digits (always an int64), and no digit finer than nano.
  const int64_t precision = 18 - whole_length - fraction_length;
  const int64_t scale = suffix.exponent - fraction_length;
  if (precision < 0 || scale < kNanoExponent) return {};
  const bool looks_canonical =
      scale % 3 == 0 && !shifted.ends_with("000") && shifted.front() != '0';
  return {true, looks_canonical};
}

Decimal ExactValue(const ScannedText& scanned, const SuffixMeaning& suffix) {
  std::string digits(scanned.whole);
  digits += scanned.fraction;
  Decimal amount(scanned.negative, digits, -static_cast<int64_t>(scanned.fraction.size()));
  if (suffix.base == 10) return amount.ShiftedBy(suffix.exponent);
  for (int32_t bits = 0; bits < suffix.exponent; bits += 10) amount = amount.MultipliedBy(1024);
  return amount;
}

// The adjustments ParseQuantity makes to the exact value it read.
Decimal ApplyParseLimits(Decimal amount, Format* format) {
  // Non-zero values are rounded away from zero to a whole nano: "if you want some resources,
  // you should get some", so nothing non-zero becomes zero.
  amount = amount.RoundedTo(kNanoExponent, Rounding::kAwayFromZero);
  if (*format != Format::kBinarySI) return amount;
  static const Decimal kMaxAllowed = Decimal::FromInt64(std::numeric_limits<int64_t>::max());
  static const Decimal kOne = Decimal::FromInt64(1);
  if (amount.CompareMagnitude(kMaxAllowed) > 0) {
    amount = amount.negative() ? kMaxAllowed.Negated() : kMaxAllowed;
  }
  if (!amount.IsZero() && amount.CompareMagnitude(kOne) < 0) *format = Format::kDecimalSI;
  return amount;
}

// ---------------------------------------------------------------------------------------
// Formatting

Format KnownFormat(Format format) {
  switch (format) {
    case Format::kDecimalExponent:
    case Format::kBinarySI:
    case Format::kDecimalSI:
      return format;
  }
  return Format::kDecimalExponent;  // apimachinery's answer to an unknown Format
}

// apimachinery prints a binary SI value in binary SI only when it is whole and at least
// 1024 in magnitude; otherwise as decimal SI, to avoid rounding and confusion.
bool PrintsAsBinarySI(const Decimal& amount) {
  static const Decimal k1024 = Decimal::FromInt64(1024);
  return amount.IsInteger() && amount.CompareMagnitude(k1024) >= 0;
}

// REQUIRES: PrintsAsBinarySI(amount); |amount| <= 2^63, as every binary SI Quantity is.
std::string BinarySIText(const Decimal& amount) {
  int64_t mantissa = amount.ToInt64Saturated();
  size_t power = 0;  // of 1024
  while (power + 1 < kBinarySISuffixes.size() && mantissa % 1024 == 0) {
    mantissa /= 1024;
    ++power;
  }
  return std::to_string(mantissa) + std::string(kBinarySISuffixes[power]);
}

std::string DecimalSuffix(int64_t exponent, Format format) {
  if (format == Format::kDecimalSI && exponent >= -9 && exponent <= 18) {
    return std::string(kDecimalSISuffixes[(exponent + 9) / 3]);
  }
  // Decimal exponent; also decimal SI beyond n..E, which has no suffix there.
  return exponent == 0 ? "" : "e" + std::to_string(exponent);
}

// REQUIRES: !amount.IsZero(); format is kDecimalSI or kDecimalExponent.
std::string DecimalText(const Decimal& amount, Format format) {
  // The canonical exponent is the largest multiple of 3 that keeps the mantissa whole:
  // digits() has no trailing zeros, so put back just enough ("12e4" -> "120e3").
  std::string mantissa = amount.digits();
  int64_t exponent = amount.exponent();
  const int64_t excess = ((exponent % 3) + 3) % 3;
  mantissa.append(static_cast<size_t>(excess), '0');
  exponent -= excess;
  return (amount.negative() ? "-" : "") + mantissa + DecimalSuffix(exponent, format);
}

// The shortest decimal that reads back as `value` (std::to_chars' round-trip guarantee): what
// Prometheus and Go's strconv print for a sample, not the binary fraction's full expansion.
// REQUIRES: std::isfinite(value).
Decimal ShortestDecimal(double value) {
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string_view text(buffer, static_cast<size_t>(result.ptr - buffer));  // "-1.2345e+00"
  const bool negative = text.front() == '-';
  if (negative) text.remove_prefix(1);
  const size_t e = text.find('e');
  std::string digits;
  int64_t fraction_length = 0;
  bool after_point = false;
  for (char c : text.substr(0, e)) {
    if (c == '.') {
      after_point = true;
      continue;
    }
    digits.push_back(c);
    if (after_point) ++fraction_length;
  }
  std::string_view exponent_text = text.substr(e + 1);
  if (exponent_text.front() == '+') exponent_text.remove_prefix(1);
  int exponent = 0;
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);
  return Decimal(negative, digits, exponent - fraction_length);
}

}  // namespace

Quantity::Quantity(Decimal amount, Format format, std::string kept_text)
    : amount_(std::move(amount)), format_(format), kept_text_(std::move(kept_text)) {}

Result<Quantity> Quantity::Parse(std::string_view text) {
  if (text.empty()) return ParseError(text, "empty; " + std::string(kFormatRule));
  Result<ScannedText> scanned = Scan(text);
  if (!scanned.ok()) return scanned.status();
  Result<SuffixMeaning> suffix = InterpretSuffix(text, scanned->suffix);
  if (!suffix.ok()) return suffix.status();

  const FastRoute route = ClassifyRoute(*scanned, *suffix);
  if (!route.taken && !scanned->has_digits) {
    return ParseError(text, "the numeric part has no digits");
  }
  Format format = suffix->format;
  Decimal amount = ApplyParseLimits(ExactValue(*scanned, *suffix), &format);
  return Quantity(std::move(amount), format, route.keeps_text ? std::string(text) : "");
}

Quantity Quantity::FromInt(int64_t value, Format format) {
  format = KnownFormat(format);
  // apimachinery's int64 code cannot negate INT64_MIN, so it pulls no power of 1024 out of it
  // and prints the bare digits where "-8Ei" would be expected.
  std::string kept_text;
  if (value == std::numeric_limits<int64_t>::min() && format == Format::kBinarySI) {
    kept_text = std::to_string(value);
  }
  return Quantity(Decimal::FromInt64(value), format, std::move(kept_text));
}

Quantity Quantity::FromMilli(int64_t milli, Format format) {
  return Quantity(Decimal::FromInt64(milli, kMilliExponent), KnownFormat(format));
}

Quantity Quantity::FromScaled(int64_t value, int32_t scale) {
  return Quantity(Decimal::FromInt64(value, scale), Format::kDecimalSI);
}

Result<Quantity> Quantity::FromDouble(double value) {
  if (std::isnan(value)) {
    return InvalidArgumentError("a quantity cannot hold NaN");
  }
  if (std::isinf(value)) {
    return InvalidArgumentError(value > 0 ? "a quantity cannot hold +Inf"
                                          : "a quantity cannot hold -Inf");
  }
  Decimal milli_precise =
      ShortestDecimal(value).RoundedTo(kMilliExponent, Rounding::kHalfAwayFromZero);
  return Quantity(std::move(milli_precise), Format::kDecimalSI);
}

std::string Quantity::String() const {
  if (!kept_text_.empty()) return kept_text_;
  if (amount_.IsZero()) return "0";
  if (format_ == Format::kBinarySI) {
    if (PrintsAsBinarySI(amount_)) return BinarySIText(amount_);
    return DecimalText(amount_, Format::kDecimalSI);
  }
  return DecimalText(amount_, format_);
}

int64_t Quantity::Value() const { return ScaledValue(0); }

int64_t Quantity::MilliValue() const { return ScaledValue(kMilliExponent); }

int64_t Quantity::ScaledValue(int32_t scale) const {
  return amount_.ShiftedBy(-static_cast<int64_t>(scale))
      .RoundedTo(0, Rounding::kAwayFromZero)
      .ToInt64Saturated();
}

int Quantity::Compare(const Quantity& other) const { return amount_.Compare(other.amount_); }

double Quantity::AsApproximateDouble() const { return amount_.ToDouble(); }

}  // namespace sextant::apiserver
