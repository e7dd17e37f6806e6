#!/usr/bin/env bash
# The one test command: installs what is missing, builds, and runs every unit, conformance and
# integration test through ctest. Integration tests start real services on loopback ports
# chosen at run time and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh
hack/build.sh
cd build
ctest --output-on-failure -j2 --timeout 600 "$@"
