// Decimal: an exact, arbitrary-precision signed decimal number, digits × 10^exponent.
//
// The arithmetic behind Quantity (apiserver/quantity.h), standing in for the gopkg.in/inf.v0
// Dec that k8s.io/apimachinery uses. Values are exact however many digits they have or however
// large their exponent is: nothing is ever expanded to its full length (1e999999999 costs one
// digit), so no operation here can be made to allocate without bound by a short input. Only
// the operations quantities need exist: compare, multiply by a small factor, shift by a power
// of ten, round to a power of ten, convert.
//
// Representation: a value owns its significant digits (a std::string of '0'..'9') and keeps
// them normalised: no leading and no trailing zeros (trailing zeros are moved into the
// exponent). Zero has no digits, exponent 0 and is never negative. Equal numbers therefore
// have equal representations, and digits()/exponent() are directly the canonical
// mantissa/exponent pair apimachinery derives by "removing factors of ten".
//
// Thread safety: a value type; const methods may be called concurrently.
// Errors: none. The one narrowing conversion, ToInt64Saturated(), clamps.
#ifndef SEXTANT_APISERVER_DECIMAL_H_
#define SEXTANT_APISERVER_DECIMAL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace sextant::apiserver {

class Decimal {
 public:
  enum class Rounding {
    // Any discarded non-zero digit increases the magnitude (inf.RoundUp; "ceil away from 0").
    kAwayFromZero,
    // A discarded part of at least half a unit increases the magnitude (0.5 -> 1, -0.5 -> -1).
    kHalfAwayFromZero,
  };

  Decimal() = default;  // zero
  // (-1)^negative × digits × 10^exponent.
  // REQUIRES: `digits` holds only '0'..'9'; it may be empty or carry leading/trailing zeros.
  Decimal(bool negative, std::string_view digits, int64_t exponent);
  static Decimal FromInt64(int64_t value, int64_t exponent = 0);

  bool IsZero() const { return digits_.empty(); }
  // -1, 0 or +1.
  int Sign() const { return IsZero() ? 0 : (negative_ ? -1 : 1); }
  bool negative() const { return negative_; }
  // Significant digits, without leading or trailing zeros; empty for zero.
  const std::string& digits() const { return digits_; }
  // Power of ten of the last significant digit; 0 for zero.
  int64_t exponent() const { return exponent_; }
  bool IsInteger() const { return exponent_ >= 0; }

  Decimal Negated() const;
  Decimal Abs() const;
  // this × factor, exactly.
  Decimal MultipliedBy(uint32_t factor) const;
  // this × 10^shift, exactly (only the exponent moves).
  Decimal ShiftedBy(int64_t shift) const;
  // The multiple of 10^exponent that `mode` picks next to this value (exact if already one).
  Decimal RoundedTo(int64_t exponent, Rounding mode) const;

  // -1, 0 or +1 as this is less than, equal to or greater than `other`.
  int Compare(const Decimal& other) const;
  // Same, on absolute values.
  int CompareMagnitude(const Decimal& other) const;

  // The integer part (truncated toward zero) clamped to [INT64_MIN, INT64_MAX]; round first
  // with RoundedTo(0, ...) for any other rounding.
  int64_t ToInt64Saturated() const;
  // The nearest double (correctly rounded); +-infinity beyond the double range.
  double ToDouble() const;

 private:
  // Restores the invariants above after digits_/exponent_ were set freely.
  void Normalize();

  bool negative_ = false;
  std::string digits_;
  int64_t exponent_ = 0;
};

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_DECIMAL_H_
