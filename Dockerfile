# syntax=docker/dockerfile:1
# Sextant's container image: built on Debian 12 (bookworm), run on bookworm-slim with only
# the shared libraries the binary links, as UID 65532 (the manifests' runAsUser).
#
#   docker build -t sextant:latest .
#   docker run --rm sextant:latest --help
#
# The runtime package list is checked against the binary while building (`ldd` + `dpkg -S`
# in the builder): a library without its package in RUNTIME_PACKAGES fails the build instead
# of the container at start. tests/integration/test_manifests.py checks that every package
# exists in Debian's archive.

ARG DEBIAN_RELEASE=bookworm
# What the runtime stage installs: the packages of every library the binary links, plus
# ca-certificates (HTTPS to Prometheus). libgrpc++1.51 is for the KEDA external scaler (gRPC),
# with libgrpc29, libabsl20220623 and libc-ares2 that it links.
ARG RUNTIME_PACKAGES="ca-certificates libcpp-httplib0.11 libssl3 libyaml-cpp0.7 libprotobuf32 libgrpc++1.51 libgrpc29 libabsl20220623 libc-ares2 libprometheus-cpp-core1.0 libre2-9 libhwy1 libbrotli1 zlib1g libstdc++6 libgcc-s1 libc6"

# ---------------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE} AS builder

# The build half of hack/install-deps.sh (that script also installs the test and benchmark
# tools: Prometheus, nginx, Python clients, GoogleTest, Google Benchmark).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libcpp-httplib-dev libboost-dev libssl-dev \
      nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev \
      libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc \
      libhwy-dev libre2-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEXTANT_BUILD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target sextant \
 && install -D -m 0755 /build/sextant /out/usr/local/bin/sextant \
 && strip --strip-unneeded /out/usr/local/bin/sextant

# Every library the binary links must come from a package in RUNTIME_PACKAGES.
ARG RUNTIME_PACKAGES
RUN set -eu; \
    bin=/out/usr/local/bin/sextant; \
    if ldd "$bin" | grep -q "not found"; then ldd "$bin" >&2; exit 1; fi; \
    missing=""; \
    for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do \
      real=$(readlink -f "$lib"); \
      pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null \
            || dpkg -S "$(echo "$real" | sed 's|^/usr/lib/|/lib/|')" 2>/dev/null \
            || dpkg -S "$(echo "$lib" | sed 's|^/lib/|/usr/lib/|')" 2>/dev/null || true); \
      pkg=$(echo "$pkg" | head -n1 | cut -d: -f1); \
      if [ -z "$pkg" ]; then echo "no Debian package owns $lib" >&2; exit 1; fi; \
      case " $RUNTIME_PACKAGES " in *" $pkg "*) ;; *) missing="$missing $pkg ($lib)";; esac; \
    done; \
    if [ -n "$missing" ]; then \
      echo "add to RUNTIME_PACKAGES:$missing" >&2; exit 1; \
    fi

# ---------------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

ARG RUNTIME_PACKAGES
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${RUNTIME_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*

COPY --from=builder /out/ /

# 65532: the conventional "nonroot" UID (distroless); the manifests run as 65532:65532 too.
USER 65532:65532
# 6443: HTTPS (external.metrics.k8s.io); 9443: gRPC for KEDA (with the external scaler).
EXPOSE 6443 9443
ENTRYPOINT ["/usr/local/bin/sextant"]
