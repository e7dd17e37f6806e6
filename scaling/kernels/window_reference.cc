// Scalar references: one plain loop per function, following upstream Prometheus' semantics and
// operation order (see window_reference.h).
#include "scaling/kernels/window_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace sextant::scaling::kernels::reference {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Kahan-Neumaier increment as in Prometheus' util/kahansum: the compensation is dropped once
// the running sum is infinite.
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

// Go's time.Duration.Seconds() for a duration given in milliseconds.
double DurationSeconds(int64_t ms) {
  const int64_t ns = ms * 1000000;
  const int64_t sec = ns / 1000000000;
  const int64_t nsec = ns % 1000000000;
  return static_cast<double>(sec) + static_cast<double>(nsec) / 1e9;
}

double ExtrapolatedRate(const double* v, const int64_t* ts, size_t n, int64_t range_start,
                        int64_t range_end, bool is_counter, bool is_rate,
                        PrometheusVersion version) {
  if (n < 2) return kNaN;
  double result = v[n - 1] - v[0];
  if (is_counter) {
    for (size_t i = 1; i < n; ++i) {
      if (v[i] < v[i - 1]) result += v[i - 1];
    }
  }
  double to_start = static_cast<double>(ts[0] - range_start) / 1000;
  double to_end = static_cast<double>(range_end - ts[n - 1]) / 1000;
  const double sampled = static_cast<double>(ts[n - 1] - ts[0]) / 1000;
  const double avg = sampled / static_cast<double>(n - 1);
  const double threshold = avg * 1.1;
  const double range_seconds = DurationSeconds(range_end - range_start);

  if (version == PrometheusVersion::kV3) {
    if (to_start >= threshold) to_start = avg / 2;
    if (is_counter) {
      double to_zero = to_start;
      if (result > 0 && v[0] >= 0) to_zero = sampled * (v[0] / result);
      if (to_zero < to_start) to_start = to_zero;
    }
    if (to_end >= threshold) to_end = avg / 2;
    double factor = (sampled + to_start + to_end) / sampled;
    if (is_rate) factor /= range_seconds;
    return result * factor;
  }
  // v2: the zero-point clamp came before the threshold test.
  if (is_counter && result > 0 && v[0] >= 0) {
    const double to_zero = sampled * (v[0] / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  double interval = sampled;
  interval += to_start < threshold ? to_start : avg / 2;
  interval += to_end < threshold ? to_end : avg / 2;
  double factor = interval / sampled;
  if (is_rate) factor /= range_seconds;
  return result * factor;
}

// avg_over_time and avg: direct Kahan mean, switching to an incremental mean on overflow.
double KahanMean(const double* v, size_t n) {
  if (n == 0) return kNaN;
  double sum = v[0], c = 0, mean = 0, count = 1;
  bool incremental = false;
  for (size_t i = 1; i < n; ++i) {
    count = static_cast<double>(i + 1);
    if (!incremental) {
      double new_sum = sum, new_c = c;
      KahanInc(v[i], new_sum, new_c);
      if (!std::isinf(new_sum)) {
        sum = new_sum;
        c = new_c;
        continue;
      }
      incremental = true;
      mean = sum / (count - 1);
      c /= count - 1;
    }
    const double q = (count - 1) / count;
    double m = q * mean;
    double mc = q * c;
    KahanInc(v[i] / count, m, mc);
    mean = m;
    c = mc;
  }
  if (incremental) return mean + c;
  return sum / count + c / count;
}

}  // namespace

double Sum(const double* values, size_t n) {
  if (n == 0) return kNaN;
  double sum = 0, c = 0;
  for (size_t i = 0; i < n; ++i) KahanInc(values[i], sum, c);
  if (std::isinf(sum)) return sum;
  return sum + c;
}

double Mean(const double* values, size_t n) { return KahanMean(values, n); }

double Min(const double* values, size_t n) {
  if (n == 0) return kNaN;
  double m = values[0];
  for (size_t i = 0; i < n; ++i) {
    if (values[i] < m || std::isnan(m)) m = values[i];
  }
  return m;
}

double Max(const double* values, size_t n) {
  if (n == 0) return kNaN;
  double m = values[0];
  for (size_t i = 0; i < n; ++i) {
    if (values[i] > m || std::isnan(m)) m = values[i];
  }
  return m;
}

double Count(size_t n) { return n == 0 ? kNaN : static_cast<double>(n); }

double Last(const double* values, size_t n) { return n == 0 ? kNaN : values[n - 1]; }

double StdVar(const double* values, size_t n) {
  if (n == 0) return kNaN;
  double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
  for (size_t i = 0; i < n; ++i) {
    count++;
    const double delta = values[i] - (mean + c_mean);
    KahanInc(delta / count, mean, c_mean);
    KahanInc(delta * (values[i] - (mean + c_mean)), aux, c_aux);
  }
  return (aux + c_aux) / count;
}

double StdDev(const double* values, size_t n) { return std::sqrt(StdVar(values, n)); }

double Quantile(double q, const double* values, size_t n, double* scratch) {
  if (n == 0 || std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  std::memcpy(scratch, values, n * sizeof(double));
  // Upstream's order: NaN below everything.
  std::sort(scratch, scratch + n, [](double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    return a < b;
  });
  const double count = static_cast<double>(n);
  const double rank = q * (count - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(count - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return scratch[static_cast<size_t>(lower)] * (1 - weight) +
         scratch[static_cast<size_t>(upper)] * weight;
}

double Rate(const double* values, const int64_t* timestamps_ms, size_t n, int64_t range_start_ms,
            int64_t range_end_ms, PrometheusVersion version) {
  return ExtrapolatedRate(values, timestamps_ms, n, range_start_ms, range_end_ms, true, true,
                          version);
}

double Increase(const double* values, const int64_t* timestamps_ms, size_t n,
                int64_t range_start_ms, int64_t range_end_ms, PrometheusVersion version) {
  return ExtrapolatedRate(values, timestamps_ms, n, range_start_ms, range_end_ms, true, false,
                          version);
}

double Delta(const double* values, const int64_t* timestamps_ms, size_t n, int64_t range_start_ms,
             int64_t range_end_ms, PrometheusVersion version) {
  return ExtrapolatedRate(values, timestamps_ms, n, range_start_ms, range_end_ms, false, false,
                          version);
}

double SumAcross(const double* values, size_t n) {
  if (n == 0) return kNaN;
  // The aggregator seeds the group with the first value, then Kahan-adds the rest.
  double sum = values[0], c = 0;
  for (size_t i = 1; i < n; ++i) KahanInc(values[i], sum, c);
  return sum + c;
}

double MeanAcross(const double* values, size_t n) { return KahanMean(values, n); }

double MinAcross(const double* values, size_t n) {
  if (n == 0) return kNaN;
  double m = values[0];
  for (size_t i = 1; i < n; ++i) {
    if (m > values[i] || std::isnan(m)) m = values[i];
  }
  return m;
}

double MaxAcross(const double* values, size_t n) {
  if (n == 0) return kNaN;
  double m = values[0];
  for (size_t i = 1; i < n; ++i) {
    if (m < values[i] || std::isnan(m)) m = values[i];
  }
  return m;
}

double CountAcross(size_t n) { return Count(n); }

double NaiveSum(const double* values, size_t n) {
  if (n == 0) return kNaN;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += values[i];
  return sum;
}

}  // namespace sextant::scaling::kernels::reference
