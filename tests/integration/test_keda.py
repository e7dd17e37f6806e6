"""KEDA external scaler (gRPC, --grpc-port): a real gRPC client (python3-grpcio) built at test
time from server/proto/externalscaler.proto with grpc_tools.protoc.

- Static provider (--static-metrics): GetMetricSpec, GetMetrics, IsActive, errors
  (NOT_FOUND, INVALID_ARGUMENT, UNAVAILABLE from an `unavailable: true` metric),
  StreamMetricSpec UNIMPLEMENTED, TLS with the HTTPS serving pair, client certificates
  required with --grpc-client-ca-file.
- Prometheus stack (synthetic exporter + Prometheus + Sextant --config): StreamIsActive sends
  true within a second of the value crossing activationTarget (exporter /control pinning).
Everything listens on 127.0.0.1 on ports chosen at run time.
"""
from __future__ import annotations

import importlib
import json
import math
import pathlib
import subprocess
import sys
import threading
import time
import urllib.parse

import grpc
import pytest
import yaml

import prom_harness as ph
from harness import SOURCE_DIR, Pki, SextantProcess

PROTO_DIR = SOURCE_DIR / "server" / "proto"
NAMESPACE = "default"

STATIC = {"metrics": [
    {"name": "queue-depth", "series": [
        {"labels": {"model_name": "llama", "namespace": NAMESPACE}, "value": 2.4},
        {"labels": {"model_name": "llama", "namespace": NAMESPACE, "pod": "b"}, "value": 1.2},
        {"labels": {"model_name": "mistral", "namespace": NAMESPACE}, "value": 7},
        {"labels": {"model_name": "llama", "namespace": "other"}, "value": 100}]},
    {"name": "idle-queue", "series": [
        {"labels": {"model_name": "llama", "namespace": NAMESPACE}, "value": 0}]},
    {"name": "down-metric", "unavailable": True, "series": [
        {"labels": {"namespace": NAMESPACE}, "value": 5}]},
]}


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    out = tmp_path_factory.mktemp("stubs")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
                    f"--python_out={out}", f"--grpc_python_out={out}",
                    str(PROTO_DIR / "externalscaler.proto")], check=True)
    sys.path.insert(0, str(out))
    try:
        msgs = importlib.import_module("externalscaler_pb2")
        svc = importlib.import_module("externalscaler_pb2_grpc")
    finally:
        sys.path.remove(str(out))
    return msgs, svc


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def start(directory: pathlib.Path, args: list[str]) -> tuple[SextantProcess, int]:
    directory.mkdir(parents=True, exist_ok=True)
    port = ph.free_port()
    proc = SextantProcess([*args, "--grpc-port", str(port)], directory / "sextant.log",
                          directory)
    proc.start()
    deadline = time.monotonic() + 10
    while f"KEDA external scaler (gRPC) on" not in proc.log():
        if time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"gRPC server not started; log:\n{proc.log()}")
        time.sleep(0.05)
    return proc, port


def static_args(directory: pathlib.Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "static.yaml"
    path.write_text(yaml.safe_dump(STATIC))
    return ["--static-metrics", str(path)]


def tls_channel(port: int, pki: Pki, cert=None):
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki.server_ca.cert.read_bytes(),
        private_key=cert.key.read_bytes() if cert else None,
        certificate_chain=cert.cert.read_bytes() if cert else None)
    return grpc.secure_channel(f"127.0.0.1:{port}", creds,
                               options=[("grpc.ssl_target_name_override", "localhost")])


@pytest.fixture(scope="module")
def static_server(tmp_path_factory, pki):
    d = tmp_path_factory.mktemp("static")
    proc, port = start(d, [*static_args(d), "--tls-cert-file", str(pki.server.cert),
                           "--tls-private-key-file", str(pki.server.key)])
    yield proc, port
    proc.stop()


@pytest.fixture(scope="module")
def stub(pb, pki, static_server):
    _, svc = pb
    channel = tls_channel(static_server[1], pki)
    yield svc.ExternalScalerStub(channel)
    channel.close()


def ref(pb, metric, **meta):
    msgs, _ = pb
    md = {"metric": metric, **{k: str(v) for k, v in meta.items()}}
    return msgs.ScaledObjectRef(name="so", namespace=NAMESPACE, scalerMetadata=md)


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code()


def test_get_metric_spec_target_float(pb, stub):
    resp = stub.GetMetricSpec(ref(pb, "queue-depth", target="2.5"), timeout=10)
    assert len(resp.metricSpecs) == 1
    spec = resp.metricSpecs[0]
    assert spec.metricName == "queue-depth"
    assert spec.targetSizeFloat == 2.5
    # case-insensitive match gives the canonical name
    resp = stub.GetMetricSpec(ref(pb, "QUEUE-DEPTH", target="4"), timeout=10)
    assert resp.metricSpecs[0].metricName == "queue-depth"
    assert resp.metricSpecs[0].targetSizeFloat == 4.0


def test_get_metrics_sums_items_float_and_rounded(pb, stub):
    msgs, _ = pb
    req = msgs.GetMetricsRequest(
        scaledObjectRef=ref(pb, "queue-depth", target="2", selector="model_name=llama"),
        metricName="queue-depth")
    resp = stub.GetMetrics(req, timeout=10)
    assert len(resp.metricValues) == 1
    value = resp.metricValues[0]
    assert value.metricName == "queue-depth"
    assert abs(value.metricValueFloat - 3.6) < 1e-9  # 2.4 + 1.2, namespace "other" excluded
    assert value.metricValue == 4
    all_models = stub.GetMetrics(msgs.GetMetricsRequest(
        scaledObjectRef=ref(pb, "queue-depth", target="2"), metricName="queue-depth"),
        timeout=10)
    assert abs(all_models.metricValues[0].metricValueFloat - 10.6) < 1e-9


def test_empty_selection_is_zero(pb, stub):
    msgs, _ = pb
    resp = stub.GetMetrics(msgs.GetMetricsRequest(
        scaledObjectRef=ref(pb, "queue-depth", selector="model_name=none"),
        metricName="queue-depth"), timeout=10)
    assert resp.metricValues[0].metricValueFloat == 0.0


def test_is_active_vs_activation_target(pb, stub):
    assert stub.IsActive(ref(pb, "queue-depth", selector="model_name=llama"), timeout=10).result
    assert stub.IsActive(ref(pb, "queue-depth", selector="model_name=llama",
                             activationTarget="3.5"), timeout=10).result
    assert not stub.IsActive(ref(pb, "queue-depth", selector="model_name=llama",
                                 activationTarget="3.6"), timeout=10).result
    assert not stub.IsActive(ref(pb, "idle-queue"), timeout=10).result


def test_errors(pb, stub):
    msgs, _ = pb
    assert code_of(lambda: stub.IsActive(ref(pb, "no-such-metric"), timeout=10)) == \
        grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: stub.GetMetricSpec(ref(pb, "no-such-metric", target="1"),
                                              timeout=10)) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: stub.GetMetrics(msgs.GetMetricsRequest(
        scaledObjectRef=ref(pb, "no-such-metric"), metricName="x"), timeout=10)) == \
        grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: stub.GetMetrics(msgs.GetMetricsRequest(
        scaledObjectRef=ref(pb, "queue-depth", selector="a in (b"), metricName="x"),
        timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stub.IsActive(ref(pb, "queue-depth", selector="==x"),
                                         timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stub.GetMetricSpec(ref(pb, "queue-depth", target="abc"),
                                              timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    # The namespace becomes a PromQL matcher: it must be a namespace name (KEDA always sends
    # the ScaledObject's), never empty (which would select series without a namespace).
    for namespace in ("", "Not_A_Namespace", 'x"}'):
        bad = msgs.ScaledObjectRef(name="so", namespace=namespace,
                                   scalerMetadata={"metric": "queue-depth", "target": "1"})
        assert code_of(lambda: stub.GetMetrics(msgs.GetMetricsRequest(
            scaledObjectRef=bad, metricName="queue-depth"), timeout=10)) == \
            grpc.StatusCode.INVALID_ARGUMENT, namespace
        assert code_of(lambda: stub.IsActive(bad, timeout=10)) == \
            grpc.StatusCode.INVALID_ARGUMENT, namespace
        assert code_of(lambda: stub.GetMetricSpec(bad, timeout=10)) == \
            grpc.StatusCode.INVALID_ARGUMENT, namespace
    for call in (lambda: stub.IsActive(ref(pb, "down-metric"), timeout=10),
                 lambda: stub.GetMetrics(msgs.GetMetricsRequest(
                     scaledObjectRef=ref(pb, "down-metric"), metricName="down-metric"),
                     timeout=10)):
        assert code_of(call) == grpc.StatusCode.UNAVAILABLE


def test_stream_metric_spec_unimplemented(pb, stub):
    def call():
        for _ in stub.StreamMetricSpec(ref(pb, "queue-depth", target="1"), timeout=10):
            pass
    assert code_of(call) == grpc.StatusCode.UNIMPLEMENTED


def test_stream_is_active_sends_first_state(pb, stub):
    stream = stub.StreamIsActive(ref(pb, "queue-depth"), timeout=10)
    first = next(stream)
    assert first.result is True
    stream.cancel()


def test_plaintext_client_rejected_by_tls_server(pb, static_server):
    _, svc = pb
    with grpc.insecure_channel(f"127.0.0.1:{static_server[1]}") as channel:
        code = code_of(lambda: svc.ExternalScalerStub(channel).IsActive(
            ref(pb, "queue-depth"), timeout=3))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_client_certificate_required(pb, pki, tmp_path):
    _, svc = pb
    proc, port = start(tmp_path, [*static_args(tmp_path),
                                  "--grpc-tls-cert-file", str(pki.server.cert),
                                  "--grpc-tls-private-key-file", str(pki.server.key),
                                  "--grpc-client-ca-file", str(pki.client_ca.cert)])
    try:
        with tls_channel(port, pki, pki.alice) as channel:
            assert svc.ExternalScalerStub(channel).IsActive(ref(pb, "queue-depth"),
                                                            timeout=10).result
        for cert in (None, pki.mallory):
            with tls_channel(port, pki, cert) as channel:
                assert code_of(lambda: svc.ExternalScalerStub(channel).IsActive(
                    ref(pb, "queue-depth"), timeout=3)) == grpc.StatusCode.UNAVAILABLE
    finally:
        proc.stop()


def test_insecure_mode(pb, tmp_path):
    _, svc = pb
    proc, port = start(tmp_path, [*static_args(tmp_path), "--grpc-insecure"])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert svc.ExternalScalerStub(channel).IsActive(ref(pb, "queue-depth"),
                                                            timeout=10).result
    finally:
        proc.stop()


# ---------------------------------------------------------------------------------------------
# StreamIsActive against a moving value (Prometheus stack)
# ---------------------------------------------------------------------------------------------

RULES = [{
    "seriesQuery": 'vllm:num_requests_waiting{namespace!=""}',
    "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
    "name": {"matches": "^vllm:num_requests_waiting$", "as": "vllm-waiting"},
    "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>})",
}]


@pytest.fixture(scope="module")
def prom_stack(tmp_path_factory, pki):
    exporter, exporter_port = ph.start_exporter(["--only", "vllm", "--pods", "2"])
    prom = None
    proc = None
    try:
        prom, prom_port, _ = ph.start_prometheus([exporter_port], scrape_interval="1s")
        status, answer = ph.control(exporter_port, {"set": [
            {"name": "vllm:num_requests_waiting", "value": 0}]})
        assert status == 200, answer
        ph.wait_for_series(prom_port, "vllm:num_requests_waiting", timeout=30)
        d = tmp_path_factory.mktemp("prom-sextant")
        config = d / "config.yaml"
        config.write_text(yaml.safe_dump({"externalRules": RULES}))
        proc, port = start(d, ["--tls-cert-file", str(pki.server.cert),
                               "--tls-private-key-file", str(pki.server.key),
                               "--config", str(config),
                               "--prometheus-url", f"http://127.0.0.1:{prom_port}",
                               "--metrics-relist-interval", "2s", "--cache-ttl", "200ms",
                               "--cache-keep-warm", "0s", "--max-staleness", "0s"])
        yield exporter_port, prom_port, port
    finally:
        if proc:
            proc.stop()
        if prom:
            ph.stop(prom)
        ph.stop(exporter)


def prom_sum(prom_port: int) -> float:
    result = ph.query(prom_port, "sum(vllm:num_requests_waiting)")
    return float(result[0]["value"][1]) if result else float("nan")


def test_stream_is_active_follows_value(pb, pki, prom_stack):
    _, svc = pb
    exporter_port, prom_port, port = prom_stack
    channel = tls_channel(port, pki)
    stub = svc.ExternalScalerStub(channel)
    # wait until the metric is known and idle
    deadline = time.monotonic() + 30
    while True:
        try:
            if not stub.IsActive(ref(pb, "vllm-waiting", activationTarget="3"),
                                 timeout=5).result:
                break
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, "vllm-waiting never became served and idle"
        time.sleep(0.2)

    events: list[tuple[float, bool]] = []
    stream = stub.StreamIsActive(ref(pb, "vllm-waiting", activationTarget="3"))

    def reader():
        try:
            for msg in stream:
                events.append((time.monotonic(), msg.result))
        except grpc.RpcError:
            pass
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not events:
            assert time.monotonic() < deadline, "no first state"
            time.sleep(0.02)
        assert events[0][1] is False

        status, answer = ph.control(exporter_port, {"set": [
            {"name": "vllm:num_requests_waiting", "value": 5}]})
        assert status == 200, answer
        deadline = time.monotonic() + 20
        while not prom_sum(prom_port) > 3:
            assert time.monotonic() < deadline, "Prometheus never saw the new value"
            time.sleep(0.02)
        crossed = time.monotonic()
        while not any(r for _, r in events):
            assert time.monotonic() < crossed + 1.0, \
                f"no true within 1 s of the crossing; events {events}"
            time.sleep(0.01)
        got = next(t for t, r in events if r)
        assert got - crossed < 1.0

        # and back to idle
        status, answer = ph.control(exporter_port, {"set": [
            {"name": "vllm:num_requests_waiting", "value": 0}]})
        assert status == 200, answer
        deadline = time.monotonic() + 20
        while not (events[-1][1] is False and len(events) >= 3):
            assert time.monotonic() < deadline, f"never went idle again; events {events}"
            time.sleep(0.05)
    finally:
        stream.cancel()
        thread.join(timeout=5)
        channel.close()


def test_catalog_entry_through_keda(pb, pki, prom_stack):
    """A built-in catalog name is a KEDA metric like any other: its spec, and a value equal to
    Prometheus' for the catalog's PromQL (bracketed by two Prometheus answers, since the
    exporter keeps scraping)."""
    msgs, svc = pb
    _, prom_port, port = prom_stack
    channel = tls_channel(port, pki)
    stub = svc.ExternalScalerStub(channel)
    try:
        spec = stub.GetMetricSpec(ref(pb, "VLLM-Requests-Waiting", target="5"), timeout=10)
        assert spec.metricSpecs[0].metricName == "vllm-requests-waiting"
        assert spec.metricSpecs[0].targetSizeFloat == 5.0
        promql = ('sum(avg_over_time(vllm:num_requests_waiting{namespace="%s",'
                  'model_name="llama-3-8b"}[1m]))' % NAMESPACE)

        def prom(at):
            code, body = ph.http_get(f"http://127.0.0.1:{prom_port}/api/v1/query?" +
                                     urllib.parse.urlencode({"query": promql, "time": at}))
            result = json.loads(body)["data"]["result"] if code == 200 else None
            assert result, (at, time.time(), code, body)
            return float(result[0]["value"][1])
        # A young stack: wait until Prometheus holds samples a few seconds back.
        deadline = time.monotonic() + 30
        while not ph.query(prom_port, promql.replace("[1m]", "[1m] @ %d" % (time.time() - 4))):
            assert time.monotonic() < deadline, "Prometheus holds no samples"
            time.sleep(0.5)
        # Sextant evaluates at a whole second, one second behind its clock, maybe cached for
        # 200 ms: bracket that time with Prometheus' own answers.
        for _ in range(20):
            start = time.time()
            got = stub.GetMetrics(msgs.GetMetricsRequest(
                scaledObjectRef=ref(pb, "vllm-requests-waiting", target="5",
                                    selector="model_name=llama-3-8b"),
                metricName="vllm-requests-waiting"), timeout=10).metricValues[0]
            end = time.time()
            before, after = prom(math.floor(start - 1.2) - 1), prom(math.floor(end - 1) + 1)
            if min(before, after) - 1e-9 <= got.metricValueFloat <= max(before, after) + 1e-9:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"catalog value {got.metricValueFloat} never between Prometheus' "
                        f"{before} and {after}")
        assert abs(got.metricValue - got.metricValueFloat) <= 0.5
        # a bad selector is INVALID_ARGUMENT, as for any metric
        assert code_of(lambda: stub.GetMetrics(msgs.GetMetricsRequest(
            scaledObjectRef=ref(pb, "vllm-requests-waiting", selector="model_name in ("),
            metricName="vllm-requests-waiting"), timeout=10)) == \
            grpc.StatusCode.INVALID_ARGUMENT
    finally:
        channel.close()


def test_sigterm_ends_streams_promptly(pb, pki, tmp_path):
    _, svc = pb
    proc, port = start(tmp_path, [*static_args(tmp_path), "--tls-cert-file",
                                  str(pki.server.cert), "--tls-private-key-file",
                                  str(pki.server.key), "--shutdown-delay-duration", "3s"])
    try:
        channel = tls_channel(port, pki)
        stream = svc.ExternalScalerStub(channel).StreamIsActive(ref(pb, "queue-depth"))
        assert next(stream).result is True
        sent = time.monotonic()
        proc.signal(15)
        with pytest.raises(grpc.RpcError) as err:
            next(stream)
        # gRPC stops before the HTTPS listener's shutdown delay (3 s) has passed
        assert time.monotonic() - sent < 2.5, err.value
        assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        channel.close()
    finally:
        proc.stop()
