#!/usr/bin/env bash
# The demo: installs what is missing, builds, and starts on loopback a real Prometheus
# (Debian's package) scraping the synthetic GPU/inference exporter, and Sextant serving the
# embedded prometheus-adapter style config (hack/demo/adapter-config.yaml) from it. Then prints
# what an autoscaler sees through `kubectl get --raw`, and keeps everything running until
# Ctrl-C; `--once` prints and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
ONCE=0
[[ "${1:-}" == "--once" ]] && ONCE=1

hack/install-deps.sh
hack/build.sh --target sextant >/dev/null
source hack/lib-pki.sh

WORK=$(mktemp -d /tmp/sextant-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

wait_for() {  # wait_for URL what: until URL answers 200 (up to 60 s)
  for _ in $(seq 600); do
    curl -skf "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "demo: $2 did not come up; logs in $WORK" >&2
  exit 1
}

# 1. The synthetic exporter: DCGM, Neuron, vLLM, Triton, TGI, SGLang, kube-state-metrics.
EXPORTER_PORT=$(free_port)
/usr/bin/python3 hack/exporter/sextant_exporter.py --listen "127.0.0.1:$EXPORTER_PORT" \
  >"$WORK/exporter.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$EXPORTER_PORT/metrics" "the exporter"

# 2. Prometheus scraping it every second.
PROM_PORT=$(free_port)
cat > "$WORK/prometheus.yml" <<PROMCONFIG
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: synthetic
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$EXPORTER_PORT"]}]
PROMCONFIG
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$PROM_PORT/-/ready" "Prometheus"
for _ in $(seq 100); do  # until the first scrape landed
  curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query?query=up" | grep -q '"value"' && break
  sleep 0.2
done

# 3. Sextant, with a throwaway PKI: a serving certificate and a client CA for kubectl.
make_pki "$WORK/pki"
PORT=$(free_port)
build/sextant --bind-address 127.0.0.1 --secure-port "$PORT" \
  --tls-cert-file "$WORK/pki/server.crt" --tls-private-key-file "$WORK/pki/server.key" \
  --client-ca-file "$WORK/pki/client-ca.crt" \
  --config hack/demo/adapter-config.yaml --prometheus-url "http://127.0.0.1:$PROM_PORT" \
  2>"$WORK/sextant.log" &
PIDS+=($!)
wait_for "https://127.0.0.1:$PORT/readyz" "Sextant"

write_kubeconfig "$WORK/kubeconfig" "$WORK/pki" "$PORT"
K=(kubectl --kubeconfig "$WORK/kubeconfig")
show() {
  echo "\$ kubectl get --raw '$1'"
  "${K[@]}" get --raw "$1" | /usr/bin/python3 -m json.tool
  echo
}
API=/apis/external.metrics.k8s.io/v1beta1
show "$API"
show "$API/namespaces/default/gpu-utilization"
show "$API/namespaces/default/vllm-requests-waiting"
show "$API/namespaces/default/vllm-requests-waiting?labelSelector=model_name%3Dllama-3-8b"
# Signals need a few scrapes in their window (a rate needs two samples): wait for them.
for _ in $(seq 30); do
  "${K[@]}" get --raw "$API/namespaces/default/vllm-ttft-p95" | grep -q '"value"' && break
  sleep 0.5
done
show "$API/namespaces/default/vllm-queue-p90"
show "$API/namespaces/default/vllm-ttft-p95"
if ((ONCE)); then exit 0; fi
cat <<EOT
Running on loopback:
  Sextant     https://127.0.0.1:$PORT   (kubectl --kubeconfig $WORK/kubeconfig get --raw $API)
  Prometheus  http://127.0.0.1:$PROM_PORT
  exporter    http://127.0.0.1:$EXPORTER_PORT/metrics  (POST /control to pin values)
Ctrl-C stops everything.
EOT
wait "${PIDS[@]}"
