#!/usr/bin/env bash
# Installs every Debian package Sextant needs to build, test, benchmark and run the demo.
# Idempotent: skips apt-get entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl
  libcpp-httplib-dev libboost-dev libssl-dev openssl
  nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libhwy-dev libre2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus nginx-light
  python3-kubernetes python3-grpcio python3-grpc-tools python3-pytest python3-yaml
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# kubectl comes with the machine image; the tests that need it say so when it is missing.
command -v kubectl >/dev/null || echo "note: kubectl not found; kubectl-based tests will fail" >&2
