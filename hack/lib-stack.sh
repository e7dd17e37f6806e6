# Shell helpers shared by the hack/ benchmarks and the demo: a loopback stack of the synthetic
# exporter, a real Prometheus and build/sextant, started in a private temp dir and stopped on
# exit. Source it from the repository root after setting STACK_NAME (the prefix of messages,
# e.g. bench-query); it sources hack/lib-pki.sh (make_pki, write_kubeconfig, free_port).
#
#   require_tools TOOL...     exits when one is not on PATH
#   build_targets TARGET...   hack/build.sh --target TARGET... (re-configures a failed build dir)
#   stack_init                $tmp (a fresh /tmp/sextant-$STACK_NAME.XXXXXX), one cleanup
#                             trap: kills every tracked pid, waits for them, removes $tmp
#   track PID...              adds to the pids the cleanup stops ($pids)
#   die MESSAGE               prints it and the tail of every $tmp/*.log, exits 1
#   wait_for URL WHAT [curl args...]   until URL answers 2xx (up to 60 s), else die
#   start_exporter ARGS...    hack/exporter/sextant_exporter.py on a free port, extra ARGS
#                             passed on; sets EXPORTER_PORT, EXPORTER_PID; log exporter.log
#   start_prometheus [--job NAME] PORT...   Prometheus scraping 127.0.0.1:PORT... every
#                             second (honor_labels; job "synthetic" unless --job); sets
#                             PROM_PORT, PROM_URL, PROM_PID; log prometheus.log
#   start_sextant [--name NAME] PKI_DIR ARGS...   build/sextant on 127.0.0.1 with PKI_DIR's
#                             server.{crt,key}, --secure-port 0 unless ARGS choose one; sets
#                             SEXTANT_PID and SEXTANT_PORT (from "serving securely on
#                             ADDR:PORT" in its log: sextant.log, or sextant-NAME.log)
#   cpu_ticks PID...          CPU time (utime + stime, clock ticks) of the processes, all threads
#   urlencode STRING          percent-encodes every reserved character
#   prom_value PROMQL         the first sample's value of an instant query to $PROM_URL
#                             ("" when none)
#   promql_of METRIC FILE     the PromQL that `sextant validate` output FILE gives METRIC
# Needs curl, openssl and Debian's /usr/bin/python3.
# shellcheck shell=bash
source hack/lib-pki.sh

PY=/usr/bin/python3

require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$STACK_NAME: $tool not found" >&2; exit 1; }
  done
}

build_targets() {
  # A configure that failed earlier leaves a cache but no build files; hack/build.sh only
  # configures when there is no cache.
  if [[ -f build/CMakeCache.txt && ! -f build/build.ninja && ! -f build/Makefile ]]; then
    cmake -S . -B build >&2
  fi
  hack/build.sh --target "$@" >&2
}

stack_init() {
  tmp=$(mktemp -d "/tmp/sextant-$STACK_NAME.XXXXXX")
  pids=()
  trap stack_cleanup EXIT
  trap 'exit 130' INT TERM
}

stack_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}

track() {
  pids+=("$@")
}

die() {
  echo "$STACK_NAME: $*; logs:" >&2
  tail -n 20 "$tmp"/*.log >&2 2>/dev/null || true
  exit 1
}

wait_for() {
  local url=$1 what=$2
  shift 2
  for _ in $(seq 600); do
    curl -sf "$@" -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$what did not come up"
}

start_exporter() {
  EXPORTER_PORT=$(free_port)
  "$PY" hack/exporter/sextant_exporter.py --listen "127.0.0.1:$EXPORTER_PORT" "$@" \
    >"$tmp/exporter.log" 2>&1 &
  EXPORTER_PID=$!
  track "$EXPORTER_PID"
  wait_for "http://127.0.0.1:$EXPORTER_PORT/metrics" "the exporter"
}

start_prometheus() {
  local job=synthetic targets="" port
  if [[ ${1:-} == --job ]]; then job=$2; shift 2; fi
  for port in "$@"; do targets+="${targets:+, }\"127.0.0.1:$port\""; done
  PROM_PORT=$(free_port)
  PROM_URL=http://127.0.0.1:$PROM_PORT
  cat >"$tmp/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: $job
    honor_labels: true
    static_configs: [{targets: [$targets]}]
EOF
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$tmp/prometheus.log" 2>&1 &
  PROM_PID=$!
  track "$PROM_PID"
  wait_for "$PROM_URL/-/ready" "Prometheus"
}

start_sextant() {
  local log=$tmp/sextant.log what=sextant pki port_args=(--secure-port 0) arg
  if [[ ${1:-} == --name ]]; then
    log=$tmp/sextant-$2.log what="sextant ($2)"
    shift 2
  fi
  pki=$1
  shift
  for arg in "$@"; do [[ $arg == --secure-port ]] && port_args=(); done
  build/sextant --bind-address 127.0.0.1 "${port_args[@]}" \
    --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" "$@" \
    >"$log" 2>&1 &
  SEXTANT_PID=$!
  track "$SEXTANT_PID"
  SEXTANT_PORT=
  for _ in $(seq 300); do
    SEXTANT_PORT=$(sed -n 's/.*serving securely on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
      "$log" | head -n1)
    [[ -n $SEXTANT_PORT ]] && break
    kill -0 "$SEXTANT_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n $SEXTANT_PORT ]] || die "$what did not start"
}

cpu_ticks() {
  local total=0 pid fields
  for pid in "$@"; do
    read -r -a fields <"/proc/$pid/stat"
    total=$(( total + fields[13] + fields[14] ))
  done
  echo "$total"
}

urlencode() {
  "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

prom_value() {
  curl -sf "$PROM_URL/api/v1/query?query=$(urlencode "$1")" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}

promql_of() {
  awk -v m="$1" '
    $1 == "metric" && $2 == m { found = 1; next }
    found && $1 == "promql:" { sub(/^[ \t]*promql: /, ""); print; exit }' "$2"
}
