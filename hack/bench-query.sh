#!/usr/bin/env bash
# Query-path benchmark: p50/p99 of one Sextant external metric GET answered from a real
# Prometheus (no cache involved: every GET runs one instant query), against a direct
# Prometheus instant query of the same PromQL, in the same run, against the same Prometheus
# and data, driven by the same load client (build/sextant_load_client) with the same
# concurrency. Sextant's added overhead is the difference of the two p50s; its target is
# under 1 ms.
#
# Usage: hack/bench-query.sh
# Env: CONNECTIONS (default 4), DURATION (measured seconds per run, default 10), WARMUP
#      (default 2), METRIC (default vllm-requests-waiting), NAMESPACE (default default).
# Runs, one after another: Sextant and Prometheus with CONNECTIONS connections, then both
# again with 1 connection (the pure latency view). Output: a markdown table on stdout and
# build/bench-query.json. Each row also gives the CPU time Sextant and Prometheus spent per
# request over the measured window (from /proc), and for each Sextant run the TCP
# connections between Sextant and Prometheus: open mid-run, and closed during the run
# (TIME-WAIT sockets added; thousands would mean a new connection per query).
# The synthetic exporter keeps changing its values (nothing is frozen), which is fine: the
# work per query does not depend on them. Everything runs on 127.0.0.1, on ports picked at
# run time; everything started is stopped on exit. Needs prometheus, curl, ss, openssl and
# Debian's /usr/bin/python3 (hack/install-deps.sh).
# CACHE_TTL (default 0: the result cache off, so every GET runs one instant query) is
# passed to --cache-ttl; CACHE_TTL=5s measures answers from the cache instead.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

CONNECTIONS=${CONNECTIONS:-4}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
METRIC=${METRIC:-vllm-requests-waiting}
NAMESPACE=${NAMESPACE:-default}
CONFIG=hack/demo/adapter-config.yaml
METRIC_PATH=/apis/external.metrics.k8s.io/v1beta1/namespaces/$NAMESPACE/$METRIC

source hack/lib-stack.sh
STACK_NAME=bench-query
require_tools prometheus curl ss openssl "$PY"
build_targets sextant sextant_load_client
stack_init

# --- The synthetic exporter and Prometheus (scrape every second) ---------------------------
start_exporter
start_prometheus "$EXPORTER_PORT"

# --- The PromQL Sextant runs for the metric ------------------------------------------------
# Series discovery needs the first scrape, so validate until it finds the metric.
promql=
for _ in $(seq 100); do
  build/sextant validate --config "$CONFIG" --prometheus-url "$PROM_URL" \
    --namespace "$NAMESPACE" >"$tmp/validate.out" 2>"$tmp/validate.log" || true
  promql=$(promql_of "$METRIC" "$tmp/validate.out")
  [[ -n $promql && $promql != "cannot render:"* ]] && break
  promql=
  sleep 0.2
done
[[ -n $promql ]] || { cat "$tmp/validate.out" >&2; die "sextant validate found no PromQL for $METRIC"; }
prom_path="/api/v1/query?query=$(urlencode "$promql")"
echo "bench-query: PromQL for $METRIC in namespace $NAMESPACE: $promql" >&2

# Until the expression has data (a few scrapes landed).
for _ in $(seq 100); do
  curl -sf "$PROM_URL$prom_path" | grep -q '"value"' && break
  sleep 0.2
done
curl -sf -o "$tmp/prom-answer.json" "$PROM_URL$prom_path" || die "the direct query failed"

# --- Sextant: client certificate authentication, the demo config --------------------------
make_pki "$tmp/pki"
pki=$tmp/pki
start_sextant "$pki" --client-ca-file "$pki/client-ca.crt" \
  --config "$CONFIG" --prometheus-url "$PROM_URL" --cache-ttl "${CACHE_TTL:-0}"
client_tls=(--cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
wait_for "https://127.0.0.1:$SEXTANT_PORT/readyz" "Sextant" "${client_tls[@]}"
for _ in $(seq 100); do
  curl -sf "${client_tls[@]}" -o "$tmp/sextant-answer.json" \
    "https://127.0.0.1:$SEXTANT_PORT$METRIC_PATH" 2>/dev/null &&
    grep -q '"value"' "$tmp/sextant-answer.json" && break
  sleep 0.2
done
grep -q '"value"' "$tmp/sextant-answer.json" 2>/dev/null || die "Sextant serves no $METRIC"
# Both answers describe the same series (one item per result series).
"$PY" - "$tmp/sextant-answer.json" "$tmp/prom-answer.json" <<'EOF' ||
import json, sys
sextant = json.load(open(sys.argv[1]))["items"]
prom = json.load(open(sys.argv[2]))["data"]["result"]
if len(sextant) != len(prom):
    sys.exit(f"bench-query: Sextant answers {len(sextant)} items, Prometheus {len(prom)} series")
EOF
  die "Sextant and Prometheus disagree"

# --- Load ----------------------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)

# Connections Sextant holds open to Prometheus (its process owns them).
sextant_prom_established() {
  ss -Htnp state established "( dport = :$PROM_PORT )" 2>/dev/null |
    grep -c "pid=$SEXTANT_PID," || true
}
# Closed connections to or from Prometheus' port still in TIME-WAIT (60 s), whoever closed:
# one new connection per query would add thousands during a Sextant run.
prom_time_wait() {
  ss -Htn state time-wait "( sport = :$PROM_PORT or dport = :$PROM_PORT )" 2>/dev/null | wc -l
}

# run NAME CONNECTIONS URL [client args...]: one load run; its JSON line goes to
# $tmp/NAME.json, the CPU times to $tmp/NAME.cpu, and "ESTABLISHED (mid-run) NEW_TIME_WAIT"
# between Sextant and Prometheus to $tmp/NAME.sockets.
run() {
  local name=$1 conns=$2 url=$3 client s0 p0 t0 s1 p1 t1 tw0 established
  shift 3
  tw0=$(prom_time_wait)
  echo "bench-query: $name: $conns connections, ${WARMUP}s warm-up, ${DURATION}s measured" >&2
  build/sextant_load_client --url "$url" --connections "$conns" --duration "$DURATION" \
    --warmup "$WARMUP" --expect-status 200 "$@" >"$tmp/$name.json" &
  client=$!
  track "$client"
  sleep "$WARMUP"
  s0=$(cpu_ticks "$SEXTANT_PID")
  p0=$(cpu_ticks "$PROM_PID")
  t0=$(date +%s%N)
  sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
  established=$(sextant_prom_established)
  wait "$client" || echo "bench-query: $name: the load client reported errors" >&2
  echo "$established $(( $(prom_time_wait) - tw0 ))" >"$tmp/$name.sockets"
  s1=$(cpu_ticks "$SEXTANT_PID")
  p1=$(cpu_ticks "$PROM_PID")
  t1=$(date +%s%N)
  echo "$(( s1 - s0 )) $(( p1 - p0 )) $clk_tck $(( t1 - t0 ))" >"$tmp/$name.cpu"
  cat "$tmp/$name.json" >&2
}

sextant_url=https://127.0.0.1:$SEXTANT_PORT$METRIC_PATH
sextant_args=(--ca "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
run "sextant-c$CONNECTIONS" "$CONNECTIONS" "$sextant_url" "${sextant_args[@]}"
run "prometheus-c$CONNECTIONS" "$CONNECTIONS" "$PROM_URL$prom_path"
if [[ $CONNECTIONS != 1 ]]; then
  run sextant-c1 1 "$sextant_url" "${sextant_args[@]}"
  run prometheus-c1 1 "$PROM_URL$prom_path"
fi
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

NPROC=$(nproc) LOADAVG_BEFORE=$loadavg_before LOADAVG_AFTER=$loadavg_after \
PROMQL=$promql CONNECTIONS=$CONNECTIONS METRIC_PATH=$METRIC_PATH \
"$PY" - "$tmp" "$repo/build/bench-query.json" <<'EOF'
import json, os, sys
tmp, out_path = sys.argv[1], sys.argv[2]
env = os.environ
levels = [int(env["CONNECTIONS"])] + ([1] if env["CONNECTIONS"] != "1" else [])

def load(name):
    result = json.load(open(f"{tmp}/{name}.json"))
    s_ticks, p_ticks, clk_tck, wall_ns = (int(x) for x in open(f"{tmp}/{name}.cpu").read().split())
    for who, ticks in (("sextant", s_ticks), ("prometheus", p_ticks)):
        cpu_s = ticks / clk_tck
        result[f"{who}_cpu_cores"] = round(cpu_s / (wall_ns / 1e9), 3) if wall_ns else 0.0
        result[f"{who}_cpu_us_per_request"] = (
            round(cpu_s * 1e6 / result["requests"], 1) if result["requests"] else 0.0)
    if name.startswith("sextant"):
        established, new_time_wait = (int(x) for x in open(f"{tmp}/{name}.sockets").read().split())
        result["sextant_prometheus_connections"] = {"established_mid_run": established,
                                                    "new_time_wait": max(new_time_wait, 0)}
    return result

runs = []
for c in levels:
    sextant, prom = load(f"sextant-c{c}"), load(f"prometheus-c{c}")
    runs.append({
        "connections": c,
        "sextant": sextant,
        "prometheus": prom,
        "overhead_p50_us": round(sextant["p50_us"] - prom["p50_us"], 1),
        "overhead_p99_us": round(sextant["p99_us"] - prom["p99_us"], 1),
    })
ok = all(r["sextant"]["errors"] == 0 and r["prometheus"]["errors"] == 0 for r in runs)
result = {
    "nproc": int(env["NPROC"]),
    "loadavg_before": [float(x) for x in env["LOADAVG_BEFORE"].split()],
    "loadavg_after": [float(x) for x in env["LOADAVG_AFTER"].split()],
    "sextant_path": env["METRIC_PATH"],
    "promql": env["PROMQL"],
    "runs": runs,
    "target": {"overhead_p50_us_max": 1000},
    "meets_target": ok and all(r["overhead_p50_us"] < 1000 for r in runs),
}
with open(out_path, "w") as out:
    json.dump(result, out, indent=2)
    out.write("\n")

print(f"nproc: {result['nproc']}, load average (1/5/15 min) before: {env['LOADAVG_BEFORE']}, "
      f"after: {env['LOADAVG_AFTER']}; {runs[0]['sextant']['seconds']:.0f}s measured per row")
print(f"Sextant: GET {env['METRIC_PATH']}")
print(f"Prometheus: GET /api/v1/query?query={env['PROMQL']}\n")
print("| target | connections | req/s | p50 | p99 | Sextant CPU/req | Prometheus CPU/req "
      "| errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for r in runs:
    for name in ("sextant", "prometheus"):
        x = r[name]
        print(f"| {name} | {r['connections']} | {x['rps']:.0f} | {x['p50_us'] / 1000:.2f} ms "
              f"| {x['p99_us'] / 1000:.2f} ms | {x['sextant_cpu_us_per_request']:.0f} µs "
              f"| {x['prometheus_cpu_us_per_request']:.0f} µs | {x['errors']} |")
print()
for r in runs:
    conns = r["sextant"]["sextant_prometheus_connections"]
    print(f"{r['connections']} connection(s): p50 overhead Sextant - Prometheus "
          f"{r['overhead_p50_us'] / 1000:.3f} ms (target < 1 ms), p99 "
          f"{r['overhead_p99_us'] / 1000:.3f} ms; Sextant-Prometheus connections: "
          f"{conns['established_mid_run']} open mid-run, {conns['new_time_wait']} closed "
          f"during the run")
print(f"meets target: {'yes' if result['meets_target'] else 'no'}")
EOF
