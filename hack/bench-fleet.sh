#!/usr/bin/env bash
# Fleet benchmark for the result cache: a fleet of 10,000 DCGM-shaped GPUs (GPU_NODES=1250
# nodes x GPUS_PER_NODE=8; 10,000 series per DCGM metric, 60,000 samples per scrape) scraped
# by a real Prometheus every second. The signal is the fleet's 30-second mean GPU
# utilisation, served by Sextant from an external rule
#   metricsQuery: 'avg(avg_over_time(<<.Series>>{<<.LabelMatchers>>}[30s]))'
# on DCGM_FI_DEV_GPU_UTIL (namespaced: false), result cache on with its defaults (--cache-ttl
# 5s, refreshed ahead while asked for, so every measured GET is a hit). Measured in the same
# run, with the same keep-alive load client (build/sextant_load_client) and the same number of
# connections, one after the other:
#   (a) Sextant: GET of the metric over TLS with a client certificate (answered from cache);
#   (b) Prometheus: /api/v1/query of the very PromQL Sextant sends (plain http).
# Target: Sextant p50 <= 1/20 of Prometheus p50.
# The window is full before measuring (each series has >= 29 samples in its last 30 s, and
# 35 s have passed since the first scrape). The report includes how the exporter's scrape
# keeps up during the measurement (Prometheus' scrape_duration_seconds for the job: must
# stay < 1 s, the scrape interval; up and samples per scrape).
#
# Usage: hack/bench-fleet.sh
# Env: CONNECTIONS (default 2), DURATION (measured seconds per target, default 15), WARMUP
#      (default 2), GPU_NODES (1250), GPUS_PER_NODE (8).
# Runs, one after another: Sextant then Prometheus with CONNECTIONS connections, then both
# again with 1 connection (the latency view: with 2, the clients keep both cores busy).
# Output: a markdown table on stdout and build/bench-fleet.json. Everything runs on
# 127.0.0.1, on ports picked at run time; everything started is stopped on exit. Needs
# prometheus, curl, openssl and Debian's /usr/bin/python3 (hack/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

CONNECTIONS=${CONNECTIONS:-2}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-2}
GPU_NODES=${GPU_NODES:-1250}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
METRIC=gpu-utilization-mean-30s
METRIC_PATH=/apis/external.metrics.k8s.io/v1beta1/namespaces/default/$METRIC
JOB=dcgm

source hack/lib-stack.sh
STACK_NAME=bench-fleet
require_tools prometheus curl openssl "$PY"
build_targets sextant sextant_load_client
stack_init

# --- The fleet exporter and Prometheus (scrape every second) -------------------------------
start_exporter --only dcgm --gpu-nodes "$GPU_NODES" --gpus-per-node "$GPUS_PER_NODE"
start_prometheus --job "$JOB" "$EXPORTER_PORT"

series=$(( GPU_NODES * GPUS_PER_NODE ))
for _ in $(seq 300); do
  [[ $(prom_value 'count(DCGM_FI_DEV_GPU_UTIL)') == "$series" ]] && break
  sleep 0.2
done
[[ $(prom_value 'count(DCGM_FI_DEV_GPU_UTIL)') == "$series" ]] ||
  die "Prometheus does not hold the $series DCGM_FI_DEV_GPU_UTIL series"
first_scrape=$(date +%s)
echo "bench-fleet: $series GPUs scraped; filling the 30 s window" >&2

# --- Sextant: the fleet rule, cache on (defaults), client certificate authentication ------
cat >"$tmp/adapter-config.yaml" <<'EOF'
externalRules:
  # The fleet's 30-second mean GPU utilisation (percent), over every GPU.
  - seriesQuery: 'DCGM_FI_DEV_GPU_UTIL'
    resources: {namespaced: false}
    name: {matches: '^DCGM_FI_DEV_GPU_UTIL$', as: 'gpu-utilization-mean-30s'}
    metricsQuery: 'avg(avg_over_time(<<.Series>>{<<.LabelMatchers>>}[30s]))'
EOF
build/sextant validate --config "$tmp/adapter-config.yaml" >"$tmp/validate.out" \
  2>"$tmp/validate.log" || die "sextant validate rejected the config"
promql=$(promql_of "$METRIC" "$tmp/validate.out")
[[ -n $promql ]] || { cat "$tmp/validate.out" >&2; die "no PromQL for $METRIC"; }
prom_path="/api/v1/query?query=$(urlencode "$promql")"
echo "bench-fleet: PromQL: $promql" >&2

make_pki "$tmp/pki"
pki=$tmp/pki
start_sextant "$pki" --client-ca-file "$pki/client-ca.crt" \
  --config "$tmp/adapter-config.yaml" --prometheus-url "$PROM_URL"
client_tls=(--cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
wait_for "https://127.0.0.1:$SEXTANT_PORT/readyz" "Sextant" "${client_tls[@]}"

# Until the window is full: 35 s since the first scrape, and every series has at least 29
# samples in its last 30 s.
window_min=
for _ in $(seq 120); do
  window_min=$(prom_value 'min(count_over_time(DCGM_FI_DEV_GPU_UTIL[30s]))')
  if (( $(date +%s) - first_scrape >= 35 )) && [[ -n $window_min ]] &&
     (( ${window_min%.*} >= 29 )); then
    break
  fi
  sleep 1
done
[[ -n $window_min ]] && (( ${window_min%.*} >= 29 )) ||
  die "the 30 s window did not fill (min samples per series: ${window_min:-none})"

# Both answer one value for the fleet; they agree (each is a mean of ~300,000 samples, taken
# up to a few seconds apart).
curl -sf "${client_tls[@]}" -o "$tmp/sextant-answer.json" \
  "https://127.0.0.1:$SEXTANT_PORT$METRIC_PATH" || die "the Sextant GET failed"
curl -sf -o "$tmp/prom-answer.json" "$PROM_URL$prom_path" || die "the direct query failed"
"$PY" - "$tmp/sextant-answer.json" "$tmp/prom-answer.json" <<'EOF' ||
import json, sys
items = json.load(open(sys.argv[1]))["items"]
result = json.load(open(sys.argv[2]))["data"]["result"]
if len(items) != 1 or len(result) != 1:
    sys.exit(f"bench-fleet: Sextant answers {len(items)} items, Prometheus {len(result)} series")
q = items[0]["value"]
sextant = float(q[:-1]) / 1000 if q.endswith("m") else float(q)
prom = float(result[0]["value"][1])
print(f"bench-fleet: fleet mean: Sextant {sextant:.3f}, Prometheus {prom:.3f}", file=sys.stderr)
if abs(sextant - prom) > 0.05 * max(abs(prom), 1):
    sys.exit("bench-fleet: the answers differ by more than 5%")
EOF
  die "Sextant and Prometheus disagree"

# --- Load ----------------------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
sextant_counter() {  # sextant_counter NAME: the sum of a counter in Sextant's /metrics
  curl -sf "${client_tls[@]}" "https://127.0.0.1:$SEXTANT_PORT/metrics" |
    awk -v name="$1" '$0 ~ "^" name "[{ ]" { s += $NF } END { printf "%.0f\n", s }'
}

# scrape_stats SECONDS: how the exporter's scrapes went over the last SECONDS, as JSON.
scrape_stats() {
  local span=$1 job="{job=\"$JOB\"}"
  "$PY" -c '
import json, sys
keys = ("seconds", "duration_p50_s", "duration_max_s", "scrapes", "scrapes_up",
        "samples_per_scrape")
print(json.dumps({k: float(v) if v else None for k, v in zip(keys, sys.argv[1:])}))' \
    "$span" "$(prom_value "quantile_over_time(0.5, scrape_duration_seconds$job[${span}s])")" \
    "$(prom_value "max_over_time(scrape_duration_seconds$job[${span}s])")" \
    "$(prom_value "count_over_time(up$job[${span}s])")" \
    "$(prom_value "sum_over_time(up$job[${span}s])")" \
    "$(prom_value "min_over_time(scrape_samples_scraped$job[${span}s])")"
}

# run NAME CONNECTIONS URL [client args...]: $tmp/NAME.json (the client's line), $tmp/NAME.cpu
# ("SEXTANT_TICKS PROM_TICKS EXPORTER_TICKS CLK_TCK WALL_NS" over the measured window),
# $tmp/NAME.scrape (scrape_stats over the run, warm-up included), $tmp/NAME.cache (Sextant's
# cache hits and misses during the run).
run() {
  local name=$1 conns=$2 url=$3 client s0 p0 e0 t0 begin h0 m0
  shift 3
  echo "bench-fleet: $name: $conns connections, ${WARMUP}s warm-up, ${DURATION}s measured" >&2
  begin=$(date +%s)
  h0=$(sextant_counter sextant_cache_hits_total)
  m0=$(sextant_counter sextant_cache_misses_total)
  build/sextant_load_client --url "$url" --connections "$conns" --duration "$DURATION" \
    --warmup "$WARMUP" --expect-status 200 "$@" >"$tmp/$name.json" &
  client=$!
  track "$client"
  sleep "$WARMUP"
  s0=$(cpu_ticks "$SEXTANT_PID")
  p0=$(cpu_ticks "$PROM_PID")
  e0=$(cpu_ticks "$EXPORTER_PID")
  t0=$(date +%s%N)
  wait "$client" || echo "bench-fleet: $name: the load client reported errors" >&2
  echo "$(( $(cpu_ticks "$SEXTANT_PID") - s0 )) $(( $(cpu_ticks "$PROM_PID") - p0 ))" \
    "$(( $(cpu_ticks "$EXPORTER_PID") - e0 )) $clk_tck $(( $(date +%s%N) - t0 ))" \
    >"$tmp/$name.cpu"
  echo "$(( $(sextant_counter sextant_cache_hits_total) - h0 ))" \
    "$(( $(sextant_counter sextant_cache_misses_total) - m0 ))" >"$tmp/$name.cache"
  scrape_stats $(( $(date +%s) - begin + 1 )) >"$tmp/$name.scrape"
  cat "$tmp/$name.json" >&2
}

levels=("$CONNECTIONS")
[[ $CONNECTIONS != 1 ]] && levels+=(1)
sextant_url=https://127.0.0.1:$SEXTANT_PORT$METRIC_PATH
loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
for c in "${levels[@]}"; do
  run "sextant-c$c" "$c" "$sextant_url" \
    --ca "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key"
  run "prometheus-c$c" "$c" "$PROM_URL$prom_path"
done
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)
window_min=$(prom_value 'min(count_over_time(DCGM_FI_DEV_GPU_UTIL[30s]))')
# A failed scrape (up == 0) is explained by Prometheus' log and the target's last error.
since=$(( $(date +%s) - first_scrape + 5 ))s
failed_scrapes=$(prom_value "count_over_time(up{job=\"$JOB\"}[$since]) - sum_over_time(up{job=\"$JOB\"}[$since])")
if [[ -n $failed_scrapes && $failed_scrapes != 0 ]]; then
  echo "bench-fleet: $failed_scrapes failed scrape(s) since the first; Prometheus says:" >&2
  grep -E 'level=(warn|error)' "$tmp/prometheus.log" | tail -n 5 >&2 || true
  curl -sf "$PROM_URL/api/v1/targets" | "$PY" -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print("  target", t["scrapeUrl"], t["health"], t["lastError"] or "(no last error)")' >&2 ||
    true
fi

NPROC=$(nproc) LOADAVG_BEFORE=$loadavg_before LOADAVG_AFTER=$loadavg_after PROMQL=$promql \
METRIC_PATH=$METRIC_PATH SERIES=$series LEVELS="${levels[*]}" WINDOW_MIN=$window_min \
"$PY" - "$tmp" "$repo/build/bench-fleet.json" <<'EOF'
import json, os, sys
tmp, out_path = sys.argv[1], sys.argv[2]
env = os.environ
levels = [int(x) for x in env["LEVELS"].split()]

def load(name):
    result = json.load(open(f"{tmp}/{name}.json"))
    s, p, e, clk_tck, wall_ns = (int(x) for x in open(f"{tmp}/{name}.cpu").read().split())
    wall = wall_ns / 1e9
    result["cpu_cores"] = {who: round(ticks / clk_tck / wall, 2) if wall else 0.0
                           for who, ticks in (("sextant", s), ("prometheus", p),
                                              ("exporter", e))}
    result["scrape"] = json.load(open(f"{tmp}/{name}.scrape"))
    hits, misses = (int(x) for x in open(f"{tmp}/{name}.cache").read().split())
    result["sextant_cache"] = {"hits": hits, "misses": misses}
    return result

def scrape_ok(scrape):
    return scrape["duration_max_s"] is not None and scrape["duration_max_s"] < 1.0

runs = []
for c in levels:
    sextant, prom = load(f"sextant-c{c}"), load(f"prometheus-c{c}")
    ratio = sextant["p50_us"] / prom["p50_us"] if prom["p50_us"] else None
    runs.append({"connections": c, "sextant": sextant, "prometheus": prom,
                 "p50_ratio_sextant_over_prometheus": round(ratio, 5) if ratio else None})
errors_ok = all(r[w]["errors"] == 0 for r in runs for w in ("sextant", "prometheus"))
ratios_ok = all(r["p50_ratio_sextant_over_prometheus"] is not None and
                r["p50_ratio_sextant_over_prometheus"] <= 1 / 20 for r in runs)
scrapes_ok = all(scrape_ok(r[w]["scrape"]) for r in runs for w in ("sextant", "prometheus"))
result = {
    "nproc": int(env["NPROC"]),
    "loadavg_before": [float(x) for x in env["LOADAVG_BEFORE"].split()],
    "loadavg_after": [float(x) for x in env["LOADAVG_AFTER"].split()],
    "gpus": int(env["SERIES"]),
    "sextant_path": env["METRIC_PATH"],
    "promql": env["PROMQL"],
    "min_samples_per_series_in_30s_window": (float(env["WINDOW_MIN"])
                                             if env["WINDOW_MIN"] else None),
    "runs": runs,
    "scrape_keeps_up": scrapes_ok,
    "target": {"p50_ratio_max": 0.05},
    "meets_target": errors_ok and ratios_ok,
}
with open(out_path, "w") as out:
    json.dump(result, out, indent=2)
    out.write("\n")

print(f"nproc: {result['nproc']}, load average (1/5/15 min) before: {env['LOADAVG_BEFORE']}, "
      f"after: {env['LOADAVG_AFTER']}; {runs[0]['sextant']['seconds']:.0f}s measured per row")
print(f"fleet: {result['gpus']:,} GPUs (DCGM_FI_DEV_GPU_UTIL series) scraped every 1 s")
print(f"Sextant: GET {env['METRIC_PATH']} (result cache on, defaults)")
print(f"Prometheus: GET /api/v1/query?query={env['PROMQL']}\n")
print("| target | connections | req/s | p50 | p99 | errors "
      "| CPU cores Sextant / Prometheus / exporter | scrape p50 / max |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for r in runs:
    for label, x in (("Sextant (cached)", r["sextant"]),
                     ("Prometheus (direct)", r["prometheus"])):
        c, s = x["cpu_cores"], x["scrape"]
        d50 = f"{s['duration_p50_s'] * 1000:.0f}" if s["duration_p50_s"] is not None else "?"
        dmax = f"{s['duration_max_s'] * 1000:.0f}" if s["duration_max_s"] is not None else "?"
        print(f"| {label} | {r['connections']} | {x['rps']:,.0f} | {x['p50_us'] / 1000:.3f} ms "
              f"| {x['p99_us'] / 1000:.3f} ms | {x['errors']} "
              f"| {c['sextant']:.2f} / {c['prometheus']:.2f} / {c['exporter']:.2f} "
              f"| {d50} / {dmax} ms |")
print()
for r in runs:
    ratio = r["p50_ratio_sextant_over_prometheus"]
    cache = r["sextant"]["sextant_cache"]
    shown = f"{ratio:.5f} (1/{1 / ratio:,.0f})" if ratio else "n/a"
    print(f"{r['connections']} connection(s): p50 ratio Sextant / Prometheus {shown}, target "
          f"<= 1/20; Sextant cache during its run: {cache['hits']:,} hits, "
          f"{cache['misses']} misses")
scrapes = [r[w]["scrape"] for r in runs for w in ("sextant", "prometheus")]
print(f"scrape of the exporter: {'kept up' if scrapes_ok else 'DID NOT keep up'} (duration "
      f"< 1 s throughout every run): {sum(s['scrapes_up'] or 0 for s in scrapes):.0f} of "
      f"{sum(s['scrapes'] or 0 for s in scrapes):.0f} scrapes up, "
      f"{min((s['samples_per_scrape'] or 0) for s in scrapes):,.0f} samples each; "
      f"min samples per series in the 30 s window at the end: "
      f"{result['min_samples_per_series_in_30s_window']}")
print(f"meets target: {'yes' if result['meets_target'] else 'no'}")
EOF
