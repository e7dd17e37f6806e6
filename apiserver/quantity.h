// Quantity: Kubernetes' resource.Quantity (k8s.io/apimachinery pkg/api/resource), the
// fixed-point number carried as a string in every ExternalMetricValue ("500m", "1Gi", "12e6").
//
// Sextant must read and write quantities byte for byte as the Go apiserver machinery does, so
// this reproduces apimachinery's rules rather than improving on them:
// - Text is <sign>?<digits>[.<digits>]<suffix>, suffix one of n u m "" k M G T P E (decimal SI,
//   powers of 1000), Ki Mi Gi Ti Pi Ei (binary SI, powers of 1024), or e/E and a signed
//   base-10 exponent (decimal exponent). The suffix family becomes the Quantity's Format.
// - Parsing keeps values exactly (arbitrary precision: "18446744073709551616" and "1.2345"
//   keep every digit) except that a non-zero value finer than nano is rounded away from zero
//   to a whole nano ("0.0000000001" -> "1n"), and a binary SI value is silently capped at
//   ±(2^63-1) ("9Ei" -> 9223372036854775807). A binary SI value strictly between -1 and 1
//   becomes decimal SI.
// - String() is canonical: no fractional digits, the largest exponent that loses nothing,
//   exponents that are multiples of 3 ("1.5" -> "1500m", "1.5Gi" -> "1536Mi"). Binary SI values
//   below 1024 in magnitude, or not whole, print as decimal SI. Decimal SI beyond E prints as
//   a decimal exponent ("1000E" -> "1e21").
// - apimachinery quirks kept on purpose (Go clients see the same): a parse that takes its
//   int64 fast path keeps the input text as String() when the value "looks canonical", even if
//   the text is not ("+5", "1.500", "01", "1e+3" print as given); a number part without digits
//   reads as zero when that fast path applies ("-", ".", "k", "Ki" parse as 0);
//   FromInt(INT64_MIN, kBinarySI) prints "-9223372036854775808".
// Deliberate differences, in inputs apimachinery mishandles: an e/E exponent outside int32 is
// an error (Go wraps it modulo 2^32), and Value()/MilliValue()/ScaledValue() always round away
// from zero and saturate at the int64 limits (Go's result there is undefined, and for some
// negative values rounds toward zero).
//
// Ownership: a value type; copies are independent.
// Thread safety: immutable after construction; const methods may be called concurrently.
// Errors: Parse() and FromDouble() return InvalidArgument with a message naming the input and
// what is wrong; nothing else fails.
#ifndef SEXTANT_APISERVER_QUANTITY_H_
#define SEXTANT_APISERVER_QUANTITY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "apiserver/decimal.h"
#include "common/result.h"

namespace sextant::apiserver {

class Quantity {
 public:
  enum class Format {
    kDecimalExponent,  // 12e6
    kBinarySI,         // 12Mi (12 × 2^20)
    kDecimalSI,        // 12M (12 × 10^6)
  };

  // Zero, kDecimalSI; prints "0" (like Go's zero Quantity).
  Quantity() = default;

  // Like resource.ParseQuantity. The text must be exactly the quantity: no surrounding space.
  static Result<Quantity> Parse(std::string_view text);
  // Like resource.NewQuantity: value × 1. A Format outside the enum behaves as
  // kDecimalExponent, as apimachinery treats an unknown Format.
  static Quantity FromInt(int64_t value, Format format);
  // Like resource.NewMilliQuantity: milli / 1000.
  static Quantity FromMilli(int64_t milli, Format format);
  // Like resource.NewScaledQuantity: value × 10^scale, kDecimalSI. Not rounded to nano.
  static Quantity FromScaled(int64_t value, int32_t scale);
  // A Prometheus sample: the shortest decimal that reads back as `value` (what Prometheus
  // prints, so 1.2345 is 1.2345 and not 1.23449999...), rounded half away from zero to a
  // whole milli-unit, kDecimalSI. Any finite double works (1e20 -> "100E",
  // 1.5e300 -> "1500e297"); tiny values become zero. NaN and ±Inf are InvalidArgument.
  static Result<Quantity> FromDouble(double value);

  // The canonical text, byte-exact with apimachinery's Quantity.String().
  std::string String() const;
  // ceil(|q|) with q's sign (rounded away from zero), saturated to the int64 range.
  int64_t Value() const;
  // Value() of q × 1000.
  int64_t MilliValue() const;
  // Value() of q / 10^scale: ScaledValue(-3) == MilliValue().
  int64_t ScaledValue(int32_t scale) const;
  Format format() const { return format_; }
  // -1, 0 or +1 as this is numerically less than, equal to or greater than `other`
  // (formats do not matter: "1Ki" equals "1024").
  int Compare(const Quantity& other) const;
  // The nearest double; ±infinity beyond its range.
  double AsApproximateDouble() const;
  bool IsZero() const { return amount_.IsZero(); }
  // -1, 0 or +1.
  int Sign() const { return amount_.Sign(); }

 private:
  Quantity(Decimal amount, Format format, std::string kept_text = {});

  Decimal amount_;
  Format format_ = Format::kDecimalSI;
  // When not empty, what String() returns verbatim (the quirks above).
  std::string kept_text_;
};

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_QUANTITY_H_
