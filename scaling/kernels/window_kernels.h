// Windowed aggregation kernels: PromQL's *_over_time functions, rate/increase/delta and the
// sum/avg/min/max/count aggregators, computed in-process over one window of samples.
//
// Results equal what Prometheus returns for the equivalent PromQL within 1e-9 relative (see
// each function for the exact semantics and the cases where only Prometheus' own rounding
// differs). The implementations use Google Highway with runtime dispatch: every call picks the
// best instruction set this CPU supports (scalar, SSSE3, SSE4, AVX2, AVX-512, ...); results
// agree across targets within the tolerances stated here (bit for bit except sums/variances).
//
// Common contract of every kernel over `const double* values, size_t n`:
//   - any n (0 included), any alignment of `values`, no padding: nothing is read before
//     values[0] or past values[n - 1];
//   - nothing is allocated (Quantile uses only the caller's scratch buffer);
//   - values are float samples in timestamp order (oldest first); NaN and +-Inf are valid;
//   - n == 0 returns NaN: Prometheus emits no sample for an empty window, callers check n.
// Sums (Sum, Mean, the across versions) are within 1e-12 relative of the exact sum, so within
// 1e-9 of Prometheus' Kahan-Neumaier loop whatever the order: a plain vector sum is accepted
// only when its error bound, computed alongside from sum(|x|), certifies that; otherwise
// (cancellation, NaN, Inf, overflow) a compensated TwoSum pass decides, as accurate as
// upstream's compensated loop. Intermediate overflow of partial sums (|sum| > 1.8e308) may
// happen in a different place than upstream.
//
// Thread safety: every function is pure (no shared state besides Highway's one-time CPU
// detection, which is thread-safe); callers may run any number of them concurrently.
// Errors: there are none to report; undefined inputs (REQUIRES below) give unspecified values.
#ifndef SEXTANT_SCALING_KERNELS_WINDOW_KERNELS_H_
#define SEXTANT_SCALING_KERNELS_WINDOW_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace sextant::scaling::kernels {

// --- One series' window ("over time") -------------------------------------------------------

// sum_over_time. NaN anywhere -> NaN; +Inf and -Inf together -> NaN; else +-Inf if present.
double Sum(const double* values, size_t n);
// avg_over_time: the sum (as above) / n. A finite sum that overflows is redone on values
// scaled by 2^-64, matching Prometheus' switch to an incremental mean (no spurious Inf).
double Mean(const double* values, size_t n);
// min_over_time / max_over_time: NaN samples are ignored unless every sample is NaN.
// The sign of a zero result (+0 vs -0) may differ from Prometheus.
double Min(const double* values, size_t n);
double Max(const double* values, size_t n);
// count_over_time.
double Count(size_t n);
// last_over_time: values[n - 1].
double Last(const double* values, size_t n);
// stdvar_over_time / stddev_over_time: population variance (divides by n). Two SIMD passes:
// compensated mean, then compensated sum of squared deviations with the (sum of deviations)^2/n
// correction, which is within a few ulp of the exact variance. Upstream's Kahan-Welford loop
// has its own rounding error of about 3e-15 * |mean| / stddev relative; where that could reach
// 1e-9 (|mean| / stddev > 1e4) the window is recomputed with upstream's loop, operation for
// operation, so results stay within 1e-9 of Prometheus everywhere. Any NaN or +-Inf sample ->
// NaN. A constant window gives exactly 0.
double StdVar(const double* values, size_t n);
double StdDev(const double* values, size_t n);

// quantile_over_time(q, ...): Prometheus' linear interpolation between the order statistics at
// floor(q*(n-1)) and the next one, computed as lower*(1-w) + upper*w exactly like upstream.
// q < 0 -> -Inf, q > 1 -> +Inf, q NaN -> NaN. NaN samples sort below everything (upstream's
// order), so a rank that lands on a NaN yields NaN. Uses selection (vectorized three-way
// quickselect partitions, introselect fallback), never a full sort.
// REQUIRES: scratch points to QuantileScratchSize(n) writable doubles (any alignment) that do
// not overlap values; its contents are clobbered.
size_t QuantileScratchSize(size_t n);
double Quantile(double q, const double* values, size_t n, double* scratch);

// Which Prometheus the rate family follows where releases differ. v3 (default, current
// upstream) clamps extrapolation at the counter's zero point after the 1.1x-average-interval
// threshold test; v2 (2.40 to 2.55, e.g. Debian's 2.42 promtool) applied the zero-point clamp
// first. (Before 2.40 the reset correction was summed apart: same values to ~1 ulp.)
// The window itself also differs (v3 selects (start, end], v2 [start, end]): that is the
// caller's sample selection and is not checked here.
enum class PrometheusVersion { kV2, kV3 };

// rate / increase / delta with Prometheus' extrapolatedRate rules: counter resets add the
// value before the reset (rate, increase); extrapolation to each window boundary only when
// the first/last sample lies within 1.1x the average sample interval of it, else by half an
// interval; counters are not extrapolated below zero. rate divides by the range in seconds.
// `range_start_ms`/`range_end_ms` are the window bounds (eval time - range, eval time).
// REQUIRES: timestamps_ms strictly increasing, same length as values, samples within the
// window. n < 2 returns NaN (Prometheus emits no sample). Resets are added in sample order, so
// results are bit-identical to upstream's float arithmetic on x86-64.
double Rate(const double* values, const int64_t* timestamps_ms, size_t n, int64_t range_start_ms,
            int64_t range_end_ms, PrometheusVersion version = PrometheusVersion::kV3);
double Increase(const double* values, const int64_t* timestamps_ms, size_t n,
                int64_t range_start_ms, int64_t range_end_ms,
                PrometheusVersion version = PrometheusVersion::kV3);
double Delta(const double* values, const int64_t* timestamps_ms, size_t n, int64_t range_start_ms,
             int64_t range_end_ms, PrometheusVersion version = PrometheusVersion::kV3);

// --- Across series (one value per series at one instant) -------------------------------------

// sum / avg / min / max / count by (...) over the values of one group; same numerics and NaN
// rules as the over-time functions above (upstream uses the same algorithms for both).
double SumAcross(const double* values, size_t n);
double MeanAcross(const double* values, size_t n);
double MinAcross(const double* values, size_t n);
double MaxAcross(const double* values, size_t n);
double CountAcross(size_t n);

// Groups series by key (the rendered grouping labels). Scalar; allocates the result.
struct SeriesGroups {
  std::vector<std::string_view> keys;  // distinct keys, first-appearance order (caller's views)
  std::vector<uint32_t> group_of;      // group index of each series
  std::vector<uint32_t> offsets;       // keys.size() + 1; group g = members[offsets[g], [g+1])
  std::vector<uint32_t> members;       // series indices, ascending within each group
};
// REQUIRES: keys.size() < 2^32. The views in the result point into the caller's strings.
SeriesGroups GroupBy(std::span<const std::string_view> keys);

enum class AcrossOp { kSum, kMean, kMin, kMax, kCount };
// out[g] = op over values[i] for the members i of group g. Allocates nothing.
// REQUIRES: values has groups.group_of.size() entries, out has groups.keys.size(), scratch has
// groups.group_of.size() writable doubles (gather buffer).
void AggregateGroups(AcrossOp op, const SeriesGroups& groups, const double* values, double* out,
                     double* scratch);

// --- Introspection (tests, benchmarks, logs) ---------------------------------------------------

// Name and double-lane count of the target the dispatcher uses now ("AVX3_DL", 8).
const char* KernelTargetName();
size_t KernelLanes();
// Every target compiled into the kernels that this CPU supports (hwy target bits), for tests
// that force each one with hwy::SetSupportedTargetsForTest.
std::vector<int64_t> KernelTargets();

}  // namespace sextant::scaling::kernels

#endif  // SEXTANT_SCALING_KERNELS_WINDOW_KERNELS_H_
