// Quantity against apimachinery's own test vectors (read at run time from
// SEXTANT_CONFORMANCE_DIR, one named test per row) and against table-driven cases for what
// those vectors do not cover: FromDouble, Compare, the int64 accessors and the quirks.
#include "apiserver/quantity.h"

#include <gtest/gtest.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sextant::apiserver {
namespace {

using Format = Quantity::Format;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

// ---------------------------------------------------------------------------------------
// Conformance files

struct Row {
  std::string file;
  int line = 0;
  std::vector<std::string> fields;  // tab-separated columns

  std::string Describe() const {
    std::string text = file + ":" + std::to_string(line) + ":";
    for (const std::string& field : fields) text += " [" + field + "]";
    return text;
  }
};

// How gtest shows a row in failure messages.
void PrintTo(const Row& row, std::ostream* os) { *os << row.Describe(); }

// gtest prints the row in a failing test's name, e.g. "L27_m1d5Ki" for "-1.5Ki" on line 27.
std::string RowName(const testing::TestParamInfo<Row>& info) {
  std::string name = "L" + std::to_string(info.param.line) + "_";
  for (char c : info.param.fields.empty() ? std::string() : info.param.fields[0]) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      name.push_back(c);
    } else if (c == '-') {
      name += "m";
    } else if (c == '+') {
      name += "p";
    } else if (c == '.') {
      name += "d";
    } else {
      name += "_";
    }
  }
  return name;
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) {
    fields.push_back(line.substr(start, tab - start));
  }
  fields.push_back(line.substr(start));
  return fields;
}

// Every non-comment, non-blank line of a conformance file; empty when the file is missing
// (ConformanceFiles.AllRowsLoaded then fails).
std::vector<Row> LoadRows(const std::string& file) {
  std::vector<Row> rows;
  std::ifstream in(std::string(SEXTANT_CONFORMANCE_DIR) + "/" + file);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    rows.push_back(Row{file, number, SplitTabs(line)});
  }
  return rows;
}

int64_t ToInt64(const std::string& text) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  EXPECT_TRUE(error == std::errc() && end == text.data() + text.size()) << "bad int " << text;
  return value;
}

// Format names as the files spell them; "invalid" is a Format apimachinery does not know.
Format ToFormat(const std::string& name) {
  if (name == "DecimalSI") return Format::kDecimalSI;
  if (name == "BinarySI") return Format::kBinarySI;
  if (name == "DecimalExponent") return Format::kDecimalExponent;
  EXPECT_EQ(name, "invalid") << "unknown format name";
  return static_cast<Format>(99);
}

const char* FormatName(Format format) {
  switch (format) {
    case Format::kDecimalSI:
      return "DecimalSI";
    case Format::kBinarySI:
      return "BinarySI";
    case Format::kDecimalExponent:
      return "DecimalExponent";
  }
  return "unknown";
}

Quantity MustParse(std::string_view text) {
  Result<Quantity> parsed = Quantity::Parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().ToString();
  return parsed.ok() ? *parsed : Quantity();
}

TEST(ConformanceFiles, AllRowsLoaded) {
  // Row counts of the files as vendored; more rows are welcome, fewer mean a broken read.
  EXPECT_GE(LoadRows("quantity_canonical.tsv").size(), 134u);
  EXPECT_GE(LoadRows("quantity_invalid.txt").size(), 14u);
  EXPECT_GE(LoadRows("quantity_milli.tsv").size(), 7u);
  EXPECT_GE(LoadRows("quantity_new.tsv").size(), 19u);
  EXPECT_GE(LoadRows("quantity_parse_value.tsv").size(), 96u);
}

// quantity_canonical.tsv: ParseQuantity(input).String() == expected, byte for byte.
class CanonicalRow : public testing::TestWithParam<Row> {};

TEST_P(CanonicalRow, ParsesToCanonicalText) {
  const Row& row = GetParam();
  SCOPED_TRACE(row.Describe());
  ASSERT_EQ(row.fields.size(), 3u);
  Result<Quantity> parsed = Quantity::Parse(row.fields[0]);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->String(), row.fields[1]);
  // The canonical text reads back as itself.
  EXPECT_EQ(MustParse(row.fields[1]).String(), row.fields[1]);
  EXPECT_EQ(MustParse(row.fields[1]).Compare(*parsed), 0);
}

INSTANTIATE_TEST_SUITE_P(Conformance, CanonicalRow,
                         testing::ValuesIn(LoadRows("quantity_canonical.tsv")), RowName);

// quantity_invalid.txt: one JSON string literal per line; ParseQuantity fails.
class InvalidRow : public testing::TestWithParam<Row> {};

TEST_P(InvalidRow, IsRejected) {
  const Row& row = GetParam();
  SCOPED_TRACE(row.Describe());
  std::string input = nlohmann::json::parse(row.fields.at(0)).get<std::string>();
  Result<Quantity> parsed = Quantity::Parse(input);
  ASSERT_FALSE(parsed.ok()) << "parsed as " << parsed->String();
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("invalid quantity \""), std::string::npos)
      << parsed.status().message();
}

INSTANTIATE_TEST_SUITE_P(Conformance, InvalidRow,
                         testing::ValuesIn(LoadRows("quantity_invalid.txt")), RowName);

// quantity_milli.tsv: NewMilliQuantity(milli, format).String(); exact rows read back.
class MilliRow : public testing::TestWithParam<Row> {};

TEST_P(MilliRow, FormatsAndRoundTrips) {
  const Row& row = GetParam();
  SCOPED_TRACE(row.Describe());
  ASSERT_EQ(row.fields.size(), 4u);
  const int64_t milli = ToInt64(row.fields[0]);
  EXPECT_EQ(Quantity::FromMilli(milli, ToFormat(row.fields[2])).String(), row.fields[1]);
  if (row.fields[3] == "1") {
    EXPECT_EQ(MustParse(row.fields[1]).MilliValue(), milli);
  }
}

INSTANTIATE_TEST_SUITE_P(Conformance, MilliRow, testing::ValuesIn(LoadRows("quantity_milli.tsv")),
                         RowName);

// quantity_new.tsv: NewQuantity / NewScaledQuantity String() and the value read back.
class NewRow : public testing::TestWithParam<Row> {};

TEST_P(NewRow, FormatsAndRoundTrips) {
  const Row& row = GetParam();
  SCOPED_TRACE(row.Describe());
  ASSERT_EQ(row.fields.size(), 4u);
  const int64_t value = ToInt64(row.fields[1]);
  const std::string& expected = row.fields[3];
  if (row.fields[0] == "NewQuantity") {
    EXPECT_EQ(Quantity::FromInt(value, ToFormat(row.fields[2])).String(), expected);
    EXPECT_EQ(MustParse(expected).Value(), value);
  } else {
    ASSERT_EQ(row.fields[0], "NewScaledQuantity");
    const auto scale = static_cast<int32_t>(ToInt64(row.fields[2]));
    Quantity quantity = Quantity::FromScaled(value, scale);
    EXPECT_EQ(quantity.String(), expected);
    EXPECT_EQ(quantity.format(), Format::kDecimalSI);
    EXPECT_EQ(MustParse(expected).ScaledValue(scale), value);
  }
}

INSTANTIATE_TEST_SUITE_P(Conformance, NewRow, testing::ValuesIn(LoadRows("quantity_new.tsv")),
                         RowName);

// quantity_parse_value.tsv: the value is mantissa × 10^exp10 with the given Format, also
// with a leading "-" (negated) and "+" (unchanged).
class ParseValueRow : public testing::TestWithParam<Row> {};

TEST_P(ParseValueRow, HasValueAndFormat) {
  const Row& row = GetParam();
  SCOPED_TRACE(row.Describe());
  ASSERT_EQ(row.fields.size(), 4u);
  const int64_t mantissa = ToInt64(row.fields[1]);
  const auto exponent = static_cast<int32_t>(ToInt64(row.fields[2]));
  const Format format = ToFormat(row.fields[3]);
  const Quantity expected = Quantity::FromScaled(mantissa, exponent);
  const Quantity negated = Quantity::FromScaled(-mantissa, exponent);

  struct Variant {
    std::string text;
    const Quantity& value;
  };
  for (const Variant& variant :
       {Variant{row.fields[0], expected}, Variant{"-" + row.fields[0], negated},
        Variant{"+" + row.fields[0], expected}}) {
    SCOPED_TRACE("input " + variant.text);
    Result<Quantity> parsed = Quantity::Parse(variant.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->Compare(variant.value), 0)
        << parsed->String() << " vs " << variant.value.String();
    EXPECT_EQ(FormatName(parsed->format()), FormatName(format));
  }
}

INSTANTIATE_TEST_SUITE_P(Conformance, ParseValueRow,
                         testing::ValuesIn(LoadRows("quantity_parse_value.tsv")), RowName);

// ---------------------------------------------------------------------------------------
// FromDouble

struct DoubleCase {
  const char* name;
  double value;
  const char* expected;
};

void PrintTo(const DoubleCase& c, std::ostream* os) { *os << c.name; }

class FromDoubleTest : public testing::TestWithParam<DoubleCase> {};

TEST_P(FromDoubleTest, FormatsMilliPrecise) {
  const DoubleCase& c = GetParam();
  Result<Quantity> quantity = Quantity::FromDouble(c.value);
  ASSERT_TRUE(quantity.ok()) << quantity.status().ToString();
  EXPECT_EQ(quantity->String(), c.expected);
  EXPECT_EQ(quantity->format(), Format::kDecimalSI);
  // What Sextant writes, a Go client reads back to the same number.
  EXPECT_EQ(MustParse(quantity->String()).Compare(*quantity), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Samples, FromDoubleTest,
    testing::Values(
        DoubleCase{"zero", 0.0, "0"}, DoubleCase{"negative_zero", -0.0, "0"},
        DoubleCase{"one", 1.0, "1"}, DoubleCase{"half", 0.5, "500m"},
        DoubleCase{"twelve_and_a_half", 12.5, "12500m"},
        // 1.2345 is 1.23449999999999993... in binary; the sample means 1.2345.
        DoubleCase{"half_up_at_milli", 1.2345, "1235m"},
        DoubleCase{"half_away_from_zero_negative", -1.2345, "-1235m"},
        DoubleCase{"below_half_milli_rounds_down", 1.2344999, "1234m"},
        DoubleCase{"negative", -2.5, "-2500m"}, DoubleCase{"exact_half_milli", 0.0005, "1m"},
        DoubleCase{"exact_negative_half_milli", -0.0005, "-1m"},
        DoubleCase{"under_half_milli", 0.0004999, "0"}, DoubleCase{"one_milli", 0.001, "1m"},
        DoubleCase{"binary_noise", 0.1 + 0.2, "300m"},
        DoubleCase{"many_digits", 123456789.123456, "123456789123m"},
        DoubleCase{"thousand", 1000.0, "1k"}, DoubleCase{"peta", 1e15, "1P"},
        DoubleCase{"beyond_int64_milli", 1e17, "100P"},
        DoubleCase{"two_to_the_63", 9223372036854775808.0, "9223372036854776k"},
        DoubleCase{"hundred_exa", 1e20, "100E"},
        DoubleCase{"beyond_exa_uses_exponent", 1e21, "1e21"},
        DoubleCase{"negative_beyond_exa", -2.5e22, "-25e21"},
        DoubleCase{"googol_cubed", 1e300, "1e300"},
        DoubleCase{"one_and_a_half_e300", 1.5e300, "1500e297"},
        DoubleCase{"max_double", std::numeric_limits<double>::max(), "179769313486231570e291"},
        DoubleCase{"smallest_subnormal", 4.9e-324, "0"}, DoubleCase{"negative_tiny", -1e-10, "0"}),
    [](const testing::TestParamInfo<DoubleCase>& info) { return std::string(info.param.name); });

TEST(FromDouble, RejectsNaNAndInfinities) {
  for (double value :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    Result<Quantity> quantity = Quantity::FromDouble(value);
    ASSERT_FALSE(quantity.ok()) << value;
    EXPECT_EQ(quantity.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_NE(Quantity::FromDouble(-std::numeric_limits<double>::infinity())
                .status()
                .message()
                .find("-Inf"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Compare

struct CompareCase {
  const char* name;
  const char* left;
  const char* right;
  int expected;
};

void PrintTo(const CompareCase& c, std::ostream* os) { *os << c.name; }

class CompareTest : public testing::TestWithParam<CompareCase> {};

TEST_P(CompareTest, OrdersNumerically) {
  const CompareCase& c = GetParam();
  Quantity left = MustParse(c.left);
  Quantity right = MustParse(c.right);
  EXPECT_EQ(left.Compare(right), c.expected) << c.left << " vs " << c.right;
  EXPECT_EQ(right.Compare(left), -c.expected) << c.right << " vs " << c.left;
}

INSTANTIATE_TEST_SUITE_P(
    Quantities, CompareTest,
    testing::Values(
        // From apimachinery's TestQuantityCmp.
        CompareCase{"zeros", "0", "0", 0}, CompareCase{"milli_greater", "100m", "50m", 1},
        CompareCase{"milli_less", "50m", "100m", -1},
        CompareCase{"tera_vs_gibi", "10000T", "100Gi", 1},
        // Formats do not matter, only values.
        CompareCase{"kibi_is_1024", "1Ki", "1024", 0},
        CompareCase{"gibi_fraction", "1.5Gi", "1536Mi", 0},
        CompareCase{"exponent_vs_si", "1e20", "100E", 0},
        CompareCase{"decimal_vs_milli", "0.1", "100m", 0},
        CompareCase{"nano_spellings", "1e-9", "1n", 0}, CompareCase{"negative_zero", "-0", "0", 0},
        CompareCase{"sign", "-1", "1", -1}, CompareCase{"negatives_by_magnitude", "-2", "-10", 1},
        CompareCase{"nano_above_zero", "1n", "0", 1},
        CompareCase{"negative_nano_below_zero", "-1n", "0", -1},
        CompareCase{"exa_vs_18_nines", "1E", "999999999999999999", 1},
        CompareCase{"same_length_last_digit", "123456789012345678901234567890",
                    "123456789012345678901234567891", -1},
        CompareCase{"prefix_shorter_is_smaller", "1.23", "1.234", -1},
        CompareCase{"huge_exponents", "1e1000", "9e999", 1},
        CompareCase{"binary_caps_are_equal", "9Ei", "8Ei", 0},
        CompareCase{"rounded_up_to_nano", "0.1n", "1n", 0}),
    [](const testing::TestParamInfo<CompareCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------
// Int64 accessors

struct ScaledCase {
  const char* name;
  const char* text;
  int32_t scale;
  int64_t expected;
};

void PrintTo(const ScaledCase& c, std::ostream* os) { *os << c.name; }

class ScaledValueTest : public testing::TestWithParam<ScaledCase> {};

TEST_P(ScaledValueTest, RoundsAwayFromZeroAndSaturates) {
  const ScaledCase& c = GetParam();
  Quantity quantity = MustParse(c.text);
  EXPECT_EQ(quantity.ScaledValue(c.scale), c.expected);
  if (c.scale == 0) {
    EXPECT_EQ(quantity.Value(), c.expected);
  }
  if (c.scale == -3) {
    EXPECT_EQ(quantity.MilliValue(), c.expected);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Quantities, ScaledValueTest,
    testing::Values(
        ScaledCase{"zero", "0", 0, 0}, ScaledCase{"whole", "5", 0, 5},
        ScaledCase{"fraction_up", "1.1", 0, 2}, ScaledCase{"negative_fraction_away", "-1.1", 0, -2},
        ScaledCase{"nano_value", "1n", 0, 1}, ScaledCase{"negative_nano_value", "-1n", 0, -1},
        ScaledCase{"nano_milli", "1n", -3, 1}, ScaledCase{"milli_exact", "1.5", -3, 1500},
        ScaledCase{"milli_fraction", "1.5m", -3, 2}, ScaledCase{"kibi", "1Ki", 0, 1024},
        ScaledCase{"kilo_scale", "1500", 3, 2}, ScaledCase{"kilo_scale_exact", "1k", 3, 1},
        ScaledCase{"nano_scale", "1", -9, 1000000000},
        ScaledCase{"max_binary", "9Ei", 0, kInt64Max},
        ScaledCase{"int64_max", "9223372036854775807", 0, kInt64Max},
        ScaledCase{"int64_min", "-9223372036854775808", 0, kInt64Min},
        ScaledCase{"saturates_up", "100E", 0, kInt64Max},
        ScaledCase{"saturates_down", "-100E", 0, kInt64Min},
        ScaledCase{"milli_saturates", "10E", -3, kInt64Max},
        ScaledCase{"huge_exponent", "1e999999999", 0, kInt64Max},
        ScaledCase{"tiny_rounds_to_one", "1e-999999999", 0, 1}),
    [](const testing::TestParamInfo<ScaledCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------
// Text apimachinery produces beyond the conformance files

struct TextCase {
  const char* name;
  const char* input;
  const char* expected;
};

void PrintTo(const TextCase& c, std::ostream* os) { *os << c.name; }

class ParseTextTest : public testing::TestWithParam<TextCase> {};

TEST_P(ParseTextTest, PrintsLikeApimachinery) {
  const TextCase& c = GetParam();
  EXPECT_EQ(MustParse(c.input).String(), c.expected) << c.input;
}

INSTANTIATE_TEST_SUITE_P(
    Quantities, ParseTextTest,
    testing::Values(
        // Binary SI.
        TextCase{"gibi_fraction", "1.5Gi", "1536Mi"}, TextCase{"half_kibi", "0.5Ki", "512"},
        TextCase{"binary_not_whole", "100.035Ki", "102435840m"}, TextCase{"pebi", "1Pi", "1Pi"},
        TextCase{"exbi", "7Ei", "7Ei"}, TextCase{"exbi_capped", "8Ei", "9223372036854775807"},
        TextCase{"negative_exbi_capped", "-8Ei", "-9223372036854775807"},
        // Decimal SI beyond E falls back to an exponent; below nano is rounded up first.
        TextCase{"beyond_exa", "1000E", "1e21"}, TextCase{"huge", "1.5e300", "1500e297"},
        TextCase{"pico_rounds_to_nano", "1e-12", "1e-9"},
        TextCase{"negative_rounds_away", "-0.0000000001", "-1n"},
        TextCase{"exponent_multiple_of_three", "1.2e3", "1200"},
        TextCase{"exponent_rounds_down", "12e4", "120e3"},
        TextCase{"huge_exponent", "1e2147483647", "10e2147483646"},
        TextCase{"many_digits", "123456789012345678901234567890.5",
                 "123456789012345678901234567890500m"},
        // The int64 fast path keeps the input text when it "looks canonical" ...
        TextCase{"kept_plus", "+5", "+5"}, TextCase{"kept_trailing_zeros", "1.500", "1.500"},
        TextCase{"kept_leading_zero", "01", "01"}, TextCase{"kept_exponent_sign", "1e+3", "1e+3"},
        TextCase{"kept_exponent_zero", "1e0", "1e0"}, TextCase{"kept_capital_e", "1E3", "1E3"},
        TextCase{"kept_binary_plus", "+1Ki", "+1Ki"},
        TextCase{"kept_fraction_k", "10.035k", "10.035k"},
        // ... and recomputes it otherwise.
        TextCase{"recomputed_fraction", "1.5", "1500m"},
        TextCase{"recomputed_thousands", "2.000", "2"},
        TextCase{"recomputed_binary", "+1024Ki", "1Mi"},
        TextCase{"recomputed_leading_zero_fraction", "+0.5", "500m"},
        TextCase{"recomputed_scale", "1e4", "10e3"},
        // A number part without digits reads as zero on the fast path.
        TextCase{"lone_minus", "-", "0"}, TextCase{"lone_plus", "+", "0"},
        TextCase{"lone_point", ".", "0"}, TextCase{"bare_suffix", "k", "0"},
        TextCase{"bare_binary_suffix", "Ki", "0"}, TextCase{"bare_exponent", "e5", "0"}),
    [](const testing::TestParamInfo<TextCase>& info) { return std::string(info.param.name); });

TEST(Parse, FormatsOfEdgeCases) {
  EXPECT_EQ(MustParse("Ki").format(), Format::kBinarySI);
  EXPECT_EQ(MustParse("e5").format(), Format::kDecimalExponent);
  EXPECT_EQ(MustParse(".5Ki").format(), Format::kBinarySI);      // 512: still >= 1
  EXPECT_EQ(MustParse(".0005Ki").format(), Format::kDecimalSI);  // below 1
  EXPECT_EQ(MustParse("-.0005Ki").format(), Format::kDecimalSI);
}

struct ErrorCase {
  const char* name;
  const char* input;
  const char* message_part;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ParseErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(ParseErrorTest, SaysWhatIsWrong) {
  const ErrorCase& c = GetParam();
  Result<Quantity> parsed = Quantity::Parse(c.input);
  ASSERT_FALSE(parsed.ok()) << c.input << " parsed as " << parsed->String();
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find(c.message_part), std::string::npos)
      << parsed.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Quantities, ParseErrorTest,
    testing::Values(ErrorCase{"empty", "", "empty"},
                    ErrorCase{"second_point", "1.1.M", "unexpected '.' at offset 3"},
                    ErrorCase{"space", "1 ", "unexpected ' ' at offset 1"},
                    ErrorCase{"unknown_suffix", "0.1mi", "unknown suffix \"mi\""},
                    ErrorCase{"lower_k_binary", "1ki", "unknown suffix \"ki\""},
                    ErrorCase{"capital_k", "1K", "unknown suffix \"K\""},
                    ErrorCase{"bare_e", "1e", "unknown suffix \"e\""},
                    ErrorCase{"exponent_without_digits", "1e+", "unknown suffix \"e+\""},
                    ErrorCase{"exponent_beyond_int32", "1e2147483648", "out of range"},
                    ErrorCase{"exponent_beyond_int64", "1e99999999999999999999", "out of range"},
                    // Digitless numbers that apimachinery sends to its big-decimal path.
                    ErrorCase{"bare_pebi", "Pi", "no digits"},
                    ErrorCase{"bare_sub_nano", "-.e-10", "no digits"},
                    ErrorCase{"quotes_input", "aoeu", "invalid quantity \"aoeu\""}),
    [](const testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

TEST(Parse, LongInputIsShortenedInTheMessage) {
  std::string input(200, '1');
  input += "x";
  Result<Quantity> parsed = Quantity::Parse(input);
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.status().message().size(), 250u);
  EXPECT_NE(parsed.status().message().find("\"..."), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Constructors

TEST(Constructors, BinarySIFromIntegers) {
  EXPECT_EQ(Quantity::FromInt(1023, Format::kBinarySI).String(), "1023");
  EXPECT_EQ(Quantity::FromInt(1536, Format::kBinarySI).String(), "1536");
  EXPECT_EQ(Quantity::FromInt(2048, Format::kBinarySI).String(), "2Ki");
  EXPECT_EQ(Quantity::FromInt(-(int64_t{1} << 62), Format::kBinarySI).String(), "-4Ei");
  EXPECT_EQ(Quantity::FromInt(kInt64Max, Format::kBinarySI).String(), "9223372036854775807");
  // apimachinery's int64 code cannot pull 1024s out of INT64_MIN.
  EXPECT_EQ(Quantity::FromInt(kInt64Min, Format::kBinarySI).String(), "-9223372036854775808");
  EXPECT_EQ(Quantity::FromMilli(1024000, Format::kBinarySI).String(), "1Ki");
  EXPECT_EQ(Quantity::FromMilli(-500, Format::kBinarySI).String(), "-500m");
}

TEST(Constructors, DecimalExtremes) {
  EXPECT_EQ(Quantity::FromInt(kInt64Min, Format::kDecimalSI).String(), "-9223372036854775808");
  EXPECT_EQ(Quantity::FromMilli(kInt64Min, Format::kDecimalSI).String(), "-9223372036854775808m");
  EXPECT_EQ(Quantity::FromScaled(kInt64Min, 1).String(), "-92233720368547758080");
  EXPECT_EQ(Quantity::FromScaled(1, -12).String(), "1e-12");  // constructors do not round
  EXPECT_EQ(Quantity::FromScaled(5, 20).String(), "500E");
  EXPECT_EQ(Quantity::FromScaled(5, 21).String(), "5e21");
  EXPECT_EQ(Quantity::FromInt(1200, Format::kDecimalExponent).String(), "1200");
  EXPECT_EQ(Quantity::FromInt(12000, Format::kDecimalExponent).String(), "12e3");
}

TEST(Constructors, UnknownFormatActsAsDecimalExponent) {
  Quantity quantity = Quantity::FromInt(1000000, static_cast<Format>(-1));
  EXPECT_EQ(quantity.format(), Format::kDecimalExponent);
  EXPECT_EQ(quantity.String(), "1e6");
}

TEST(Constructors, DefaultIsZero) {
  Quantity zero;
  EXPECT_TRUE(zero.IsZero());
  EXPECT_EQ(zero.Sign(), 0);
  EXPECT_EQ(zero.String(), "0");
  EXPECT_EQ(zero.format(), Format::kDecimalSI);
  EXPECT_EQ(zero.Compare(MustParse("0Ki")), 0);
}

// ---------------------------------------------------------------------------------------
// Sign, zero and doubles

TEST(Accessors, SignAndZero) {
  EXPECT_TRUE(MustParse("-0").IsZero());
  EXPECT_TRUE(MustParse("0.000Ki").IsZero());
  EXPECT_FALSE(MustParse("0.0000000001").IsZero());  // rounded up to 1n, not down to 0
  EXPECT_EQ(MustParse("1n").Sign(), 1);
  EXPECT_EQ(MustParse("-1n").Sign(), -1);
  EXPECT_EQ(MustParse("-0").Sign(), 0);
  EXPECT_EQ(Quantity::FromMilli(0, Format::kBinarySI).Sign(), 0);
  EXPECT_EQ(Quantity::FromInt(-3, Format::kDecimalSI).Sign(), -1);
}

TEST(Accessors, AsApproximateDouble) {
  EXPECT_EQ(MustParse("0").AsApproximateDouble(), 0.0);
  EXPECT_EQ(MustParse("1.5").AsApproximateDouble(), 1.5);
  EXPECT_EQ(MustParse("1Ki").AsApproximateDouble(), 1024.0);
  EXPECT_EQ(MustParse("-2.5m").AsApproximateDouble(), -0.0025);
  EXPECT_EQ(MustParse("1.2345").AsApproximateDouble(), 1.2345);
  EXPECT_EQ(MustParse("1e400").AsApproximateDouble(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(MustParse("-1e400").AsApproximateDouble(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(Quantity::FromScaled(1, -400).AsApproximateDouble(), 0.0);
}

TEST(Accessors, CopiesAreIndependentValues) {
  Quantity original = MustParse("+5");
  Quantity copy = original;
  copy = MustParse("1Gi");
  EXPECT_EQ(original.String(), "+5");
  EXPECT_EQ(copy.String(), "1Gi");
}

}  // namespace
}  // namespace sextant::apiserver
