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
# half of nginx's throughput and a p99 within twice nginx's. The table also gives each
# server's CPU time over the measured window (from /proc) and per request: client and
# servers share the machine's cores, so on a busy or small machine that ratio is the steadier
# figure of the two servers' costs.
# Everything runs on 127.0.0.1, on ports picked at run time; everything started is stopped
# on exit (the shared plumbing is hack/lib-stack.sh). Needs openssl, curl, Debian's
# /usr/bin/python3 and nginx (Debian package, /usr/sbin/nginx; NGINX overrides). nginx gets
# `user root` so that, started as root, its worker can still read the private temp dir;
# started as another user it runs as that user.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
MAX_WORKERS=${MAX_WORKERS:-$(( CONNECTIONS * 2 > 128 ? CONNECTIONS * 2 : 128 ))}
NGINX=${NGINX:-/usr/sbin/nginx}
METRIC_PATH=/apis/external.metrics.k8s.io/v1beta1/namespaces/default/vllm-requests-waiting

source hack/lib-stack.sh
STACK_NAME=bench-api
require_tools openssl curl "$PY" "$NGINX"
build_targets sextant sextant_load_client
stack_init

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
start_sextant "$pki" --requestheader-client-ca-file "$pki/front-proxy-ca.crt" \
  --static-metrics "$tmp/metrics.yaml" --max-workers "$MAX_WORKERS"

client_tls=(--cacert "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key")
curl -fsS "${client_tls[@]}" -H 'X-Remote-User: bench' \
  -o "$tmp/answer.json" "https://127.0.0.1:$SEXTANT_PORT$METRIC_PATH"
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
nginx_pid=$!
track "$nginx_pid"
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
clk_tck=$(getconf CLK_TCK)

# load NAME PORT PID...: runs the client against PORT; its JSON line goes to $tmp/NAME.json
# and the server's CPU time over the measured window (PIDs: the server's processes) to
# $tmp/NAME.cpu.
load() {
  local name=$1 port=$2 client start_ticks start_ns end_ticks end_ns
  shift 2
  echo "bench-api: $name: $CONNECTIONS connections, ${WARMUP}s warm-up, ${DURATION}s measured" >&2
  build/sextant_load_client --url "https://127.0.0.1:$port$METRIC_PATH" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
    --ca "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" \
    --header 'X-Remote-User: bench' --expect-status 200 >"$tmp/$name.json" &
  client=$!
  track "$client"
  sleep "$WARMUP"
  start_ticks=$(cpu_ticks "$@")
  start_ns=$(date +%s%N)
  wait "$client" || echo "bench-api: $name: the load client reported errors" >&2
  end_ticks=$(cpu_ticks "$@")
  end_ns=$(date +%s%N)
  echo "$(( end_ticks - start_ticks )) $clk_tck $(( end_ns - start_ns ))" >"$tmp/$name.cpu"
  cat "$tmp/$name.json" >&2
}
loadavg=$(cut -d' ' -f1 /proc/loadavg)
# shellcheck disable=SC2046  # one PID per word
load nginx "$nginx_port" "$nginx_pid" $(pgrep -P "$nginx_pid")
load sextant "$SEXTANT_PORT" "$SEXTANT_PID"

NPROC=$(nproc) LOADAVG=$loadavg python3 - "$tmp" "$repo/build/bench-api.json" <<'EOF'
import json, os, sys
tmp, out_path = sys.argv[1], sys.argv[2]

def load(name):
    result = json.load(open(f"{tmp}/{name}.json"))
    ticks, clk_tck, wall_ns = (int(x) for x in open(f"{tmp}/{name}.cpu").read().split())
    cpu_s = ticks / clk_tck
    # Server CPU over the measured window (warm-up excluded), per successful request.
    result["server_cpu_cores"] = round(cpu_s / (wall_ns / 1e9), 3) if wall_ns else 0.0
    result["server_cpu_us_per_request"] = (
        round(cpu_s * 1e6 / result["requests"], 2) if result["requests"] else 0.0)
    return result

nginx = load("nginx")
sextant = load("sextant")
throughput_ratio = sextant["rps"] / nginx["rps"] if nginx["rps"] else 0.0
p99_ratio = sextant["p99_us"] / nginx["p99_us"] if nginx["p99_us"] else 0.0
cpu_ratio = (sextant["server_cpu_us_per_request"] / nginx["server_cpu_us_per_request"]
             if nginx["server_cpu_us_per_request"] else 0.0)
result = {
    "nproc": int(os.environ["NPROC"]),
    "loadavg_1m_before": float(os.environ["LOADAVG"]),
    "connections": nginx["connections"],
    "nginx": nginx,
    "sextant": sextant,
    "throughput_ratio": round(throughput_ratio, 3),
    "p99_ratio": round(p99_ratio, 3),
    "cpu_per_request_ratio": round(cpu_ratio, 3),
    "target": {"throughput_ratio_min": 0.5, "p99_ratio_max": 2.0},
    "meets_target": throughput_ratio >= 0.5 and p99_ratio <= 2.0,
}
with open(out_path, "w") as out:
    json.dump(result, out, indent=2)
    out.write("\n")
print(f"nproc: {result['nproc']}, connections: {result['connections']}, "
      f"{nginx['seconds']:.0f}s measured each, 1-min load average before: "
      f"{result['loadavg_1m_before']}\n")
print("| server | req/s | p50 | p99 | server CPU | server CPU/request | errors | TLS handshakes |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, r in (("nginx", nginx), ("sextant", sextant)):
    print(f"| {name} | {r['rps']:.0f} | {r['p50_us']:.0f} µs | {r['p99_us']:.0f} µs "
          f"| {r['server_cpu_cores']:.2f} cores | {r['server_cpu_us_per_request']:.1f} µs "
          f"| {r['errors']} | {r['handshakes']} |")
print()
print(f"throughput sextant/nginx: {throughput_ratio:.2f} (target >= 0.5)")
print(f"p99 sextant/nginx: {p99_ratio:.2f} (target <= 2.0)")
print(f"server CPU per request sextant/nginx: {cpu_ratio:.2f} (informational)")
print(f"meets target: {'yes' if result['meets_target'] else 'no'}")
EOF
