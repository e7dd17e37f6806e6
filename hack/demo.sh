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
source hack/lib-stack.sh
STACK_NAME=demo
stack_init

# 1. The synthetic exporter: DCGM, Neuron, vLLM, Triton, TGI, SGLang, kube-state-metrics.
start_exporter

# 2. Prometheus scraping it every second.
start_prometheus "$EXPORTER_PORT"
for _ in $(seq 100); do  # until the first scrape landed
  curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query?query=up" | grep -q '"value"' && break
  sleep 0.2
done

# 3. Sextant, with a throwaway PKI: a serving certificate and a client CA for kubectl.
make_pki "$tmp/pki"
start_sextant "$tmp/pki" --secure-port "$(free_port)" \
  --client-ca-file "$tmp/pki/client-ca.crt" \
  --config hack/demo/adapter-config.yaml --prometheus-url "$PROM_URL"
wait_for "https://127.0.0.1:$SEXTANT_PORT/readyz" "Sextant" -k

write_kubeconfig "$tmp/kubeconfig" "$tmp/pki" "$SEXTANT_PORT"
K=(kubectl --kubeconfig "$tmp/kubeconfig")
show() {
  echo "\$ kubectl get --raw '$1'"
  "${K[@]}" get --raw "$1" | /usr/bin/python3 -m json.tool
  echo
}
API=/apis/external.metrics.k8s.io/v1beta1
show "$API"
# A prometheus-adapter rule, with and without a selector.
show "$API/namespaces/default/vllm-requests-waiting"
show "$API/namespaces/default/vllm-requests-waiting?labelSelector=model_name%3Dllama-3-8b"
# Windowed values (the catalog's, signals) need scrapes in their window, and the window
# store evaluates one second behind the clock: wait until the first ones are there.
for _ in $(seq 30); do
  "${K[@]}" get --raw "$API/namespaces/default/gpu-headroom-deficit" | grep -q '"value"' &&
    "${K[@]}" get --raw "$API/namespaces/default/vllm-ttft-p95" | grep -q '"value"' && break
  sleep 0.5
done
# Catalog entries (no configuration): the mean tensor-core activity of the GPUs held by the
# pods labelled app=vllm-llama-3-8b (through kube-state-metrics' kube_pod_labels), and the
# GPUs Karpenter should add for the Pending pods.
show "$API/namespaces/default/gpu-utilization"
show "$API/namespaces/default/gpu-tensor-active?labelSelector=app%3Dvllm-llama-3-8b"
show "$API/namespaces/default/gpu-headroom-deficit"
show "$API/namespaces/default/vllm-queue-p90"   # a signal from the config
show "$API/namespaces/default/vllm-ttft-p95"    # the catalog's p95 time to first token
if ((ONCE)); then exit 0; fi
cat <<EOT
Running on loopback:
  Sextant     https://127.0.0.1:$SEXTANT_PORT   (kubectl --kubeconfig $tmp/kubeconfig get --raw $API)
  Prometheus  http://127.0.0.1:$PROM_PORT
  exporter    http://127.0.0.1:$EXPORTER_PORT/metrics  (POST /control to pin values)
Ctrl-C stops everything.
EOT
wait "${pids[@]}"
