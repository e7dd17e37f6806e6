// Highway implementations of the window kernels (contract: window_kernels.h).
//
// This file is compiled once per SIMD target: foreach_target.h re-includes it with HWY_TARGET
// set to each target, and the HWY_ONCE section at the end defines the public functions, which
// dispatch at run time to the best target the CPU supports.
//
// Memory access rules for every kernel below: full vectors are read with LoadU only while a
// whole vector fits before values + n; the remainder goes through LoadPartial, which never
// touches memory outside [p, p + count): a masked load where masked-off lanes cannot fault
// (AVX-512), else a copy through a stack buffer. Software prefetches (long inputs) also stay
// inside [p, p + n). Nothing is allocated; Quantile writes only to the caller's scratch
// buffer. Element i always lands in lane i % N of its chain, whatever the alignment of p, so
// results are deterministic for given values and target (no peeling).
#include "scaling/kernels/window_kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

// Types shared by every target's code (defined once, outside the per-target namespaces).
#ifndef SEXTANT_SCALING_KERNELS_WINDOW_KERNELS_SHARED_
#define SEXTANT_SCALING_KERNELS_WINDOW_KERNELS_SHARED_
namespace sextant::scaling::kernels {
struct Variance {
  double value;
  bool ill_conditioned;  // |mean| / stddev > 1e4
};
}  // namespace sextant::scaling::kernels
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "scaling/kernels/window_kernels.cc"
#include "hwy/cache_control.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace sextant::scaling::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<double>;
using V = hn::Vec<D>;
// Upper bound of Lanes(D()) for this target, for stack buffers.
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(double);
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// 2^-64 and 2^64: exact rescaling for sums that overflow.
constexpr double kDownScale = 5.421010862427522170037264e-20;
constexpr double kUpScale = 18446744073709551616.0;

// Loads p[0, count) (count < Lanes) into the low lanes; the other lanes hold `fill`.
HWY_INLINE V LoadPartial(D d, const double* HWY_RESTRICT p, size_t count, double fill) {
#if HWY_MEM_OPS_MIGHT_FAULT
  HWY_ALIGN double buf[kMaxLanes];
  hn::Store(hn::Set(d, fill), d, buf);
  if (count != 0) std::memcpy(buf, p, count * sizeof(double));
  return hn::Load(d, buf);
#else
  const auto m = hn::FirstN(d, count);
  return hn::IfThenElse(m, hn::MaskedLoad(m, d, p), hn::Set(d, fill));
#endif
}

// Software prefetch distance for long inputs, in doubles (2 KiB ahead). Past L2 the kernels
// are bound by how many lines are in flight; prefetching every line 2 KiB ahead keeps the
// stream going across 4 KiB page boundaries, where the hardware prefetcher stops (measured:
// a few percent on 10,000-sample windows; 1 KiB is as good, 4 KiB worse). Only addresses
// inside [p, p + n) are prefetched.
constexpr size_t kPrefetchDoubles = 256;
constexpr size_t kDoublesPerLine = 64 / sizeof(double);

// Runs acc.Add(chain, v) over all of p[0, n) in vectors; padding lanes hold `fill` (the
// operation's identity). Long inputs use four independent chains so that dependent adds/max
// overlap, short ones (a typical 40-sample window) only chain 0, which keeps the final
// reduction cheap: there the instruction count per window is what limits how many windows'
// loads are in flight, and a second chain measured slower. Returns whether chains 1..3 were
// used.
template <class Acc>
HWY_INLINE bool ForEachVector(D d, const double* HWY_RESTRICT p, size_t n, double fill, Acc& acc) {
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  if (n < 8 * N) {
    for (; i + 2 * N <= n; i += 2 * N) {  // unrolled for fewer instructions, same order
      acc.Add(0, hn::LoadU(d, p + i));
      acc.Add(0, hn::LoadU(d, p + i + N));
    }
    if (i + N <= n) {
      acc.Add(0, hn::LoadU(d, p + i));
      i += N;
    }
    if (i < n) acc.Add(0, LoadPartial(d, p + i, n - i, fill));
    return false;
  }
  for (; i + 4 * N + kPrefetchDoubles <= n; i += 4 * N) {
    for (size_t b = 0; b < 4 * N; b += kDoublesPerLine) {
      hwy::Prefetch(p + i + kPrefetchDoubles + b);
    }
    acc.Add(0, hn::LoadU(d, p + i));
    acc.Add(1, hn::LoadU(d, p + i + N));
    acc.Add(2, hn::LoadU(d, p + i + 2 * N));
    acc.Add(3, hn::LoadU(d, p + i + 3 * N));
  }
  for (; i + 4 * N <= n; i += 4 * N) {
    acc.Add(0, hn::LoadU(d, p + i));
    acc.Add(1, hn::LoadU(d, p + i + N));
    acc.Add(2, hn::LoadU(d, p + i + 2 * N));
    acc.Add(3, hn::LoadU(d, p + i + 3 * N));
  }
  for (; i + N <= n; i += N) acc.Add(1, hn::LoadU(d, p + i));
  if (i < n) acc.Add(2, LoadPartial(d, p + i, n - i, fill));
  return true;
}

// Knuth's TwoSum: s + c accumulates x with the rounding error of every add kept in c.
template <class VV>
HWY_INLINE void TwoSumInto(VV& s, VV& c, VV x) {
  const VV t = hn::Add(s, x);
  const VV z = hn::Sub(t, s);
  const VV e = hn::Add(hn::Sub(s, hn::Sub(t, z)), hn::Sub(x, z));
  s = t;
  c = hn::Add(c, e);
}

// hi + lo is the sum; hi alone is non-finite exactly when the plain sum is (NaN input, both
// infinities, an infinity, or overflow), and lo is then meaningless.
struct SumParts {
  double hi = 0;
  double lo = 0;
};

// Halves the vector until one lane is left, adding the upper half into the lower with TwoSum,
// so the lane partial sums are combined without losing their rounding errors.
template <class DV>
HWY_INLINE SumParts ReduceTwoSum(DV dv, hn::Vec<DV> s, hn::Vec<DV> c) {
#if HWY_TARGET == HWY_SCALAR
  (void)dv;
  return SumParts{hn::GetLane(s), hn::GetLane(c)};
#elif HWY_HAVE_SCALABLE
  HWY_ALIGN double sl[kMaxLanes];
  HWY_ALIGN double cl[kMaxLanes];
  hn::Store(s, dv, sl);
  hn::Store(c, dv, cl);
  SumParts out;
  for (size_t i = 0; i < hn::Lanes(dv); ++i) {
    const double t = out.hi + sl[i];
    const double z = t - out.hi;
    out.lo += ((out.hi - (t - z)) + (sl[i] - z)) + cl[i];
    out.hi = t;
  }
  return out;
#else
  if constexpr (hn::MaxLanes(DV()) == 1) {
    (void)dv;
    return SumParts{hn::GetLane(s), hn::GetLane(c)};
  } else {
    const hn::Half<DV> dh;
    auto low = hn::LowerHalf(dh, s);
    auto comp = hn::Add(hn::LowerHalf(dh, c), hn::UpperHalf(dh, c));
    TwoSumInto(low, comp, hn::UpperHalf(dh, s));
    return ReduceTwoSum(dh, low, comp);
  }
#endif
}

// Member `name##i` for a chain index i that is a compile-time constant after inlining.
#define SEXTANT_CHAIN(name, i) \
  ((i) == 0 ? name##0 : (i) == 1 ? name##1 : (i) == 2 ? name##2 : name##3)

template <bool kScaled>
struct CompensatedSum {
  explicit CompensatedSum(D d) : scale(hn::Set(d, kDownScale)) {
    s0 = s1 = s2 = s3 = c0 = c1 = c2 = c3 = hn::Zero(d);
  }
  HWY_INLINE void Add(int i, V v) {
    TwoSumInto(SEXTANT_CHAIN(s, i), SEXTANT_CHAIN(c, i), kScaled ? hn::Mul(v, scale) : v);
  }
  SumParts Finish(D d, bool all_chains) const {
    if (!all_chains) return ReduceTwoSum(d, s0, c0);
    V a = s0, b = s2, ca = hn::Add(c0, c1), cb = hn::Add(c2, c3);
    TwoSumInto(a, ca, s1);
    TwoSumInto(b, cb, s3);
    TwoSumInto(a, ca, b);
    return ReduceTwoSum(d, a, hn::Add(ca, cb));
  }
  V scale;
  V s0, s1, s2, s3, c0, c1, c2, c3;
};

template <bool kScaled>
SumParts SumOf(const double* HWY_RESTRICT p, size_t n) {
  const D d;
  CompensatedSum<kScaled> acc(d);
  return acc.Finish(d, ForEachVector(d, p, n, 0.0, acc));
}

// Plain per-lane sums of x and of |x|: half the work of TwoSum per vector.
struct PlainSum {
  explicit PlainSum(D d) { s0 = s1 = s2 = s3 = a0 = a1 = a2 = a3 = hn::Zero(d); }
  HWY_INLINE void Add(int i, V v) {
    V& s = SEXTANT_CHAIN(s, i);
    V& a = SEXTANT_CHAIN(a, i);
    s = hn::Add(s, v);
    a = hn::Add(a, hn::Abs(v));
  }
  V s0, s1, s2, s3, a0, a1, a2, a3;
};

// The lane sums of s and of a through one shared reduction tree: the halves of both are
// combined into one vector (s partials low, a partials high) so every shuffle/add level
// serves both sums. A 40-sample window is only a handful of vectors, so the reduction is a
// large part of its cost.
struct LaneSums {
  double s;
  double a;
};
HWY_INLINE LaneSums SumOfLanesOfBoth(D d, V s, V a) {
#if HWY_TARGET == HWY_SCALAR
  (void)d;
  return {hn::GetLane(s), hn::GetLane(a)};
#elif HWY_HAVE_SCALABLE
  return {hn::GetLane(hn::SumOfLanes(d, s)), hn::GetLane(hn::SumOfLanes(d, a))};
#else
  constexpr size_t kLanes = hn::MaxLanes(D());
  if constexpr (kLanes == 1) {
    return {hn::GetLane(s), hn::GetLane(a)};
  } else if constexpr (kLanes == 2) {
    const V t = hn::Add(hn::InterleaveLower(d, s, a), hn::InterleaveUpper(d, s, a));
    return {hn::GetLane(t), hn::ExtractLane(t, 1)};
  } else if constexpr (kLanes == 4 || kLanes == 8) {
    const hn::Half<D> dh;
    const auto sh = hn::Add(hn::LowerHalf(dh, s), hn::UpperHalf(dh, s));
    const auto ah = hn::Add(hn::LowerHalf(dh, a), hn::UpperHalf(dh, a));
    V t = hn::Combine(d, ah, sh);
    if constexpr (kLanes == 8) t = hn::Add(t, hn::SwapAdjacentBlocks(t));
    t = hn::Add(t, hn::Reverse2(d, t));
    return {hn::GetLane(t), hn::GetLane(hn::UpperHalf(dh, t))};
  } else {
    return {hn::GetLane(hn::SumOfLanes(d, s)), hn::GetLane(hn::SumOfLanes(d, a))};
  }
#endif
}

// True, with *sum = the plain vector sum of p[0, n), if that sum is certified to be within
// 1e-12 relative of the exact sum; else false (the caller then runs the compensated pass).
// Every element passes through at most k = n/N + 8 roundings (its lane's chain, then the
// lane/chain tree), so the error is at most k * 2^-53 * sum|x| (Higham's bound, with margin);
// cancellation (sum|x| much larger than |sum|), NaN, Inf and overflow all fail the test.
// Short windows (n < 8N) use the constant k = 15 >= n/N + 8, which keeps their test to a few
// instructions.
HWY_INLINE bool CertifiedPlainSum(const double* HWY_RESTRICT p, size_t n, double* sum) {
  const D d;
  PlainSum acc(d);
  constexpr double kPerRounding = 1.01 * 0x1p-53;  // relative error per rounding, with margin
  V s = acc.s0;
  V a = acc.a0;
  double per_abs = 15 * kPerRounding;  // k * 1.01 * 2^-53
  if (ForEachVector(d, p, n, 0.0, acc)) {
    s = hn::Add(hn::Add(acc.s0, acc.s1), hn::Add(acc.s2, acc.s3));
    a = hn::Add(hn::Add(acc.a0, acc.a1), hn::Add(acc.a2, acc.a3));
    per_abs = static_cast<double>(n / hn::Lanes(d) + 8) * kPerRounding;
  } else {
    s = acc.s0;  // short windows use chain 0 only
    a = acc.a0;
  }
  const LaneSums sums = SumOfLanesOfBoth(d, s, a);
  const double bound = per_abs * sums.a;
  *sum = sums.s;
  return std::isfinite(sums.a) && bound <= 1e-12 * std::fabs(sums.s);
}

// The compensated pass, out of line so the common certified path stays small (a 40-sample
// window costs only a few dozen instructions, and every one of them counts).
HWY_NOINLINE double SumCompensated(const double* HWY_RESTRICT p, size_t n) {
  const SumParts s = SumOf<false>(p, n);
  return std::isfinite(s.hi) ? s.hi + s.lo : s.hi;
}

double SumImpl(const double* HWY_RESTRICT p, size_t n) {
  double sum;
  if (HWY_LIKELY(CertifiedPlainSum(p, n, &sum))) return sum;
  return SumCompensated(p, n);
}

// Mean from the compensated sum (out of line, like SumCompensated); re-sums on scaled values
// when a finite input overflowed the sum.
HWY_NOINLINE double MeanCompensated(const double* HWY_RESTRICT p, size_t n) {
  const SumParts s = SumOf<false>(p, n);
  const double count = static_cast<double>(n);
  if (std::isfinite(s.hi)) return (s.hi + s.lo) / count;
  if (std::isinf(s.hi)) {
    const SumParts scaled = SumOf<true>(p, n);
    if (std::isfinite(scaled.hi)) return ((scaled.hi + scaled.lo) / count) * kUpScale;
  }
  return s.hi / count;
}

double MeanImpl(const double* HWY_RESTRICT p, size_t n) {
  double sum;
  if (HWY_LIKELY(CertifiedPlainSum(p, n, &sum))) return sum / static_cast<double>(n);
  return MeanCompensated(p, n);
}

// NaN lanes are replaced by the identity, so NaN only wins when nothing else is there.
template <bool kMax>
struct Extremum {
  explicit Extremum(D d) : identity(hn::Set(d, kMax ? -kInf : kInf)) {
    a0 = a1 = a2 = a3 = identity;
  }
  HWY_INLINE V Clean(V v) const { return hn::IfThenElse(hn::Eq(v, v), v, identity); }
  HWY_INLINE void Add(int i, V v) {
    V& a = SEXTANT_CHAIN(a, i);
    a = kMax ? hn::Max(a, Clean(v)) : hn::Min(a, Clean(v));
  }
  double Finish(D d, bool all_chains) const {
    if (!all_chains) return hn::GetLane(kMax ? hn::MaxOfLanes(d, a0) : hn::MinOfLanes(d, a0));
    if (kMax) return hn::GetLane(hn::MaxOfLanes(d, hn::Max(hn::Max(a0, a1), hn::Max(a2, a3))));
    return hn::GetLane(hn::MinOfLanes(d, hn::Min(hn::Min(a0, a1), hn::Min(a2, a3))));
  }
  V identity;
  V a0, a1, a2, a3;
};

template <bool kMax>
double ExtremumImpl(const double* HWY_RESTRICT p, size_t n) {
  const D d;
  Extremum<kMax> acc(d);
  const double identity = kMax ? -kInf : kInf;
  const double r = acc.Finish(d, ForEachVector(d, p, n, identity, acc));
  if (r != identity) return r;
  // Either every sample is NaN or every other one equals the identity: look once.
  for (size_t i = 0; i < n; ++i) {
    if (!std::isnan(p[i])) return identity;
  }
  return kNaN;
}

double MinImpl(const double* HWY_RESTRICT p, size_t n) { return ExtremumImpl<false>(p, n); }
double MaxImpl(const double* HWY_RESTRICT p, size_t n) { return ExtremumImpl<true>(p, n); }

// Pass one of the variance: compensated sum of x - x0 (x0 = the first sample, also the fill of
// padding lanes, so padding adds 0 and cannot move min/max) plus min and max of x.
struct ShiftedSumMinMax {
  ShiftedSumMinMax(D d, double x0) : shift(hn::Set(d, x0)), sum(d), lo(d), hi(d) {}
  HWY_INLINE void Add(int i, V v) {
    sum.Add(i, hn::Sub(v, shift));
    V& low = SEXTANT_CHAIN(lo.a, i);
    V& high = SEXTANT_CHAIN(hi.a, i);
    low = hn::Min(low, v);
    high = hn::Max(high, v);
  }
  V shift;
  CompensatedSum<false> sum;
  Extremum<false> lo;
  Extremum<true> hi;
};

// Pass two: deviations x - mean (padding lanes hold the mean): plain sum of them and
// compensated sum of their squares.
struct Deviations {
  Deviations(D d, double mean) : m(hn::Set(d, mean)), sq(d) { d0 = d1 = d2 = d3 = hn::Zero(d); }
  HWY_INLINE void Add(int i, V v) {
    const V x = hn::Sub(v, m);
    V& dev = SEXTANT_CHAIN(d, i);
    dev = hn::Add(dev, x);
    sq.Add(i, hn::Mul(x, x));
  }
  V m;
  CompensatedSum<false> sq;
  V d0, d1, d2, d3;
};

// Corrected two-pass variance: sum((x - m)^2) - (sum(x - m))^2 / n is exact for any m in real
// arithmetic, so the small error of the computed mean m cancels out; the result is within a
// few ulp of the exact variance. `ill_conditioned` is set when |mean| / stddev > 1e4: there
// upstream's own Kahan-Welford rounding approaches 1e-9 relative, so the caller replays it.
Variance StdVarImpl(const double* HWY_RESTRICT p, size_t n) {
  const D d;
  const double x0 = p[0];
  ShiftedSumMinMax pass1(d, x0);
  const bool all_chains = ForEachVector(d, p, n, x0, pass1);
  const SumParts shifted = pass1.sum.Finish(d, all_chains);
  // Any NaN makes the shifted sum NaN; an infinity shows in min or max. Both give NaN
  // upstream (its Welford update computes Inf - Inf or Inf * 0).
  if (std::isnan(shifted.hi)) return {kNaN, false};
  const double lowest = pass1.lo.Finish(d, all_chains);
  const double highest = pass1.hi.Finish(d, all_chains);
  if (std::isinf(lowest) || std::isinf(highest)) return {kNaN, false};
  if (lowest == highest) return {0, false};  // constant window: exactly 0, like upstream
  const double count = static_cast<double>(n);
  // Differences of huge finite values can overflow: then take the mean directly.
  const double mean =
      std::isfinite(shifted.hi) ? x0 + (shifted.hi + shifted.lo) / count : MeanImpl(p, n);
  Deviations pass2(d, mean);
  ForEachVector(d, p, n, mean, pass2);
  const SumParts sq = pass2.sq.Finish(d, all_chains);
  const double sum_dev = hn::GetLane(
      hn::SumOfLanes(d, hn::Add(hn::Add(pass2.d0, pass2.d1), hn::Add(pass2.d2, pass2.d3))));
  if (!std::isfinite(sq.hi)) return {sq.hi / count, false};
  const double var = ((sq.hi + sq.lo) - sum_dev * sum_dev / count) / count;
  const double value = var < 0 ? 0 : var;
  return {value, mean * mean > 1e8 * value};
}

// ---- Quantile: three-way quickselect with vectorized partitions --------------------------

// Regions up to this size are finished by rank counting (RankSelect).
constexpr size_t kRankSelect = 16;

struct Split {
  size_t lt = 0;   // elements < pivot, now at dst[0, lt)
  size_t gt = 0;   // elements > pivot, now at dst[count - gt, count)
  size_t nan = 0;  // NaN elements (dropped; only counted when kDropNaN)
};

// Three-way partition of src[0, count) into dst[0, count): smaller elements packed from the
// front, larger ones from the back; elements equal to the pivot (and NaN) are only counted.
// CompressStore may write a whole vector at dst + lt; that stays below the back region
// because at least a vector of input is still unplaced whenever it runs. The scalar tail is
// branchless: it writes each element at both ends of the unplaced gap and advances only the
// side it belongs to (the gap is never empty while an element is unplaced).
template <bool kDropNaN>
Split PartitionAround(const double* HWY_RESTRICT src, size_t count, double pivot,
                      double* HWY_RESTRICT dst) {
  const D d;
  const size_t N = hn::Lanes(d);
  const V vp = hn::Set(d, pivot);
  size_t l = 0, r = count, nan = 0, i = 0;
  for (; i + N <= count; i += N) {
    const V v = hn::LoadU(d, src + i);
    const auto lt = hn::Lt(v, vp);
    const auto gt = hn::Gt(v, vp);
    l += hn::CompressStore(v, lt, d, dst + l);
    r -= hn::CountTrue(d, gt);
    hn::CompressBlendedStore(v, gt, d, dst + r);
    if (kDropNaN) nan += hn::CountTrue(d, hn::Not(hn::Eq(v, v)));
  }
  for (; i < count; ++i) {
    const double x = src[i];
    dst[l] = x;
    dst[r - 1] = x;
    l += x < pivot;
    r -= x > pivot;
    if (kDropNaN) nan += std::isnan(x);
  }
  return Split{l, count - r, nan};
}

// Minimum of a NaN-free, non-empty range.
double MinOfRange(const double* HWY_RESTRICT p, size_t n) {
  const D d;
  Extremum<false> acc(d);
  return acc.Finish(d, ForEachVector(d, p, n, kInf, acc));
}

// Order statistics k and k+1 of a small NaN-free p[0, m) by counting, for every element, how
// many are smaller (lt) and not larger (le): it fills sorted positions [lt, le). Branch-free,
// O(m^2 / lanes). When k + 1 == m the (k+1)-th is `above`.
void RankSelect(const double* HWY_RESTRICT p, size_t m, size_t k, bool want_next, double above,
                double* lower, double* upper) {
  const D d;
  const size_t N = hn::Lanes(d);
  const V one = hn::Set(d, 1.0);
  const V rank_k = hn::Set(d, static_cast<double>(k));
  const V rank_next = hn::Set(d, static_cast<double>(k + 1));
  bool need_lower = true;
  bool need_upper = want_next && k + 1 < m;
  if (want_next && !need_upper) *upper = above;
  HWY_ALIGN double lanes[kMaxLanes];
  for (size_t b = 0; b < m && (need_lower || need_upper); b += N) {
    // NaN padding compares false everywhere: lt = le = 0, so it is never picked.
    const V c = b + N <= m ? hn::LoadU(d, p + b) : LoadPartial(d, p + b, m - b, kNaN);
    V lt0 = hn::Zero(d), le0 = hn::Zero(d), lt1 = hn::Zero(d), le1 = hn::Zero(d);
    size_t j = 0;
    for (; j + 2 <= m; j += 2) {
      const V x0 = hn::Set(d, p[j]);
      const V x1 = hn::Set(d, p[j + 1]);
      lt0 = hn::Add(lt0, hn::IfThenElseZero(hn::Lt(x0, c), one));
      le0 = hn::Add(le0, hn::IfThenElseZero(hn::Le(x0, c), one));
      lt1 = hn::Add(lt1, hn::IfThenElseZero(hn::Lt(x1, c), one));
      le1 = hn::Add(le1, hn::IfThenElseZero(hn::Le(x1, c), one));
    }
    if (j < m) {
      const V x = hn::Set(d, p[j]);
      lt0 = hn::Add(lt0, hn::IfThenElseZero(hn::Lt(x, c), one));
      le0 = hn::Add(le0, hn::IfThenElseZero(hn::Le(x, c), one));
    }
    const V lt = hn::Add(lt0, lt1);
    const V le = hn::Add(le0, le1);
    hn::Store(c, d, lanes);
    if (need_lower) {
      const auto hit = hn::And(hn::Le(lt, rank_k), hn::Lt(rank_k, le));
      if (!hn::AllFalse(d, hit)) {
        *lower = lanes[hn::FindFirstTrue(d, hit)];
        need_lower = false;
      }
    }
    if (need_upper) {
      const auto hit = hn::And(hn::Le(lt, rank_next), hn::Lt(rank_next, le));
      if (!hn::AllFalse(d, hit)) {
        *upper = lanes[hn::FindFirstTrue(d, hit)];
        need_upper = false;
      }
    }
  }
}

inline double Median3(double a, double b, double c) {
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

double PivotOf(const double* p, size_t n) {
  if (n >= 1024) {
    const size_t s = n / 8;
    return Median3(Median3(p[0], p[s], p[2 * s]), Median3(p[3 * s], p[4 * s], p[5 * s]),
                   Median3(p[6 * s], p[7 * s], p[n - 1]));
  }
  return Median3(p[0], p[n / 2], p[n - 1]);
}

// Finds the k-th smallest (and, when want_next, the (k+1)-th) of the NaN-free values at
// cur[lo, hi), which may be reordered; `other` is the ping-pong buffer (same offsets).
// `above` is the smallest value known to rank right after the region. Partitions around
// median-of-3 (ninther for large regions) pivots; after 2 log2(n) + 8 rounds without reaching
// a small region it falls back to std::nth_element (introselect's guard against bad pivots).
void SelectInRegion(double* cur, double* other, size_t lo, size_t hi, size_t k, bool want_next,
                    double above, double* lower, double* upper) {
  int budget = 8;
  for (size_t s = hi - lo; s > 1; s >>= 1) budget += 2;
  while (hi - lo > kRankSelect) {
    const size_t size = hi - lo;
    if (budget-- == 0) {
      double* region = cur + lo;
      std::nth_element(region, region + k, region + size);
      *lower = region[k];
      if (want_next) *upper = k + 1 < size ? MinOfRange(region + k + 1, size - k - 1) : above;
      return;
    }
    const double pivot = PivotOf(cur + lo, size);
    const Split split = PartitionAround<false>(cur + lo, size, pivot, other + lo);
    std::swap(cur, other);
    const size_t eq = size - split.lt - split.gt;
    if (k < split.lt) {
      hi = lo + split.lt;
      above = pivot;
    } else if (k < split.lt + eq) {
      *lower = pivot;
      if (want_next) {
        if (k + 1 < split.lt + eq) {
          *upper = pivot;
        } else {
          *upper = split.gt != 0 ? MinOfRange(cur + hi - split.gt, split.gt) : above;
        }
      }
      return;
    } else {
      k -= split.lt + eq;
      lo = hi - split.gt;
    }
  }
  RankSelect(cur + lo, hi - lo, k, want_next, above, lower, upper);
}

// Order statistics k and k+1 (NaN first) of values[0, n) for quantile interpolation.
// REQUIRES: n >= 1, k < n, k + 1 < n when want_next; scratch holds 2n doubles.
void SelectImpl(const double* HWY_RESTRICT values, size_t n, size_t k, bool want_next,
                double* HWY_RESTRICT scratch, double* lower, double* upper) {
  double* a = scratch;
  double* b = scratch + n;
  *lower = *upper = kNaN;
  if (n <= kRankSelect) {
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      a[m] = values[i];
      m += !std::isnan(values[i]);
    }
    const size_t nan = n - m;
    if (k < nan) return;  // the lower rank is a NaN: the quantile is NaN
    RankSelect(a, m, k - nan, want_next, kInf, lower, upper);
    return;
  }
  // First pass straight from the caller's values, dropping NaNs.
  double pivot = Median3(values[0], values[n / 2], values[n - 1]);
  if (std::isnan(pivot)) {
    size_t i = 0;
    while (i < n && std::isnan(values[i])) ++i;
    if (i == n) return;  // all NaN
    pivot = values[i];
  }
  const Split split = PartitionAround<true>(values, n, pivot, a);
  if (k < split.nan) return;
  k -= split.nan;
  const size_t eq = n - split.nan - split.lt - split.gt;
  if (k < split.lt) {
    SelectInRegion(a, b, 0, split.lt, k, want_next, pivot, lower, upper);
  } else if (k < split.lt + eq) {
    *lower = pivot;
    if (want_next) {
      *upper = k + 1 < split.lt + eq ? pivot : MinOfRange(a + n - split.gt, split.gt);
    }
  } else {
    SelectInRegion(a, b, n - split.gt, n, k - split.lt - eq, want_next, kInf, lower, upper);
  }
}

// ---- Rate family ----------------------------------------------------------------------------

// last - first plus, for each counter reset (a sample below its predecessor), the value before
// it, added in sample order like upstream. REQUIRES: n >= 2.
double CounterIncreaseImpl(const double* HWY_RESTRICT v, size_t n) {
  const D d;
  const size_t N = hn::Lanes(d);
  double result = v[n - 1] - v[0];
  size_t i = 1;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto m0 = hn::Lt(hn::LoadU(d, v + i), hn::LoadU(d, v + i - 1));
    const auto m1 = hn::Lt(hn::LoadU(d, v + i + N), hn::LoadU(d, v + i + N - 1));
    if (hn::AllFalse(d, hn::Or(m0, m1))) continue;
    for (size_t j = i; j < i + 2 * N; ++j) {
      if (v[j] < v[j - 1]) result += v[j - 1];
    }
  }
  for (; i < n; ++i) {
    if (v[i] < v[i - 1]) result += v[i - 1];
  }
  return result;
}

#undef SEXTANT_CHAIN

int64_t TargetImpl() { return HWY_TARGET; }
size_t LanesImpl() { return hn::Lanes(D()); }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace sextant::scaling::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sextant::scaling::kernels {

HWY_EXPORT(SumImpl);
HWY_EXPORT(MeanImpl);
HWY_EXPORT(MinImpl);
HWY_EXPORT(MaxImpl);
HWY_EXPORT(StdVarImpl);
HWY_EXPORT(SelectImpl);
HWY_EXPORT(CounterIncreaseImpl);
HWY_EXPORT(TargetImpl);
HWY_EXPORT(LanesImpl);

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// HWY_DYNAMIC_DISPATCH without its call into libhwy per kernel call: the ChosenTarget
// singleton's address never changes, so it is fetched once; its target mask is still read on
// every call, so hwy::SetSupportedTargetsForTest (the per-target tests) takes effect as
// before. Saves a cross-library call on every 40-sample window.
std::atomic<hwy::ChosenTarget*> chosen_target{nullptr};  // constant-initialized
HWY_INLINE hwy::ChosenTarget& Chosen() {
  hwy::ChosenTarget* chosen = chosen_target.load(std::memory_order_relaxed);
  if (HWY_UNLIKELY(chosen == nullptr)) {
    chosen = &hwy::GetChosenTarget();  // the same object for every thread: racing is benign
    chosen_target.store(chosen, std::memory_order_relaxed);
  }
  return *chosen;
}
#define SEXTANT_DISPATCH(FUNC_NAME) (*(HWY_DISPATCH_TABLE(FUNC_NAME)[Chosen().GetIndex()]))

// Go's time.Duration.Seconds() for a duration given in milliseconds (upstream divides rate by
// the range's Seconds()).
double DurationSeconds(int64_t ms) {
  const int64_t ns = ms * 1000000;
  return static_cast<double>(ns / 1000000000) + static_cast<double>(ns % 1000000000) / 1e9;
}

// extrapolatedRate's float path given the (reset-corrected) raw result.
double Extrapolate(double result, const double* v, const int64_t* ts, size_t n, int64_t range_start,
                   int64_t range_end, bool is_counter, bool is_rate, PrometheusVersion version) {
  double to_start = static_cast<double>(ts[0] - range_start) / 1000;
  double to_end = static_cast<double>(range_end - ts[n - 1]) / 1000;
  const double sampled = static_cast<double>(ts[n - 1] - ts[0]) / 1000;
  const double avg = sampled / static_cast<double>(n - 1);
  const double threshold = avg * 1.1;
  // Extrapolating below zero is not allowed for counters; the zero point is where a line
  // through the samples would reach 0.
  const bool zero_clamp = is_counter && result > 0 && v[0] >= 0;
  if (version == PrometheusVersion::kV3) {
    if (to_start >= threshold) to_start = avg / 2;
    if (zero_clamp) to_start = std::min(to_start, sampled * (v[0] / result));
    if (to_end >= threshold) to_end = avg / 2;
    double factor = (sampled + to_start + to_end) / sampled;
    if (is_rate) factor /= DurationSeconds(range_end - range_start);
    return result * factor;
  }
  if (zero_clamp) to_start = std::min(to_start, sampled * (v[0] / result));
  double interval = sampled;
  interval += to_start < threshold ? to_start : avg / 2;
  interval += to_end < threshold ? to_end : avg / 2;
  double factor = interval / sampled;
  if (is_rate) factor /= DurationSeconds(range_end - range_start);
  return result * factor;
}

// Upstream's stdvar_over_time loop, operation for operation (Kahan-Neumaier increments of a
// Welford update), for ill-conditioned windows where its rounding is what must be matched.
// Sequential; compiled for the baseline target only, so no FMA contraction can change it.
inline void KahanInc(double inc, double& sum, double& c) {
  const double t = sum + inc;
  if (std::isinf(t)) {
    c = 0;
  } else if (std::fabs(sum) >= std::fabs(inc)) {
    c += (sum - t) + inc;
  } else {
    c += (inc - t) + sum;
  }
  sum = t;
}

double UpstreamWelford(const double* values, size_t n) {
  double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
  for (size_t i = 0; i < n; ++i) {
    count++;
    const double delta = values[i] - (mean + c_mean);
    KahanInc(delta / count, mean, c_mean);
    KahanInc(delta * (values[i] - (mean + c_mean)), aux, c_aux);
  }
  return (aux + c_aux) / count;
}

}  // namespace

double Sum(const double* values, size_t n) {
  return n == 0 ? kNaN : SEXTANT_DISPATCH(SumImpl)(values, n);
}
double Mean(const double* values, size_t n) {
  return n == 0 ? kNaN : SEXTANT_DISPATCH(MeanImpl)(values, n);
}
double Min(const double* values, size_t n) {
  return n == 0 ? kNaN : SEXTANT_DISPATCH(MinImpl)(values, n);
}
double Max(const double* values, size_t n) {
  return n == 0 ? kNaN : SEXTANT_DISPATCH(MaxImpl)(values, n);
}
double Count(size_t n) { return n == 0 ? kNaN : static_cast<double>(n); }
double Last(const double* values, size_t n) { return n == 0 ? kNaN : values[n - 1]; }
double StdVar(const double* values, size_t n) {
  if (n == 0) return kNaN;
  const auto variance = SEXTANT_DISPATCH(StdVarImpl)(values, n);
  return variance.ill_conditioned ? UpstreamWelford(values, n) : variance.value;
}
double StdDev(const double* values, size_t n) { return std::sqrt(StdVar(values, n)); }

size_t QuantileScratchSize(size_t n) { return 2 * n; }

double Quantile(double q, const double* values, size_t n, double* scratch) {
  if (n == 0 || std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  // Upstream's arithmetic, term by term.
  const double count = static_cast<double>(n);
  const double rank = q * (count - 1);
  const double lower_index = std::max(0.0, std::floor(rank));
  const double upper_index = std::min(count - 1, lower_index + 1);
  const double weight = rank - std::floor(rank);
  const size_t k = static_cast<size_t>(lower_index);
  const bool want_next = static_cast<size_t>(upper_index) != k;
  double lower = kNaN, upper = kNaN;
  SEXTANT_DISPATCH(SelectImpl)(values, n, k, want_next, scratch, &lower, &upper);
  if (!want_next) upper = lower;
  return lower * (1 - weight) + upper * weight;
}

double Rate(const double* values, const int64_t* timestamps_ms, size_t n, int64_t range_start_ms,
            int64_t range_end_ms, PrometheusVersion version) {
  if (n < 2) return kNaN;
  const double raw = SEXTANT_DISPATCH(CounterIncreaseImpl)(values, n);
  return Extrapolate(raw, values, timestamps_ms, n, range_start_ms, range_end_ms, true, true,
                     version);
}

double Increase(const double* values, const int64_t* timestamps_ms, size_t n,
                int64_t range_start_ms, int64_t range_end_ms, PrometheusVersion version) {
  if (n < 2) return kNaN;
  const double raw = SEXTANT_DISPATCH(CounterIncreaseImpl)(values, n);
  return Extrapolate(raw, values, timestamps_ms, n, range_start_ms, range_end_ms, true, false,
                     version);
}

double Delta(const double* values, const int64_t* timestamps_ms, size_t n, int64_t range_start_ms,
             int64_t range_end_ms, PrometheusVersion version) {
  if (n < 2) return kNaN;
  return Extrapolate(values[n - 1] - values[0], values, timestamps_ms, n, range_start_ms,
                     range_end_ms, false, false, version);
}

double SumAcross(const double* values, size_t n) { return Sum(values, n); }
double MeanAcross(const double* values, size_t n) { return Mean(values, n); }
double MinAcross(const double* values, size_t n) { return Min(values, n); }
double MaxAcross(const double* values, size_t n) { return Max(values, n); }
double CountAcross(size_t n) { return Count(n); }

SeriesGroups GroupBy(std::span<const std::string_view> keys) {
  SeriesGroups g;
  g.group_of.resize(keys.size());
  std::unordered_map<std::string_view, uint32_t> index;
  index.reserve(keys.size());
  std::vector<uint32_t> sizes;
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto [it, inserted] = index.try_emplace(keys[i], static_cast<uint32_t>(g.keys.size()));
    if (inserted) {
      g.keys.push_back(keys[i]);
      sizes.push_back(0);
    }
    g.group_of[i] = it->second;
    ++sizes[it->second];
  }
  g.offsets.assign(g.keys.size() + 1, 0);
  for (size_t k = 0; k < sizes.size(); ++k) g.offsets[k + 1] = g.offsets[k] + sizes[k];
  g.members.resize(keys.size());
  std::vector<uint32_t> next(g.offsets.begin(), g.offsets.end() - 1);
  for (size_t i = 0; i < keys.size(); ++i)
    g.members[next[g.group_of[i]]++] = static_cast<uint32_t>(i);
  return g;
}

void AggregateGroups(AcrossOp op, const SeriesGroups& groups, const double* values, double* out,
                     double* scratch) {
  for (size_t g = 0; g + 1 < groups.offsets.size(); ++g) {
    const size_t begin = groups.offsets[g];
    const size_t n = groups.offsets[g + 1] - begin;
    for (size_t j = 0; j < n; ++j) scratch[j] = values[groups.members[begin + j]];
    switch (op) {
      case AcrossOp::kSum:
        out[g] = SumAcross(scratch, n);
        break;
      case AcrossOp::kMean:
        out[g] = MeanAcross(scratch, n);
        break;
      case AcrossOp::kMin:
        out[g] = MinAcross(scratch, n);
        break;
      case AcrossOp::kMax:
        out[g] = MaxAcross(scratch, n);
        break;
      case AcrossOp::kCount:
        out[g] = CountAcross(n);
        break;
    }
  }
}

const char* KernelTargetName() { return hwy::TargetName(SEXTANT_DISPATCH(TargetImpl)()); }
size_t KernelLanes() { return SEXTANT_DISPATCH(LanesImpl)(); }
std::vector<int64_t> KernelTargets() { return hwy::SupportedAndGeneratedTargets(); }

#undef SEXTANT_DISPATCH

}  // namespace sextant::scaling::kernels
#endif  // HWY_ONCE
