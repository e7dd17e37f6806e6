#!/usr/bin/env bash
# Memory benchmark for the window store (and the result cache) under --cache-memory-limit:
# many more series are requested than fit in the limit, and Sextant's resident set size must
# stay under the limit plus a stated overhead while answers keep coming.
#
# Setup: the synthetic exporter serves a DCGM fleet (GPU_NODES=1250 nodes x 8 GPUs: 10,000
# series for each of the 6 DCGM metrics, 60,000 series in all), scraped by a real Prometheus
# every second. Sextant runs with --cache-memory-limit LIMIT (default 8Mi) and a config with
# one signal per DCGM metric (avg over WINDOW=2m, across avg, by [Hostname, gpu]: one item
# per GPU, every series held in the window store with all its samples in the window) plus one
# external rule (per-GPU 30 s mean utilisation, through the result cache).
# After FILL_S seconds of scraping (default 90, so each series holds ~90 samples), the flood:
# for each node, GET every signal and the rule with labelSelector Hostname=<node> (8 series
# each), i.e. 7 x GPU_NODES distinct selectors, 60,000 distinct series read by signals,
# from THREADS keep-alive TLS connections with a client certificate. Meanwhile Sextant's
# VmRSS (/proc/PID/status) is sampled every 0.5 s and its /metrics (sextant_window_store_*,
# sextant_cache_bytes, evictions) every 1 s.
#
# Demand arithmetic: one request of one signal for one node is made before the flood, on an
# empty store; sextant_window_store_bytes / sextant_window_store_series then gives the
# accounted bytes per series (12 B per sample: an 8 B double and a 4 B offset, plus the
# per-series overhead: labels, index entry, struct), and demand = 60,000 series x that.
# Target: demand >= 10 x LIMIT (the flood asks ten times more than fits); evictions > 0;
# every answer 200; the window store's accounted bytes never above LIMIT; and
#   max RSS <= LIMIT + stated overhead, stated overhead = baseline RSS + ALLOWANCE_MIB (32).
# Baseline RSS: Sextant's RSS just before the flood (started, series discovered, idle).
# The allowance covers what the limit does not count: the result cache (its own
# --cache-memory-limit bound, reported; here its entries are small), Prometheus answers being
# read and parsed by up to --max-workers (16) requests at once, responses being encoded, and
# memory the allocator keeps after evictions free it (per-thread malloc arenas, fragmentation).
#
# Usage: hack/bench-memory.sh
# Env: LIMIT (8Mi), LIMIT_MIB (its value in MiB, 8), ALLOWANCE_MIB (32), GPU_NODES (1250),
#      FILL_S (90), WINDOW (2m), THREADS (2).
# Output: a markdown table on stdout and build/bench-memory.json. Everything runs on
# 127.0.0.1 on ports picked at run time; everything started is stopped on exit. Runtime about
# 2.5 minutes. Needs prometheus, curl, openssl and Debian's /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

LIMIT_MIB=${LIMIT_MIB:-8}
LIMIT=${LIMIT:-${LIMIT_MIB}Mi}
ALLOWANCE_MIB=${ALLOWANCE_MIB:-32}
GPU_NODES=${GPU_NODES:-1250}
GPUS_PER_NODE=8
FILL_S=${FILL_S:-90}
WINDOW=${WINDOW:-2m}
THREADS=${THREADS:-2}
JOB=dcgm
METRICS=(DCGM_FI_DEV_GPU_UTIL DCGM_FI_DEV_FB_FREE DCGM_FI_DEV_FB_USED
         DCGM_FI_PROF_GR_ENGINE_ACTIVE DCGM_FI_PROF_PIPE_TENSOR_ACTIVE DCGM_FI_PROF_DRAM_ACTIVE)
RULE=dcgm-gpu-util-rule-30s

source hack/lib-stack.sh
STACK_NAME=bench-memory
require_tools prometheus curl openssl "$PY"
build_targets sextant
stack_init

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- The fleet exporter and Prometheus (scrape every second) -------------------------------
start_exporter --only dcgm --gpu-nodes "$GPU_NODES" --gpus-per-node "$GPUS_PER_NODE"
start_prometheus --job "$JOB" "$EXPORTER_PORT"

gpus=$(( GPU_NODES * GPUS_PER_NODE ))
for _ in $(seq 300); do
  [[ $(prom_value 'count(DCGM_FI_DEV_GPU_UTIL)') == "$gpus" ]] && break
  sleep 0.2
done
[[ $(prom_value 'count(DCGM_FI_DEV_GPU_UTIL)') == "$gpus" ]] ||
  die "Prometheus does not hold the $gpus DCGM_FI_DEV_GPU_UTIL series"
first_scrape=$(date +%s)
echo "bench-memory: $gpus GPUs x ${#METRICS[@]} metrics scraped; starting Sextant" >&2

# --- Sextant: one signal per DCGM metric, one external rule, a small memory limit ----------
signal_name() {  # DCGM_FI_DEV_GPU_UTIL -> dcgm-gpu-util-avg-2m
  local s=${1#DCGM_FI_}
  s=${s#DEV_}
  echo "dcgm-$(tr 'A-Z_' 'a-z-' <<<"$s")-avg-$WINDOW"
}
signals=()
{
  echo "signals:"
  for m in "${METRICS[@]}"; do
    name=$(signal_name "$m")
    signals+=("$name")
    cat <<EOF
  - name: $name
    series: '$m'
    namespaced: false
    window: $WINDOW
    overTime: avg
    across: avg
    by: [Hostname, gpu]
EOF
  done
  cat <<EOF
externalRules:
  - seriesQuery: 'DCGM_FI_DEV_GPU_UTIL'
    resources: {namespaced: false}
    name: {matches: '^DCGM_FI_DEV_GPU_UTIL\$', as: '$RULE'}
    metricsQuery: 'avg by (Hostname, gpu) (avg_over_time(<<.Series>>{<<.LabelMatchers>>}[30s]))'
EOF
} >"$tmp/adapter-config.yaml"
build/sextant validate --config "$tmp/adapter-config.yaml" >"$tmp/validate.out" \
  2>"$tmp/validate.log" || { cat "$tmp/validate.out" >&2; die "sextant validate rejected the config"; }

make_pki "$tmp/pki"
pki=$tmp/pki
start_sextant "$pki" --client-ca-file "$pki/client-ca.crt" \
  --config "$tmp/adapter-config.yaml" --prometheus-url "$PROM_URL" \
  --cache-memory-limit "$LIMIT"
client_tls=(--cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
base_url=https://127.0.0.1:$SEXTANT_PORT
wait_for "$base_url/readyz" "Sextant" "${client_tls[@]}"
sleep 2
rss_start=$(rss_kib "$SEXTANT_PID")

sextant_metric() {  # sextant_metric NAME: the sum of a metric in Sextant's /metrics
  curl -sf "${client_tls[@]}" "$base_url/metrics" |
    awk -v name="$1" '$0 ~ "^" name "[{ ]" { s += $NF } END { printf "%.0f\n", s }'
}
for name in sextant_window_store_bytes sextant_window_store_series sextant_window_store_samples \
            sextant_window_store_evictions_total sextant_cache_bytes; do
  curl -sf "${client_tls[@]}" "$base_url/metrics" | grep -q "^$name[{ ]" ||
    die "Sextant's /metrics has no $name"
done

# The nodes, as Prometheus names them.
curl -sf "$PROM_URL/api/v1/label/Hostname/values?match%5B%5D=DCGM_FI_DEV_GPU_UTIL" |
  "$PY" -c 'import json, sys; print("\n".join(json.load(sys.stdin)["data"]))' >"$tmp/nodes"
(( $(wc -l <"$tmp/nodes") == GPU_NODES )) || die "expected $GPU_NODES Hostname values"

# Wait until FILL_S seconds of samples are in Prometheus.
while (( $(date +%s) - first_scrape < FILL_S )); do sleep 1; done

# --- Per-series cost: one signal, one node, on the empty store ----------------------------
probe_node=$(tail -n 1 "$tmp/nodes")
curl -sf "${client_tls[@]}" -o "$tmp/probe.json" \
  "$base_url/apis/external.metrics.k8s.io/v1beta1/namespaces/default/${signals[0]}?labelSelector=$(urlencode "Hostname=$probe_node")" ||
  die "the probe GET failed"
probe_items=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$tmp/probe.json")
probe_bytes=$(sextant_metric sextant_window_store_bytes)
probe_series=$(sextant_metric sextant_window_store_series)
probe_samples=$(sextant_metric sextant_window_store_samples)
(( probe_series > 0 )) || die "the probe left no series in the window store"
rss_baseline=$(rss_kib "$SEXTANT_PID")
echo "bench-memory: probe: $probe_items items, $probe_series series, $probe_samples samples," \
  "$probe_bytes accounted bytes; RSS ${rss_baseline} KiB" >&2

# --- The flood, with RSS sampled every 0.5 s ------------------------------------------------
(
  while kill -0 "$SEXTANT_PID" 2>/dev/null; do
    echo "$(date +%s.%N) $(rss_kib "$SEXTANT_PID")"
    sleep 0.5
  done
) >"$tmp/rss.tsv" 2>/dev/null &
sampler_pid=$!
track "$sampler_pid"

{
  while read -r node; do
    sel=$(urlencode "Hostname=$node")
    for s in "${signals[@]}" "$RULE"; do
      echo "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/$s?labelSelector=$sel"
    done
  done <"$tmp/nodes"
} >"$tmp/urls"
echo "bench-memory: flood: $(wc -l <"$tmp/urls") GETs over $THREADS connections" >&2

flood_begin=$(date +%s)
"$PY" - "$SEXTANT_PORT" "$pki" "$tmp/urls" "$THREADS" "$tmp/flood.json" "$tmp/metrics.tsv" \
  "$SEXTANT_PID" <<'EOF' || die "the flood client failed"
import http.client, json, os, ssl, sys, threading, time
port, pki, urls_file, threads, out, metrics_out, pid = sys.argv[1:8]
port, threads = int(port), int(threads)
urls = [u.strip() for u in open(urls_file) if u.strip()]
ctx = ssl.create_default_context(cafile=f"{pki}/ca.crt")
ctx.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
lock = threading.Lock()
stats = {"requests": 0, "ok": 0, "errors": 0, "statuses": {}, "items": 0, "lat": [],
         "first_errors": []}
nxt = [0]
def conn():
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
WANT = ("sextant_window_store_bytes", "sextant_window_store_series",
        "sextant_window_store_samples", "sextant_window_store_subscriptions",
        "sextant_window_store_evictions_total", "sextant_cache_bytes", "sextant_cache_entries",
        "sextant_cache_evictions_total")
def scrape(c):
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read().decode()
    vals = dict.fromkeys(WANT, 0.0)
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in vals:
            vals[name] += float(line.rsplit(" ", 1)[1])
    return vals
done = threading.Event()
def sampler():
    c = conn()
    with open(metrics_out, "w") as f:
        while True:
            try:
                v = scrape(c)
                f.write(json.dumps({"t": time.time(), **v}) + "\n")
                f.flush()
            except Exception:
                c = conn()
            if done.wait(1.0):
                break
def worker():
    c = conn()
    while True:
        with lock:
            i = nxt[0]
            nxt[0] += 1
        if i >= len(urls):
            return
        t0 = time.perf_counter()
        try:
            c.request("GET", urls[i], headers={"Accept": "application/json"})
            r = c.getresponse()
            body = r.read()
            status = r.status
            items = len(json.loads(body)["items"]) if status == 200 else 0
        except Exception as e:
            status, items, body = "exception", 0, repr(e).encode()
            c = conn()
        dt = time.perf_counter() - t0
        with lock:
            stats["requests"] += 1
            stats["statuses"][str(status)] = stats["statuses"].get(str(status), 0) + 1
            stats["lat"].append(dt)
            if status == 200:
                stats["ok"] += 1
                stats["items"] += items
            else:
                stats["errors"] += 1
                if len(stats["first_errors"]) < 5:
                    stats["first_errors"].append(f"{urls[i]}: {status} {body[:200]!r}")
s = threading.Thread(target=sampler)
s.start()
t0 = time.time()
ws = [threading.Thread(target=worker) for _ in range(threads)]
for w in ws: w.start()
for w in ws: w.join()
seconds = time.time() - t0
time.sleep(1.5)  # one more /metrics sample after the last answer
done.set()
s.join()
lat = sorted(stats.pop("lat"))
stats["seconds"] = round(seconds, 2)
stats["rps"] = round(stats["requests"] / seconds, 1) if seconds else 0
stats["p50_ms"] = round(lat[len(lat) // 2] * 1000, 2) if lat else None
stats["p99_ms"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2) if lat else None
stats["max_ms"] = round(lat[-1] * 1000, 2) if lat else None
json.dump(stats, open(out, "w"))
print(f"bench-memory: flood done: {stats['requests']} GETs in {seconds:.1f}s, "
      f"{stats['errors']} errors, p50 {stats['p50_ms']} ms", file=sys.stderr)
for e in stats["first_errors"]:
    print("  ", e, file=sys.stderr)
EOF
sleep 1
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
rss_after=$(rss_kib "$SEXTANT_PID")
scrape_max=$(prom_value "max_over_time(scrape_duration_seconds{job=\"$JOB\"}[$(( $(date +%s) - flood_begin + 2 ))s])")

LIMIT=$LIMIT LIMIT_MIB=$LIMIT_MIB ALLOWANCE_MIB=$ALLOWANCE_MIB GPUS=$gpus \
NMETRICS=${#METRICS[@]} NODES=$GPU_NODES WINDOW=$WINDOW FILL_S=$FILL_S THREADS=$THREADS \
RSS_START=$rss_start RSS_BASELINE=$rss_baseline RSS_AFTER=$rss_after \
PROBE_ITEMS=$probe_items PROBE_BYTES=$probe_bytes PROBE_SERIES=$probe_series \
PROBE_SAMPLES=$probe_samples SCRAPE_MAX=$scrape_max NPROC=$(nproc) \
"$PY" - "$tmp" "$repo/build/bench-memory.json" <<'EOF'
import json, os, sys
tmp, out_path = sys.argv[1], sys.argv[2]
env = os.environ
MiB = 1 << 20
limit = int(env["LIMIT_MIB"]) * MiB
allowance = int(env["ALLOWANCE_MIB"]) * MiB
rss = [(float(t), int(k) * 1024) for t, k in
       (line.split() for line in open(f"{tmp}/rss.tsv") if len(line.split()) == 2)]
metrics = [json.loads(l) for l in open(f"{tmp}/metrics.tsv") if l.strip()]
flood = json.load(open(f"{tmp}/flood.json"))
rss_start = int(env["RSS_START"]) * 1024
rss_base = int(env["RSS_BASELINE"]) * 1024
rss_max = max(b for _, b in rss)
series_total = int(env["GPUS"]) * int(env["NMETRICS"])
probe_series, probe_bytes = int(env["PROBE_SERIES"]), int(env["PROBE_BYTES"])
probe_samples = int(env["PROBE_SAMPLES"])
bytes_per_series = probe_bytes / probe_series
samples_per_series = probe_samples / probe_series
overhead_per_series = bytes_per_series - 12 * samples_per_series
demand = series_total * bytes_per_series
ws_max = max(m["sextant_window_store_bytes"] for m in metrics)
cache_max = max(m["sextant_cache_bytes"] for m in metrics)
last = metrics[-1]
evictions = int(last["sextant_window_store_evictions_total"])
cache_evictions = int(last["sextant_cache_evictions_total"])
stated_overhead = rss_base + allowance
bound = limit + stated_overhead
scrape_max = float(env["SCRAPE_MAX"]) if env.get("SCRAPE_MAX") else None
checks = {
    "demand_at_least_10x_limit": demand >= 10 * limit,
    "evictions_happened": evictions > 0,
    "window_store_bytes_within_limit": ws_max <= limit,
    "no_errors": flood["errors"] == 0 and flood["ok"] == flood["requests"],
    "rss_within_limit_plus_stated_overhead": rss_max <= bound,
}
result = {
    "nproc": int(env["NPROC"]),
    "setup": {"gpus": int(env["GPUS"]), "dcgm_metrics": int(env["NMETRICS"]),
              "series": series_total, "nodes": int(env["NODES"]), "window": env["WINDOW"],
              "fill_seconds": int(env["FILL_S"]), "connections": int(env["THREADS"]),
              "cache_memory_limit": env["LIMIT"]},
    "demand": {"bytes_per_series": round(bytes_per_series, 1),
               "samples_per_series": round(samples_per_series, 1),
               "sample_bytes": 12, "overhead_bytes_per_series": round(overhead_per_series, 1),
               "series_requested": series_total, "bytes": round(demand),
               "times_limit": round(demand / limit, 2)},
    "rss_bytes": {"after_start": rss_start, "baseline_before_flood": rss_base, "max": rss_max,
                  "after_flood": int(env["RSS_AFTER"]) * 1024, "samples": len(rss)},
    "limit_bytes": limit,
    "overhead_bytes": rss_max - limit,
    "stated_overhead_bytes": stated_overhead,
    "allowance_bytes": allowance,
    "bound_bytes": bound,
    "window_store_bytes_max": ws_max,
    "cache_bytes_max": cache_max,
    "window_store_evictions": evictions,
    "cache_evictions": cache_evictions,
    "window_store_at_end": {k: last[k] for k in ("sextant_window_store_series",
                                                  "sextant_window_store_samples",
                                                  "sextant_window_store_subscriptions")},
    "flood": flood,
    "scrape_duration_max_s": scrape_max,
    "checks": checks,
    "meets_target": all(checks.values()),
}
with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")

mib = lambda b: f"{b / MiB:.1f} MiB"
print(f"nproc {result['nproc']}; fleet: {series_total:,} series ({env['GPUS']} GPUs x "
      f"{env['NMETRICS']} DCGM metrics) scraped every 1 s (max scrape "
      f"{scrape_max if scrape_max is None else round(scrape_max, 3)} s during the flood); "
      f"{env['FILL_S']} s of samples before the flood; signals avg over {env['WINDOW']}")
print(f"demand: {samples_per_series:.0f} samples/series x 12 B + {overhead_per_series:.0f} B "
      f"per-series overhead = {bytes_per_series:.0f} B/series (measured on one node's 8 series);"
      f" x {series_total:,} series = {mib(demand)} = {demand / limit:.1f} x the limit "
      f"({env['LIMIT']})")
print(f"flood: {flood['requests']:,} GETs ({int(env['NODES'])} nodes x "
      f"{int(env['NMETRICS'])} signals + 1 rule, labelSelector Hostname=<node>) over "
      f"{env['THREADS']} connections in {flood['seconds']} s; p50 {flood['p50_ms']} ms, "
      f"p99 {flood['p99_ms']} ms, max {flood['max_ms']} ms\n")
print("| quantity | value |")
print("|---|---:|")
rows = [
    ("--cache-memory-limit", mib(limit)),
    ("requested (series x window bytes)", f"{mib(demand)} ({demand / limit:.1f} x limit)"),
    ("RSS after start", mib(rss_start)),
    ("RSS baseline (before flood)", mib(rss_base)),
    ("RSS max during flood", mib(rss_max)),
    ("RSS after flood", mib(result["rss_bytes"]["after_flood"])),
    ("overhead = max RSS - limit", mib(rss_max - limit)),
    (f"stated overhead = baseline + {env['ALLOWANCE_MIB']} MiB", mib(stated_overhead)),
    ("bound = limit + stated overhead", mib(bound)),
    ("window store accounted bytes, max", mib(ws_max)),
    ("result cache accounted bytes, max", mib(cache_max)),
    ("window store evictions", f"{evictions:,}"),
    ("result cache evictions", f"{cache_evictions:,}"),
    ("answers 200 / errors", f"{flood['ok']:,} / {flood['errors']}"),
    ("items answered", f"{flood['items']:,}"),
]
for k, v in rows:
    print(f"| {k} | {v} |")
print()
print(f"RSS max {mib(rss_max)} <= limit {mib(limit)} + stated overhead {mib(stated_overhead)} "
      f"= {mib(bound)}: {'yes' if checks['rss_within_limit_plus_stated_overhead'] else 'NO'}")
for k, v in checks.items():
    print(f"  {k}: {'yes' if v else 'NO'}")
print(f"meets target: {'yes' if result['meets_target'] else 'no'}")
EOF
