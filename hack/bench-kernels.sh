#!/usr/bin/env bash
# Window kernel benchmark: builds build/window_kernels_bench (RelWithDebInfo: -O2) and runs it
# once, then prints a markdown table of the ratios that run measured. Every ratio compares the
# kernel with a reference timed in the same process, interleaved iteration by iteration:
#   vs_scalar     SIMD kernel vs the scalar reference (window_reference.h)   target >= 4
#   vs_sort       quantile selection vs copy + std::sort                      target >= 5
#   vs_read_loop  kernel bandwidth / plain read loop, data >= 4x the LLC      target >= 0.6
#   vs_naive_loop compensated sum vs an uncompensated loop                    context only
# Usage: hack/bench-kernels.sh [Google Benchmark flags, e.g. --benchmark_filter=Quantile]
# Env: SEXTANT_BENCH_BYTES overrides the beyond-LLC data size (bytes; default 4x the LLC).
# Output: the table on stdout; raw JSON in build/bench-kernels.json. The machine's load is printed: these machines are
# shared, and a busy neighbour slows the memory-bound cases most.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
bin=build/window_kernels_bench
json=build/bench-kernels.json

hack/build.sh --target window_kernels_bench >&2

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$bin" --benchmark_out="$json" --benchmark_out_format=json "$@" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$json" "$load_before" "$load_after" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
ctx = data.get("context", {})
rows = [b for b in data["benchmarks"] if "ratio" in b]
isa = rows[0]["label"].replace("isa=", "") if rows else "?"
print(f"Window kernels, {ctx.get('num_cpus', '?')} CPUs, ISA {isa}, "
      f"load average {sys.argv[2]} before / {sys.argv[3]} after\n")
print("| benchmark | ratio | target | met | detail |")
print("|---|---:|---:|:---:|---|")
for b in rows:
    name = b["name"].split("/min_time")[0].split("/iterations")[0].split("/manual_time")[0]
    ratio, target = b["ratio"], b["target"]
    met = "context" if target == 0 else ("yes" if ratio >= target else "no")
    if "kernel_GBps" in b:
        detail = (f"kernel {b['kernel_GBps']:.2f} GB/s, read loop {b['read_loop_GBps']:.2f} GB/s, "
                  f"{b['data_MiB']:.0f} MiB data, LLC {b['llc_MiB']:.0f} MiB")
    else:
        detail = (f"kernel {b['kernel_ns_per_sample']:.3f} ns/sample, "
                  f"reference {b['reference_ns_per_sample']:.3f} ns/sample")
        if "of_read_loop_speed" in b:
            detail += f", kernel at {b['of_read_loop_speed']:.2f}x read-loop speed"
    print(f"| {name} | {ratio:.2f} | {target:g} | {met} | {detail} |")
PY
