#!/usr/bin/env bash
# Configures and builds Sextant into build/ (build/sextant). Extra args go to cmake --build.
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j"${JOBS:-2}" "$@"
