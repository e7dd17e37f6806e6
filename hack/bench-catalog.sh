#!/usr/bin/env bash
# Catalog benchmark: how fast an autoscaler's poll of a built-in catalog entry is answered,
# against Prometheus answering the entry's own documented PromQL (the README's catalog table,
# `sextant validate` prints it for the namespace) directly. A real Prometheus scrapes the
# synthetic exporter every second: PODS inference pods per server kind in namespace default,
# each holding a GPU (GPU_NODES x GPUS_PER_NODE GPUs, DCGM in both pod-label styles: half the
# fleet through a second exporter with exported_* labels), and kube-state-metrics series.
# Sextant runs with only --prometheus-url (the catalog, default cache TTL 5s). For each entry
# in ENTRIES, measured in the same run with the same keep-alive load client
# (build/sextant_load_client), one connection, one after the other:
#   (a) Sextant: GET of the entry over TLS with a client certificate;
#   (b) Prometheus: /api/v1/query of the entry's equivalent PromQL (plain http).
# Output: a markdown table (p50, p99, ratio of p50s) on stdout and build/bench-catalog.json.
# Usage: hack/bench-catalog.sh
# Env: ENTRIES (default "gpu-utilization gpu-memory-used-ratio vllm-ttft-p95
#      triton-queue-time-per-request gpu-headroom-deficit"), PODS (100), GPU_NODES (100),
#      GPUS_PER_NODE (8), DURATION (measured seconds per target, 8), WARMUP (2).
# Everything runs on 127.0.0.1 on ports picked at run time and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
ENTRIES=${ENTRIES:-"gpu-utilization gpu-memory-used-ratio vllm-ttft-p95 triton-queue-time-per-request gpu-headroom-deficit"}
PODS=${PODS:-100}
GPU_NODES=${GPU_NODES:-100}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
PY=/usr/bin/python3

source hack/lib-stack.sh
STACK_NAME=bench-catalog
require_tools prometheus curl openssl
build_targets sextant sextant_load_client
stack_init
pki=$tmp/pki
make_pki "$pki"

common=(--pods "$PODS" --gpu-nodes "$GPU_NODES" --gpus-per-node "$GPUS_PER_NODE" --pending-pods 4)
start_exporter "${common[@]}"
plain_port=$EXPORTER_PORT
start_exporter "${common[@]}" --only dcgm --label-style exported --hostname-label hostname \
  --seed 2
start_prometheus "$plain_port" "$EXPORTER_PORT"
start_sextant "$pki" --client-ca-file "$pki/client-ca.crt" --prometheus-url "$PROM_URL"
wait_for "https://127.0.0.1:$SEXTANT_PORT/readyz" Sextant -k
# Windows fill: histograms and counters need two samples, gauges a minute for a full window.
echo "bench-catalog: letting the windows fill (65 s)" >&2
sleep 65

build/sextant validate --config /dev/null --prometheus-url "$PROM_URL" --namespace default \
  >"$tmp/validate.out" 2>"$tmp/validate.log" || die "sextant validate failed"
tls=(--ca "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
results=()
for entry in $ENTRIES; do
  promql=$(awk -v e="catalog $entry" '
    index($0, e) == 1 { found = 1; next }
    found && /equivalent PromQL:/ { sub(/^ *equivalent PromQL: /, ""); print; exit }' \
    "$tmp/validate.out")
  [[ -n $promql ]] || die "no PromQL for $entry"
  url=https://127.0.0.1:$SEXTANT_PORT/apis/external.metrics.k8s.io/v1beta1/namespaces/default/$entry
  curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$url" \
    >"$tmp/$entry.answer" || die "GET $entry failed"
  grep -q '"value"' "$tmp/$entry.answer" || die "$entry has no value: $(cat "$tmp/$entry.answer")"
  echo "bench-catalog: $entry" >&2
  build/sextant_load_client --url "$url" --connections 1 --duration "$DURATION" \
    --warmup "$WARMUP" --expect-status 200 "${tls[@]}" >"$tmp/$entry.sextant.json"
  build/sextant_load_client --url "$PROM_URL/api/v1/query?query=$(urlencode "$promql")" \
    --connections 1 --duration "$DURATION" --warmup "$WARMUP" --expect-status 200 \
    >"$tmp/$entry.prometheus.json"
  results+=("$entry")
done

gpus=$((GPU_NODES * GPUS_PER_NODE * 2))
GPUS=$gpus PODS=$PODS LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg) ENTRIES="${results[*]}" \
"$PY" - "$tmp" "$repo/build/bench-catalog.json" <<'EOF'
import json, os, sys
tmp, out_path = sys.argv[1], sys.argv[2]
rows = []
print(f"Catalog entries, 1 connection, {os.environ['GPUS']} DCGM GPUs in two label styles, "
      f"{os.environ['PODS']} pods per server kind, load average {os.environ['LOADAVG']}\n")
print("| entry | Sextant p50 | Sextant p99 | Prometheus p50 | Prometheus p99 | p50 ratio |")
print("|---|---:|---:|---:|---:|---:|")
for entry in os.environ["ENTRIES"].split():
    s = json.load(open(f"{tmp}/{entry}.sextant.json"))
    p = json.load(open(f"{tmp}/{entry}.prometheus.json"))
    ratio = s["p50_us"] / p["p50_us"]
    rows.append({"entry": entry, "sextant": s, "prometheus": p, "p50_ratio": ratio})
    print(f"| {entry} | {s['p50_us'] / 1000:.2f} ms | {s['p99_us'] / 1000:.2f} ms | "
          f"{p['p50_us'] / 1000:.2f} ms | {p['p99_us'] / 1000:.2f} ms | 1/{1 / ratio:.0f} |")
json.dump(rows, open(out_path, "w"), indent=2)
EOF
