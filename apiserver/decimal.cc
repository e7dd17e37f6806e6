#include "apiserver/decimal.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <utility>

namespace sextant::apiserver {
namespace {

// Adds one unit in the last place of a digit string ("199" -> "200", "" -> "1", "99" -> "100").
void IncrementDigits(std::string& digits) {
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it != '9') {
      ++*it;
      return;
    }
    *it = '0';
  }
  digits.insert(digits.begin(), '1');
}

// int64 has at most 19 decimal digits; anything longer saturates without looking further.
constexpr int64_t kMaxInt64Digits = 19;

}  // namespace

Decimal::Decimal(bool negative, std::string_view digits, int64_t exponent)
    : negative_(negative), digits_(digits), exponent_(exponent) {
  Normalize();
}

Decimal Decimal::FromInt64(int64_t value, int64_t exponent) {
  // Negate in unsigned arithmetic so that INT64_MIN has a magnitude too.
  uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  return Decimal(value < 0, std::to_string(magnitude), exponent);
}

void Decimal::Normalize() {
  size_t first = digits_.find_first_not_of('0');
  if (first == std::string::npos) {
    *this = Decimal();
    return;
  }
  size_t last = digits_.find_last_not_of('0');
  exponent_ += static_cast<int64_t>(digits_.size() - 1 - last);
  digits_ = digits_.substr(first, last - first + 1);
}

Decimal Decimal::Negated() const {
  Decimal result = *this;
  if (!IsZero()) result.negative_ = !negative_;
  return result;
}

Decimal Decimal::Abs() const {
  Decimal result = *this;
  result.negative_ = false;
  return result;
}

Decimal Decimal::MultipliedBy(uint32_t factor) const {
  // Schoolbook multiplication, least significant digit first: digit × factor + carry stays
  // below 10 × 2^32, far inside uint64_t.
  std::string product;
  uint64_t carry = 0;
  for (auto it = digits_.rbegin(); it != digits_.rend(); ++it) {
    uint64_t step = static_cast<uint64_t>(*it - '0') * factor + carry;
    product.push_back(static_cast<char>('0' + step % 10));
    carry = step / 10;
  }
  for (; carry != 0; carry /= 10) product.push_back(static_cast<char>('0' + carry % 10));
  std::reverse(product.begin(), product.end());
  return Decimal(negative_, product, exponent_);
}

Decimal Decimal::ShiftedBy(int64_t shift) const {
  Decimal result = *this;
  if (!IsZero()) result.exponent_ += shift;
  return result;
}

Decimal Decimal::RoundedTo(int64_t exponent, Rounding mode) const {
  if (IsZero() || exponent_ >= exponent) return *this;
  // The `dropped` least significant digits (counted with any implicit zeros to the left of
  // the leading digit) fall below 10^exponent.
  const int64_t dropped = exponent - exponent_;
  const int64_t size = static_cast<int64_t>(digits_.size());
  std::string kept = dropped < size ? digits_.substr(0, size - dropped) : std::string();
  bool bump = false;
  switch (mode) {
    case Rounding::kAwayFromZero:
      // The last significant digit is never zero, so dropping any digit loses a non-zero part.
      bump = true;
      break;
    case Rounding::kHalfAwayFromZero: {
      // The dropped part is at least half a unit exactly when its first digit is >= 5.
      char first_dropped = dropped <= size ? digits_[size - dropped] : '0';
      bump = first_dropped >= '5';
      break;
    }
  }
  if (bump) IncrementDigits(kept);
  return Decimal(negative_, kept, exponent);
}

int Decimal::CompareMagnitude(const Decimal& other) const {
  if (IsZero() || other.IsZero()) {
    return static_cast<int>(!IsZero()) - static_cast<int>(!other.IsZero());
  }
  // The power of ten just above the leading digit orders numbers of different lengths.
  int64_t top = static_cast<int64_t>(digits_.size()) + exponent_;
  int64_t other_top = static_cast<int64_t>(other.digits_.size()) + other.exponent_;
  if (top != other_top) return top < other_top ? -1 : 1;
  // Same leading position: digits compare left to right. On a common prefix the longer one
  // is larger, since its extra digits end in a non-zero one.
  int order = digits_.compare(other.digits_);
  return order < 0 ? -1 : (order > 0 ? 1 : 0);
}

int Decimal::Compare(const Decimal& other) const {
  if (Sign() != other.Sign()) return Sign() < other.Sign() ? -1 : 1;
  int magnitude_order = CompareMagnitude(other);
  return negative_ ? -magnitude_order : magnitude_order;
}

int64_t Decimal::ToInt64Saturated() const {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  if (IsZero()) return 0;
  const int64_t integer_digits = static_cast<int64_t>(digits_.size()) + exponent_;
  if (exponent_ < 0) {  // not an integer: truncate toward zero
    return Decimal(negative_, digits_.substr(0, std::max<int64_t>(integer_digits, 0)), 0)
        .ToInt64Saturated();
  }
  if (integer_digits > kMaxInt64Digits) {
    return negative_ ? kMin : kMax;
  }
  // At most 19 digits: the magnitude is below 10^19 < 2^64.
  uint64_t magnitude = 0;
  for (char digit : digits_) magnitude = magnitude * 10 + static_cast<uint64_t>(digit - '0');
  for (int64_t i = 0; i < exponent_; ++i) magnitude *= 10;
  constexpr uint64_t kMaxMagnitude = static_cast<uint64_t>(kMax);
  if (negative_) {
    if (magnitude > kMaxMagnitude) return kMin;  // -2^63 itself, or below
    return -static_cast<int64_t>(magnitude);
  }
  return magnitude > kMaxMagnitude ? kMax : static_cast<int64_t>(magnitude);
}

double Decimal::ToDouble() const {
  if (IsZero()) return 0.0;
  // strtod rounds correctly from any number of digits and gives +-HUGE_VAL (infinity) or
  // zero outside the double range; the text has no locale-dependent decimal point.
  std::string text = (negative_ ? "-" : "") + digits_ + "e" + std::to_string(exponent_);
  return std::strtod(text.c_str(), nullptr);
}

}  // namespace sextant::apiserver
