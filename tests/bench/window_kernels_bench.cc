// Window kernel benchmarks. Every figure is a ratio against a reference measured in the same
// run, interleaved iteration by iteration (these machines are shared and noisy):
//
//   <Op>/<series>x<samples>/vs_scalar   SIMD kernel vs the scalar reference of
//                                       window_reference.h on the same series (target >= 4x)
//   Quantile/<shape>/vs_sort            selection vs copy + std::sort + interpolate (>= 5x)
//   <Op>/beyond_llc/vs_read_loop        kernel bandwidth as a fraction of a plain read loop
//                                       over the same bytes, data >= 4x the last-level cache
//                                       (target >= 0.6)
//   Sum/<shape>/vs_naive_loop, <Op>/1000x40_in_L2/vs_scalar   context only (target 0)
//   of_read_loop_speed (counter)        kernel speed / a plain read loop over the same
//                                       series: ~1 means the shape is bandwidth-bound
//
// Counters: `ratio` (the figure above), `target`, the per-sample nanoseconds of both sides and,
// for the memory-bound cases, GB/s. Reported time is the kernel's thread CPU time (manual
// timing), so neighbours on a shared machine distort it less than wall time.
// Shapes: 10,000 series x 40 samples and 100 series x 10,000 samples. Data: normal gauges.
// Env: SEXTANT_BENCH_BYTES overrides the beyond-LLC data size.
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "hwy/aligned_allocator.h"
#include "scaling/kernels/window_kernels.h"
#include "scaling/kernels/window_reference.h"

namespace sextant::scaling::kernels {
namespace {

using Kernel = double (*)(const double*, size_t);

struct Shape {
  size_t series;
  size_t samples;
};

// Normal(50, 15) values; a cheap generator so gigabytes fill quickly.
hwy::AlignedFreeUniquePtr<double[]> MakeData(size_t count) {
  auto data = hwy::AllocateAligned<double>(count);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(50, 15);
  double pool[4096];
  for (double& v : pool) v = normal(rng);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < count; ++i) {
    x ^= x << 13;  // xorshift64
    x ^= x >> 7;
    x ^= x << 17;
    data[i] = pool[x & 4095];
  }
  return data;
}

size_t LastLevelCacheBytes() {
  long bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (bytes > 0) return static_cast<size_t>(bytes);
  for (int index = 4; index >= 0; --index) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
    std::string text;
    if (f >> text && !text.empty()) {
      size_t value = std::strtoull(text.c_str(), nullptr, 10);
      if (text.back() == 'K') value <<= 10;
      if (text.back() == 'M') value <<= 20;
      if (value > 0) return value;
    }
  }
  return size_t{32} << 20;
}

// Seconds of this thread's CPU time to run `body` once. CPU time, not wall time: on a shared
// 2-core machine the process is often descheduled, which would land on whichever side of a
// ratio happened to be running.
double Time(const std::function<void()>& body) {
  timespec start, end;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  body();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
  return static_cast<double>(end.tv_sec - start.tv_sec) +
         static_cast<double>(end.tv_nsec - start.tv_nsec) * 1e-9;
}

void Report(benchmark::State& state, double kernel_s, double reference_s, double target,
            size_t samples_per_iteration) {
  const double samples =
      static_cast<double>(samples_per_iteration) * static_cast<double>(state.iterations());
  state.counters["ratio"] = reference_s / kernel_s;
  state.counters["target"] = target;
  state.counters["kernel_ns_per_sample"] = 1e9 * kernel_s / samples;
  state.counters["reference_ns_per_sample"] = 1e9 * reference_s / samples;
  state.SetLabel(std::string("isa=") + KernelTargetName());
}

// Reads every byte once with the widest loads the baseline ISA has (SSE2 on x86-64), eight
// independent chains, no other work: the bandwidth reference.
uint64_t ReadLoop(const double* p, size_t n) {
  size_t i = 0;
  uint64_t r = 0;
#if defined(__SSE2__)
  __m128i acc[8];
  for (__m128i& a : acc) a = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 8; ++j) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 2 * j));
      acc[j] = _mm_xor_si128(acc[j], v);
    }
  }
  for (int j = 1; j < 8; ++j) acc[0] = _mm_xor_si128(acc[0], acc[j]);
  uint64_t lanes[2];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), acc[0]);
  r = lanes[0] ^ lanes[1];
#endif
  for (; i < n; ++i) {
    uint64_t bits;
    std::memcpy(&bits, p + i, sizeof(bits));
    r ^= bits;
  }
  return r;
}

// SIMD kernel vs scalar reference over every series of a shape.
void VsScalar(benchmark::State& state, Kernel kernel, Kernel reference, Shape shape,
              double target) {
  const auto data = MakeData(shape.series * shape.samples);
  double sink = 0, kernel_s = 0, reference_s = 0, read_s = 0;
  uint64_t bits = 0;
  auto run = [&](Kernel f) {
    for (size_t s = 0; s < shape.series; ++s)
      sink += f(data.get() + s * shape.samples, shape.samples);
  };
  for (auto _ : state) {
    const double k = Time([&] { run(kernel); });
    reference_s += Time([&] { run(reference); });
    read_s += Time([&] { bits ^= ReadLoop(data.get(), shape.series * shape.samples); });
    kernel_s += k;
    state.SetIterationTime(k);
  }
  benchmark::DoNotOptimize(sink);
  benchmark::DoNotOptimize(bits);
  Report(state, kernel_s, reference_s, target, shape.series * shape.samples);
  // Context: the kernel's speed as a fraction of just reading the same bytes (1 = at the
  // memory/cache bandwidth this shape is served from, where no kernel can go faster).
  state.counters["of_read_loop_speed"] = read_s / kernel_s;
}

void QuantileVsSort(benchmark::State& state, Shape shape) {
  const auto data = MakeData(shape.series * shape.samples);
  std::vector<double> scratch(QuantileScratchSize(shape.samples));
  double sink = 0, kernel_s = 0, reference_s = 0;
  const double qs[] = {0.5, 0.9, 0.99};
  for (auto _ : state) {
    const double k = Time([&] {
      for (size_t s = 0; s < shape.series; ++s) {
        sink += Quantile(qs[s % 3], data.get() + s * shape.samples, shape.samples, scratch.data());
      }
    });
    reference_s += Time([&] {
      for (size_t s = 0; s < shape.series; ++s) {
        sink += reference::Quantile(qs[s % 3], data.get() + s * shape.samples, shape.samples,
                                    scratch.data());
      }
    });
    kernel_s += k;
    state.SetIterationTime(k);
  }
  benchmark::DoNotOptimize(sink);
  Report(state, kernel_s, reference_s, 5, shape.series * shape.samples);
}

// Kernel over data >= 4x LLC (series of 10,000 samples) vs the plain read loop over the same
// bytes; ratio = kernel bandwidth / read-loop bandwidth.
void VsReadLoop(benchmark::State& state, Kernel kernel) {
  size_t bytes = 4 * LastLevelCacheBytes();
  if (const char* env = std::getenv("SEXTANT_BENCH_BYTES")) bytes = std::strtoull(env, nullptr, 10);
  bytes = std::max(bytes, size_t{64} << 20);
  constexpr size_t kSamples = 10000;
  const size_t series = bytes / sizeof(double) / kSamples;
  const size_t count = series * kSamples;
  static hwy::AlignedFreeUniquePtr<double[]> data;  // shared by the three ops: fill once
  static size_t data_count = 0;
  if (data_count != count) {
    data = MakeData(count);
    data_count = count;
  }
  double sink = 0, kernel_s = 0, read_s = 0;
  uint64_t bits = 0;
  for (auto _ : state) {
    read_s += Time([&] { bits ^= ReadLoop(data.get(), count); });
    const double k = Time([&] {
      for (size_t s = 0; s < series; ++s) sink += kernel(data.get() + s * kSamples, kSamples);
    });
    kernel_s += k;
    state.SetIterationTime(k);
  }
  benchmark::DoNotOptimize(sink);
  benchmark::DoNotOptimize(bits);
  const double total_bytes =
      static_cast<double>(count * sizeof(double)) * static_cast<double>(state.iterations());
  state.counters["ratio"] = read_s / kernel_s;
  state.counters["target"] = 0.6;
  state.counters["kernel_GBps"] = total_bytes / kernel_s / 1e9;
  state.counters["read_loop_GBps"] = total_bytes / read_s / 1e9;
  state.counters["data_MiB"] = static_cast<double>(count * sizeof(double)) / (1 << 20);
  state.counters["llc_MiB"] = static_cast<double>(LastLevelCacheBytes()) / (1 << 20);
  state.SetLabel(std::string("isa=") + KernelTargetName());
}

void Register() {
  const Shape shapes[] = {{10000, 40}, {100, 10000}};
  struct Op {
    const char* name;
    Kernel kernel;
    Kernel reference;
  };
  const Op ops[] = {
      {"Sum", Sum, reference::Sum}, {"Mean", Mean, reference::Mean}, {"Max", Max, reference::Max}};
  for (const Shape& shape : shapes) {
    const std::string dims = std::to_string(shape.series) + "x" + std::to_string(shape.samples);
    for (const Op& op : ops) {
      benchmark::RegisterBenchmark((std::string(op.name) + "/" + dims + "/vs_scalar").c_str(),
                                   VsScalar, op.kernel, op.reference, shape, 4.0)
          ->UseManualTime()
          ->MinTime(0.3)
          ->Unit(benchmark::kMicrosecond);
    }
    // The uncompensated loop a naive implementation would write: context only (target 0).
    benchmark::RegisterBenchmark(("Sum/" + dims + "/vs_naive_loop").c_str(), VsScalar, Sum,
                                 reference::NaiveSum, shape, 0.0)
        ->UseManualTime()
        ->MinTime(0.3)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("Quantile/" + dims + "/vs_sort").c_str(), QuantileVsSort, shape)
        ->UseManualTime()
        ->MinTime(0.3)
        ->Unit(benchmark::kMicrosecond);
  }
  // Context (target 0): 1,000 x 40 samples (320 KB) stays in L2, so this shows the compute
  // speedup where the required shapes (3.2 MB and 8 MB, past a 2 MB L2) are limited by how
  // fast the cache hierarchy streams bytes (see of_read_loop_speed).
  for (const Op& op : ops) {
    benchmark::RegisterBenchmark((std::string(op.name) + "/1000x40_in_L2/vs_scalar").c_str(),
                                 VsScalar, op.kernel, op.reference, Shape{1000, 40}, 0.0)
        ->UseManualTime()
        ->MinTime(0.3)
        ->Unit(benchmark::kMicrosecond);
  }
  for (const Op& op : ops) {
    benchmark::RegisterBenchmark((std::string(op.name) + "/beyond_llc/vs_read_loop").c_str(),
                                 VsReadLoop, op.kernel)
        ->UseManualTime()
        ->Iterations(5)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace sextant::scaling::kernels

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  sextant::scaling::kernels::Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
