#!/usr/bin/env bash
# Poller benchmark for the result cache: POLLERS simulated HPA controllers (default 1000)
# poll KEYS distinct metric/selector pairs (default 50) through Sextant for DURATION seconds,
# each one GET per PERIOD (default 5 s, to get 12 rounds in a minute; the HPA's default sync
# period is 15 s: PERIOD=15). Prometheus' own count of instant queries
# (prometheus_http_requests_total{handler="/api/v1/query"}, read from its /metrics before
# and after each run) says how many queries reached it:
#   run "per-poll": Sextant with --cache-ttl 0, every poll runs one instant query; the count
#                   should be the number of polls.
#   run "cached":   Sextant with its defaults (--cache-ttl 5s, refresh-ahead at 0.8 x ttl
#                   while a key is polled within --cache-keep-warm, single-flight), started
#                   fresh (empty cache); the target is at most one query per key per refresh:
#                   count <= KEYS x (DURATION / (0.8 x ttl) + 1 initial fetch).
# The pollers are build/sextant_poller_client (THREADS keep-alive TLS connections with a
# client certificate, the HPA's Accept header, random phase per poller, round-robin keys).
#
# Usage: hack/bench-pollers.sh
# Env: POLLERS (1000), KEYS (50, at most 60), PERIOD (5), DURATION (60), THREADS (16),
#      CACHE_TTL_S (5: the cached run's --cache-ttl, whole seconds).
# Output: a markdown table on stdout and build/bench-pollers.json. Per run: the polls, the
# Prometheus /api/v1/query requests during the run, and those requests per key per refresh
# (over the budget above), per round (POLLERS polls) and per poll; Sextant's cache counters
# and the poll latency and schedule slip come from the same run. Everything runs on
# 127.0.0.1 on ports picked at run time; everything started is stopped on exit. Needs
# prometheus, curl, openssl and Debian's /usr/bin/python3 (hack/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

POLLERS=${POLLERS:-1000}
KEYS=${KEYS:-50}
PERIOD=${PERIOD:-5}
DURATION=${DURATION:-60}
THREADS=${THREADS:-16}
CACHE_TTL_S=${CACHE_TTL_S:-5}
NAMESPACE=default

source hack/lib-stack.sh
STACK_NAME=bench-pollers
require_tools prometheus curl openssl "$PY"
build_targets sextant sextant_poller_client
stack_init

# --- The synthetic exporter (default families) and Prometheus (scrape every second) --------
start_exporter
start_prometheus "$EXPORTER_PORT"
# Until the series Sextant discovers are stored (the first scrapes landed).
for _ in $(seq 100); do
  curl -sf "$PROM_URL/api/v1/query?query=count(DCGM_FI_PROF_DRAM_ACTIVE)%2Bcount(vllm:num_requests_running)" |
    grep -q '"value"' && break
  sleep 0.2
done

# --- The configuration and the KEYS metric/selector pairs ----------------------------------
# vLLM queue signals per model (namespaced), and per-GPU DCGM gauges of any GPU
# (namespaced: false), each asked for with several selectors whose values exist.
cat >"$tmp/adapter-config.yaml" <<'EOF'
externalRules:
  - seriesQuery: '{__name__=~"^vllm:num_requests_(waiting|running)$",namespace!=""}'
    resources:
      overrides: {namespace: {resource: namespace}}
    name: {matches: '^vllm:num_requests_(.*)$', as: 'vllm-requests-${1}'}
    metricsQuery: 'sum by (model_name) (<<.Series>>{<<.LabelMatchers>>})'
  - seriesQuery: '{__name__=~"^DCGM_FI_(DEV_GPU_UTIL|DEV_FB_USED|PROF_GR_ENGINE_ACTIVE|PROF_PIPE_TENSOR_ACTIVE|PROF_DRAM_ACTIVE)$"}'
    resources: {namespaced: false}
    metricsQuery: 'avg(<<.Series>>{<<.LabelMatchers>>})'
EOF
"$PY" - "$KEYS" "$NAMESPACE" >"$tmp/paths.txt" <<'EOF' || die "bad KEYS"
import sys, urllib.parse
keys, ns = int(sys.argv[1]), sys.argv[2]
pairs = []
for m in ("vllm-requests-waiting", "vllm-requests-running"):
    for sel in ("", "model_name=llama-3-8b", "model_name=mistral-7b",
                "pod=vllm-llama-3-8b-0", "pod=vllm-mistral-7b-0"):
        pairs.append((m, sel))
for m in ("dcgm_fi_dev_gpu_util", "dcgm_fi_dev_fb_used", "dcgm_fi_prof_gr_engine_active",
          "dcgm_fi_prof_pipe_tensor_active", "dcgm_fi_prof_dram_active"):
    for sel in [f"gpu={g}" for g in range(8)] + ["Hostname=gpu-node-0", "Hostname=gpu-node-1"]:
        pairs.append((m, sel))
if not 1 <= keys <= len(pairs):
    sys.exit(f"KEYS must be in 1..{len(pairs)}")
for m, sel in pairs[:keys]:
    path = f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{m}"
    if sel:
        path += "?labelSelector=" + urllib.parse.quote(sel, safe="")
    print(path)
EOF

# --- Sextant -------------------------------------------------------------------------------
make_pki "$tmp/pki"
pki=$tmp/pki
client_tls=(--cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
run_sextant() {  # run_sextant NAME TTL
  local name=$1 ttl=$2
  start_sextant --name "$name" "$pki" --client-ca-file "$pki/client-ca.crt" \
    --config "$tmp/adapter-config.yaml" --prometheus-url "$PROM_URL" --cache-ttl "$ttl"
  # Ready once the first discovery finished.
  wait_for "https://127.0.0.1:$SEXTANT_PORT/readyz" "Sextant ($name)" "${client_tls[@]}"
  sed "s|^|https://127.0.0.1:$SEXTANT_PORT|" "$tmp/paths.txt" >"$tmp/urls-$name.txt"
}
stop_sextant() {
  kill "$SEXTANT_PID" 2>/dev/null || true
  wait "$SEXTANT_PID" 2>/dev/null || true
}

# The sum of a counter's samples in a Prometheus text exposition on stdin.
# sum_counter NAME [LABEL_FILTER_REGEX]
sum_counter() {
  awk -v name="$1" -v filter="${2:-}" '
    $0 ~ "^" name "[{ ]" && (filter == "" || $0 ~ filter) { s += $NF }
    END { printf "%.0f\n", s }'
}
prom_queries() {
  curl -sf "$PROM_URL/metrics" |
    sum_counter prometheus_http_requests_total 'handler="/api/v1/query"'
}
# run NAME TTL: a fresh Sextant, POLLERS pollers for DURATION; writes $tmp/NAME.json (the
# poller's line), $tmp/NAME.counts ("PROM_QUERIES_DELTA SEXTANT_TICKS PROM_TICKS WALL_NS") and
# $tmp/NAME.sextant-metrics (Sextant's /metrics after the run).
run() {
  local name=$1 ttl=$2 q0 q1 s0 s1 p0 p1 t0 t1 rc=0
  run_sextant "$name" "$ttl"
  echo "bench-pollers: $name (--cache-ttl $ttl): $POLLERS pollers over $KEYS keys," \
    "one GET per ${PERIOD}s each, ${DURATION}s" >&2
  q0=$(prom_queries)
  s0=$(cpu_ticks "$SEXTANT_PID")
  p0=$(cpu_ticks "$PROM_PID")
  t0=$(date +%s%N)
  build/sextant_poller_client --url-file "$tmp/urls-$name.txt" --pollers "$POLLERS" \
    --period "$PERIOD" --duration "$DURATION" --threads "$THREADS" \
    --ca "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    --header "Accept: application/vnd.kubernetes.protobuf, */*" >"$tmp/$name.json" || rc=$?
  q1=$(prom_queries)
  s1=$(cpu_ticks "$SEXTANT_PID")
  p1=$(cpu_ticks "$PROM_PID")
  t1=$(date +%s%N)
  (( rc == 0 )) || echo "bench-pollers: $name: the poller client reported errors" >&2
  cat "$tmp/$name.json" >&2
  echo "$(( q1 - q0 )) $(( s1 - s0 )) $(( p1 - p0 )) $(( t1 - t0 ))" >"$tmp/$name.counts"
  curl -sf "${client_tls[@]}" "https://127.0.0.1:$SEXTANT_PORT/metrics" \
    >"$tmp/$name.sextant-metrics" || true
  stop_sextant
}

# Every key answers at least one item (checked once, through a Sextant without cache so
# nothing is primed for the cached run).
run_sextant check 0
"$PY" - "$tmp/urls-check.txt" "$pki" <<'EOF' || die "a key has no answer"
import json, ssl, sys, urllib.request
urls, pki = open(sys.argv[1]).read().split(), sys.argv[2]
ctx = ssl.create_default_context(cafile=f"{pki}/ca.crt")
ctx.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
for url in urls:
    with urllib.request.urlopen(url, context=ctx, timeout=10) as response:
        items = json.load(response)["items"]
    if not items:
        sys.exit(f"bench-pollers: no items for {url}")
print(f"bench-pollers: all {len(urls)} keys answer", file=sys.stderr)
EOF
stop_sextant

loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
run per-poll 0
run cached "${CACHE_TTL_S}s"
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

NPROC=$(nproc) LOADAVG_BEFORE=$loadavg_before LOADAVG_AFTER=$loadavg_after \
POLLERS=$POLLERS KEYS=$KEYS PERIOD=$PERIOD DURATION=$DURATION CACHE_TTL_S=$CACHE_TTL_S \
CLK_TCK=$(getconf CLK_TCK) \
"$PY" - "$tmp" "$repo/build/bench-pollers.json" <<'EOF'
import json, os, re, sys
tmp, out_path = sys.argv[1], sys.argv[2]
env = os.environ
keys, duration, ttl = int(env["KEYS"]), float(env["DURATION"]), float(env["CACHE_TTL_S"])
clk_tck = int(env["CLK_TCK"])
# Fetches per key the cached run may need: the first (a miss), then one refresh every
# 0.8 x ttl while the key is polled.
refreshes_per_key = duration / (0.8 * ttl) + 1
budget = keys * refreshes_per_key

def counter(text, name):
    return sum(float(m.group(1)) for m in
               re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))

runs = {}
for name in ("per-poll", "cached"):
    poll = json.load(open(f"{tmp}/{name}.json"))
    delta, s_ticks, p_ticks, wall_ns = (int(x) for x in open(f"{tmp}/{name}.counts").read().split())
    metrics = open(f"{tmp}/{name}.sextant-metrics").read() if os.path.getsize(
        f"{tmp}/{name}.sextant-metrics") else ""
    issued = poll["polls"] + poll["errors"]
    runs[name] = {
        "poller": poll,
        "prometheus_query_requests": delta,
        "per_poll": round(delta / issued, 4) if issued else None,
        "per_key_per_refresh": round(delta / budget, 4),
        "per_round": round(delta / poll["rounds"], 1) if poll["rounds"] else None,
        "sextant_cpu_s": round(s_ticks / clk_tck, 2),
        "prometheus_cpu_s": round(p_ticks / clk_tck, 2),
        "wall_s": round(wall_ns / 1e9, 1),
        "sextant": {k: counter(metrics, f"sextant_{k}_total") for k in
                    ("cache_hits", "cache_misses", "cache_coalesced_waits", "cache_refreshes",
                     "prometheus_requests")},
    }
pp, c = runs["per-poll"], runs["cached"]
ok = (pp["poller"]["errors"] == 0 and c["poller"]["errors"] == 0
      and c["prometheus_query_requests"] <= budget)
result = {
    "nproc": int(env["NPROC"]),
    "loadavg_before": [float(x) for x in env["LOADAVG_BEFORE"].split()],
    "loadavg_after": [float(x) for x in env["LOADAVG_AFTER"].split()],
    "pollers": int(env["POLLERS"]), "keys": keys, "period_s": float(env["PERIOD"]),
    "duration_s": duration, "cache_ttl_s": ttl,
    "fetches_per_key_budget": round(refreshes_per_key, 2),
    "fetch_budget": round(budget, 1),
    "runs": runs,
    "query_ratio_per_poll_over_cached": round(
        pp["prometheus_query_requests"] / max(c["prometheus_query_requests"], 1), 1),
    "target": "cached: Prometheus /api/v1/query requests <= keys x (duration / (0.8 x ttl) + 1)",
    "meets_target": ok,
}
with open(out_path, "w") as out:
    json.dump(result, out, indent=2)
    out.write("\n")

print(f"nproc: {result['nproc']}, load average (1/5/15 min) before: {env['LOADAVG_BEFORE']}, "
      f"after: {env['LOADAVG_AFTER']}")
print(f"{result['pollers']} pollers, {keys} keys, one GET per {env['PERIOD']} s each, "
      f"{duration:.0f} s per run; cached run: --cache-ttl {ttl:g}s, budget {keys} keys x "
      f"({duration:.0f} / {0.8 * ttl:g} + 1) = {budget:.0f} fetches\n")
print("| mode | polls | errors | Prometheus /api/v1/query requests | per key per refresh "
      "| per round | per poll | poll p50 | poll p99 | Sextant CPU | Prometheus CPU |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, label in (("per-poll", "query per poll (--cache-ttl 0)"),
                    ("cached", f"cached (--cache-ttl {ttl:g}s)")):
    r = runs[name]
    p = r["poller"]
    print(f"| {label} | {p['polls']:,} | {p['errors']} | {r['prometheus_query_requests']:,} "
          f"| {r['per_key_per_refresh']:.2f} | {r['per_round']:,.1f} | {r['per_poll']:.3f} "
          f"| {p['p50_us'] / 1000:.2f} ms | {p['p99_us'] / 1000:.2f} ms "
          f"| {r['sextant_cpu_s']:.1f} s | {r['prometheus_cpu_s']:.1f} s |")
s = c["sextant"]
print(f"\ncached run, Sextant's counters: {s['cache_hits']:.0f} hits, {s['cache_misses']:.0f} "
      f"misses, {s['cache_coalesced_waits']:.0f} coalesced waits, "
      f"{s['cache_refreshes']:.0f} refreshes, {s['prometheus_requests']:.0f} Prometheus requests")
print(f"rounds: {pp['poller']['rounds']:.1f} (per-poll), {c['poller']['rounds']:.1f} (cached); "
      f"poll slip p99: {pp['poller']['slip_p99_us'] / 1000:.1f} ms, "
      f"{c['poller']['slip_p99_us'] / 1000:.1f} ms")
print(f"Prometheus instant queries, query per poll / cached: "
      f"{result['query_ratio_per_poll_over_cached']}x")
print(f"meets target (cached <= {budget:.0f} queries, no errors): {'yes' if ok else 'no'}")
EOF
