# Shell helpers shared by hack/ scripts: a throwaway PKI made with the openssl CLI.
# make_pki DIR creates in DIR: ca.{crt,key} (serving CA), server.{crt,key} (SAN localhost,
# 127.0.0.1), client-ca.{crt,key}, admin.{crt,key} (CN=demo-admin, O=system:masters, signed by
# client-ca, clientAuth).
make_pki() {
  local dir=$1
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=sextant-demo-ca" -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt 2>/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=sextant-demo-client-ca" -keyout client-ca.key -out client-ca.crt 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/O=system:masters/CN=demo-admin" -keyout admin.key -out admin.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in admin.csr -CA client-ca.crt -CAkey client-ca.key -CAcreateserial \
      -days 2 -extfile client.ext -out admin.crt 2>/dev/null
  )
}

# write_kubeconfig FILE PKI_DIR PORT: a kubeconfig for kubectl as demo-admin.
write_kubeconfig() {
  local file=$1 pki=$2 port=$3
  cat > "$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: sextant
  cluster:
    server: https://127.0.0.1:${port}
    certificate-authority: ${pki}/ca.crt
users:
- name: demo-admin
  user:
    client-certificate: ${pki}/admin.crt
    client-key: ${pki}/admin.key
contexts:
- name: sextant
  context: {cluster: sextant, user: demo-admin}
current-context: sextant
KUBECONFIG
}

# free_port: a loopback TCP port free right now.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
