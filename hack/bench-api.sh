#!/usr/bin/env bash
# API-server benchmark: throughput and p50/p99 latency of one external metric GET over TLS
# keep-alive, Sextant (static provider) against nginx (one worker) serving the same JSON
# bytes with the same certificate, measured in the same run by the same client
# (build/sextant_load_client) with the same concurrency.
#
# Usage: hack/bench-api.sh
# Env: CONNECTIONS (default 32), DURATION (measured seconds, default 10), WARMUP (default 2),
#      MAX_WORKERS (Sextant's --max-workers, default max(128, 2*CONNECTIONS)).
# Output: a markdown table on stdout and build/bench-api.json. Sextant's target is at least
# half of nginx's throughput and a p99 within twice nginx's.
# Everything runs on 127.0.0.1, on ports picked at run time; everything started is stopped
# on exit. Needs openssl, curl, python3 and nginx (Debian package, /usr/sbin/nginx), and
# root (nginx runs with `user root` so its worker can read the temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
MAX_WORKERS=${MAX_WORKERS:-$(( CONNECTIONS * 2 > 128 ? CONNECTIONS * 2 : 128 ))}
NGINX=${NGINX:-/usr/sbin/nginx}
METRIC_PATH=/apis/external.metrics.k8s.io/v1beta1/namespaces/default/vllm-requests-waiting

for tool in openssl curl python3 "$NGINX"; do
  command -v "$tool" >/dev/null || { echo "bench-api: $tool not found" >&2; exit 1; }
done

# A configure that failed earlier leaves a cache but no build files; hack/build.sh only
# configures when there is no cache.
if [[ -f build/CMakeCache.txt && ! -f build/build.ninja && ! -f build/Makefile ]]; then
  cmake -S . -B build >&2
fi
hack/build.sh --target sextant sextant_load_client >&2

tmp=$(mktemp -d /tmp/sextant-bench-api.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- Throwaway PKI -------------------------------------------------------------------------
pki=$tmp/pki
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca \
    -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
    > server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
    -extfile server.ext -out server.crt 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-front-proxy-ca \
    -keyout front-proxy-ca.key -out front-proxy-ca.crt 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -subj /CN=front-proxy-client \
    -keyout client.key -out client.csr 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
    > client.ext
  openssl x509 -req -in client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key \
    -CAcreateserial -days 1 -extfile client.ext -out client.crt 2>/dev/null
)

cat > "$tmp/metrics.yaml" <<'EOF'
metrics:
  - name: vllm-requests-waiting
    series:
      - labels: {model_name: llama, namespace: default}
        value: 7
EOF

# --- Sextant -------------------------------------------------------------------------------
build/sextant --secure-port 0 --bind-address 127.0.0.1 \
  --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" \
  --requestheader-client-ca-file "$pki/front-proxy-ca.crt" \
  --static-metrics "$tmp/metrics.yaml" --max-workers "$MAX_WORKERS" \
  >"$tmp/sextant.log" 2>&1 &
pids+=($!)
sextant_pid=$!
sextant_port=
for _ in $(seq 1 100); do
  sextant_port=$(sed -n 's/.*serving securely on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
    "$tmp/sextant.log" | head -n1)
  [[ -n $sextant_port ]] && break
  kill -0 "$sextant_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $sextant_port ]]; then
  echo "bench-api: sextant did not start:" >&2
  cat "$tmp/sextant.log" >&2
  exit 1
fi

client_tls=(--cacert "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key")
curl -fsS "${client_tls[@]}" -H 'X-Remote-User: bench' \
  -o "$tmp/answer.json" "https://127.0.0.1:$sextant_port$METRIC_PATH"
[[ -s $tmp/answer.json ]] || { echo "bench-api: empty answer from sextant" >&2; exit 1; }

# --- nginx ---------------------------------------------------------------------------------
nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat > "$tmp/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
master_process on;
error_log $tmp/nginx/error.log;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path $tmp/nginx/client_body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  open_file_cache max=16;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $pki/server.crt;
    ssl_certificate_key $pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = $METRIC_PATH {
      default_type application/json;
      alias $tmp/answer.json;
    }
  }
}
EOF
"$NGINX" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" &
pids+=($!)
nginx_pid=$!
for _ in $(seq 1 100); do
  curl -fsS --cacert "$pki/ca.crt" -o "$tmp/nginx-answer.json" \
    "https://127.0.0.1:$nginx_port$METRIC_PATH" 2>/dev/null && break
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$tmp/nginx/error.log" >&2; exit 1; }
  sleep 0.1
done
cmp -s "$tmp/answer.json" "$tmp/nginx-answer.json" || {
  echo "bench-api: nginx does not serve the same bytes as sextant" >&2
  exit 1
}

# --- Load ----------------------------------------------------------------------------------
load() {  # load NAME PORT: runs the client, its JSON line goes to $tmp/NAME.json
  echo "bench-api: $1: $CONNECTIONS connections, ${WARMUP}s warm-up, ${DURATION}s measured" >&2
  build/sextant_load_client --url "https://127.0.0.1:$2$METRIC_PATH" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
    --ca "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" \
    --header 'X-Remote-User: bench' --expect-status 200 >"$tmp/$1.json" ||
    echo "bench-api: $1: the load client reported errors" >&2
  cat "$tmp/$1.json" >&2
}
load nginx "$nginx_port"
load sextant "$sextant_port"

NPROC=$(nproc) python3 - "$tmp/nginx.json" "$tmp/sextant.json" "$repo/build/bench-api.json" <<'EOF'
import json, os, sys
nginx = json.load(open(sys.argv[1]))
sextant = json.load(open(sys.argv[2]))
throughput_ratio = sextant["rps"] / nginx["rps"] if nginx["rps"] else 0.0
p99_ratio = sextant["p99_us"] / nginx["p99_us"] if nginx["p99_us"] else 0.0
result = {
    "nproc": int(os.environ["NPROC"]),
    "connections": nginx["connections"],
    "nginx": nginx,
    "sextant": sextant,
    "throughput_ratio": round(throughput_ratio, 3),
    "p99_ratio": round(p99_ratio, 3),
    "target": {"throughput_ratio_min": 0.5, "p99_ratio_max": 2.0},
    "meets_target": throughput_ratio >= 0.5 and p99_ratio <= 2.0,
}
with open(sys.argv[3], "w") as out:
    json.dump(result, out, indent=2)
    out.write("\n")
print(f"nproc: {result['nproc']}, connections: {result['connections']}, "
      f"{nginx['seconds']:.0f}s measured each\n")
print("| server | req/s | p50 | p99 | errors | TLS handshakes |")
print("|---|---:|---:|---:|---:|---:|")
for name, r in (("nginx", nginx), ("sextant", sextant)):
    print(f"| {name} | {r['rps']:.0f} | {r['p50_us']:.0f} µs | {r['p99_us']:.0f} µs "
          f"| {r['errors']} | {r['handshakes']} |")
print()
print(f"throughput sextant/nginx: {throughput_ratio:.2f} (target >= 0.5)")
print(f"p99 sextant/nginx: {p99_ratio:.2f} (target <= 2.0)")
print(f"meets target: {'yes' if result['meets_target'] else 'no'}")
EOF
