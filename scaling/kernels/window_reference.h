// Scalar reference implementations of the window kernels (window_kernels.h), written the plain
// way: one sequential loop each, following Prometheus' promql/functions.go and engine.go
// (current upstream, 3.x) statement by statement: Kahan-Neumaier sums (kahansum.Inc), avg with
// its switch to an incremental mean on overflow, Kahan-compensated Welford variance, quantile
// by sorting (NaN first), extrapolatedRate. Tests compare the SIMD kernels with these; the
// benchmarks measure the kernels against them.
//
// Same input contract as window_kernels.h (any n, NaN for an empty window / n < 2 for the rate
// family). Nothing allocates: Quantile sorts a copy in the caller's scratch buffer.
// Thread safety: pure functions.
#ifndef SEXTANT_SCALING_KERNELS_WINDOW_REFERENCE_H_
#define SEXTANT_SCALING_KERNELS_WINDOW_REFERENCE_H_

#include <cstddef>
#include <cstdint>

#include "scaling/kernels/window_kernels.h"

namespace sextant::scaling::kernels::reference {

double Sum(const double* values, size_t n);
double Mean(const double* values, size_t n);
double Min(const double* values, size_t n);
double Max(const double* values, size_t n);
double Count(size_t n);
double Last(const double* values, size_t n);
double StdVar(const double* values, size_t n);
double StdDev(const double* values, size_t n);
// REQUIRES: scratch has n writable doubles.
double Quantile(double q, const double* values, size_t n, double* scratch);

double Rate(const double* values, const int64_t* timestamps_ms, size_t n, int64_t range_start_ms,
            int64_t range_end_ms, PrometheusVersion version = PrometheusVersion::kV3);
double Increase(const double* values, const int64_t* timestamps_ms, size_t n,
                int64_t range_start_ms, int64_t range_end_ms,
                PrometheusVersion version = PrometheusVersion::kV3);
double Delta(const double* values, const int64_t* timestamps_ms, size_t n, int64_t range_start_ms,
             int64_t range_end_ms, PrometheusVersion version = PrometheusVersion::kV3);

// Across series: the aggregation operators' loops (sum, avg, min, max, count).
double SumAcross(const double* values, size_t n);
double MeanAcross(const double* values, size_t n);
double MinAcross(const double* values, size_t n);
double MaxAcross(const double* values, size_t n);
double CountAcross(size_t n);

// A plain sequential (uncompensated) sum, as a naive loop would write it: a second baseline
// for benchmarks, not a Prometheus semantics reference.
double NaiveSum(const double* values, size_t n);

}  // namespace sextant::scaling::kernels::reference

#endif  // SEXTANT_SCALING_KERNELS_WINDOW_REFERENCE_H_
