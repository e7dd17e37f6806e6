#!/usr/bin/env bash
# Copies the aggregator's front-proxy CA from kube-system/extension-apiserver-authentication
# into the ConfigMap the Sextant Deployment mounts (sextant/sextant-requestheader-ca, key
# requestheader-ca.crt -> /etc/sextant/pki/requestheader-ca.crt), shows the cluster's other
# requestheader settings to compare with the Deployment's flags, and restarts Sextant so that
# it loads the CA. Run it after the first `kubectl apply -k manifests/...` and again whenever
# the front-proxy CA rotates. Idempotent.
#
#   hack/sync-requestheader-ca.sh [--namespace NS] [--no-restart] [--context CTX]
#
# Why a copy: k8s.io/apiserver-based servers read that ConfigMap through the API; Sextant
# reads files, and a pod cannot mount a ConfigMap of another namespace.
# The ConfigMap is changed with `kubectl patch` (never `kubectl apply`): the base declares it
# without data, so later `kubectl apply -k` runs leave the copied key alone.
set -euo pipefail

NAMESPACE=sextant
CONFIGMAP=sextant-requestheader-ca
KEY=requestheader-ca.crt
DEPLOYMENT=sextant
RESTART=1
KUBECTL=(kubectl)

while (($#)); do
  case $1 in
    -n|--namespace) NAMESPACE=$2; shift 2 ;;
    --no-restart) RESTART=0; shift ;;
    --context) KUBECTL+=(--context "$2"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

source_field() {
  "${KUBECTL[@]}" get configmap -n kube-system extension-apiserver-authentication \
    -o "jsonpath={.data.$1}"
}

ca=$(source_field requestheader-client-ca-file)
if [[ -z $ca ]]; then
  cat >&2 <<MSG
kube-system/extension-apiserver-authentication has no requestheader-client-ca-file: this
kube-apiserver runs without --requestheader-client-ca-file, so the aggregation layer is not
configured (see https://kubernetes.io/docs/tasks/extend-kubernetes/configure-aggregation-layer/).
MSG
  exit 1
fi
if ! grep -q -- '-----BEGIN CERTIFICATE-----' <<<"$ca"; then
  echo "requestheader-client-ca-file does not hold a PEM certificate" >&2
  exit 1
fi

# PEM holds no quote or backslash, but escape them anyway; newlines become \n.
json_value=$(printf '%s\n' "$ca" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | awk '{printf "%s\\n", $0}')
if "${KUBECTL[@]}" get configmap -n "$NAMESPACE" "$CONFIGMAP" >/dev/null 2>&1; then
  "${KUBECTL[@]}" patch configmap -n "$NAMESPACE" "$CONFIGMAP" --type merge \
    -p "{\"data\":{\"$KEY\":\"$json_value\"}}"
else
  # Not applied yet: create it (without --save-config, so `kubectl apply -k` will not erase
  # the key later).
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  printf '%s\n' "$ca" > "$tmp/$KEY"
  "${KUBECTL[@]}" create configmap -n "$NAMESPACE" "$CONFIGMAP" --from-file="$KEY=$tmp/$KEY"
  "${KUBECTL[@]}" label configmap -n "$NAMESPACE" "$CONFIGMAP" app.kubernetes.io/name=sextant
fi

echo
echo "The cluster's requestheader settings (the Deployment passes kube-apiserver's defaults:"
echo "--requestheader-allowed-names=front-proxy-client, X-Remote-User, X-Remote-Group,"
echo "X-Remote-Extra-); change the Deployment's args if these differ:"
for field in requestheader-allowed-names requestheader-username-headers \
             requestheader-group-headers requestheader-extra-headers-prefix; do
  printf '  %-36s %s\n' "$field" "$(source_field "$field")"
done
echo

if ((RESTART)); then
  if "${KUBECTL[@]}" get deployment -n "$NAMESPACE" "$DEPLOYMENT" >/dev/null 2>&1; then
    "${KUBECTL[@]}" rollout restart -n "$NAMESPACE" "deployment/$DEPLOYMENT"
  else
    echo "deployment $NAMESPACE/$DEPLOYMENT not found: nothing to restart"
  fi
fi
