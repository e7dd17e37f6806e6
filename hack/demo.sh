#!/usr/bin/env bash
# The demo: installs what is missing, builds, starts Sextant on loopback with its embedded
# default table (hack/demo/static-metrics.yaml), and prints what an autoscaler would see
# through `kubectl get --raw`. Keeps Sextant running until Ctrl-C; `--once` prints and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
ONCE=0
[[ "${1:-}" == "--once" ]] && ONCE=1

hack/install-deps.sh
hack/build.sh --target sextant >/dev/null
source hack/lib-pki.sh

WORK=$(mktemp -d /tmp/sextant-demo.XXXXXX)
SEXTANT_PID=""
cleanup() {
  [[ -n "$SEXTANT_PID" ]] && kill "$SEXTANT_PID" 2>/dev/null && wait "$SEXTANT_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

make_pki "$WORK/pki"
PORT=$(free_port)
build/sextant --bind-address 127.0.0.1 --secure-port "$PORT" \
  --tls-cert-file "$WORK/pki/server.crt" --tls-private-key-file "$WORK/pki/server.key" \
  --client-ca-file "$WORK/pki/client-ca.crt" \
  --static-metrics hack/demo/static-metrics.yaml 2>"$WORK/sextant.log" &
SEXTANT_PID=$!
for _ in $(seq 50); do
  curl -sk "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
write_kubeconfig "$WORK/kubeconfig" "$WORK/pki" "$PORT"
K=(kubectl --kubeconfig "$WORK/kubeconfig")
show() {
  echo "\$ kubectl get --raw '$1'"
  "${K[@]}" get --raw "$1" | /usr/bin/python3 -m json.tool
  echo
}
show "/apis/external.metrics.k8s.io/v1beta1"
show "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/dcgm_fi_dev_gpu_util"
show "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/vllm-requests-waiting?labelSelector=model_name%3Dllama-3-8b"
if ((ONCE)); then exit 0; fi
echo "Sextant is serving on https://127.0.0.1:$PORT (kubeconfig: $WORK/kubeconfig). Ctrl-C stops it."
wait "$SEXTANT_PID"
