"""Integration tests of Sextant's API server: the real binary, real TLS, real clients.

Covers discovery; authentication (client certificates, the front-proxy request-header path
and the 401s around them); ExternalMetricValueList values in JSON and Kubernetes protobuf
(decoded with protoc); label selector and namespace filtering; metav1.Status errors (400, 404,
405, 406, 503); kubectl and python3-kubernetes as clients; the generated self-signed serving
certificate, the TLS version floor and the advertised client CAs; health endpoints and
/metrics; idle keep-alive connections (no starvation, keep-alive timeout, no delay of
shutdown); graceful drain on SIGTERM and /readyz during --shutdown-delay-duration; and start-up
failure on a bad flag or a bad --static-metrics file (naming file:line:column).

The aggregator is simulated by what it sends: the front-proxy client certificate plus
X-Remote-* headers. Every server is started on 127.0.0.1 with a run-time port and stopped by
the fixture or test that started it.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import warnings

import pytest
import yaml

from harness import (GROUP_VERSION, METRICS_PREFIX, PROTOBUF, Pki, SextantProcess,
                     connection, decode_k8s_protobuf, https_request, parse_exposition, send,
                     sextant_binary, wait_port_closed)

# ---------------------------------------------------------------------------------------------
# The static metric table served by the shared server
# ---------------------------------------------------------------------------------------------

# (case label, value in the file, canonical Quantity string as apimachinery prints it)
QUANTITY_CASES = [
    ("fraction", 12.5, "12500m"),
    ("integer", 3, "3"),
    ("huge", 1e20, "100E"),
    ("thousand", 1000, "1k"),
    ("quarter", 0.25, "250m"),
    ("negative", -2.5, "-2500m"),
    ("zero", 0, "0"),
    ("milli", 0.001, "1m"),
    ("mega-and-a-half", 1.5e6, "1500k"),
]

# queue-depth series, keyed by (model_name, namespace label or None).
QUEUE_DEPTH = {
    ("llama", "default"): ({"model_name": "llama", "namespace": "default", "tier": "gold"},
                           12.5, "12500m"),
    ("mistral", "default"): ({"model_name": "mistral", "namespace": "default"}, 3, "3"),
    ("llama", "prod"): ({"model_name": "llama", "namespace": "prod", "tier": "silver"},
                        7, "7"),
    ("phi", None): ({"model_name": "phi", "tier": "bronze"}, 1e20, "100E"),
}

GPU_UTIL = {
    "0": ({"gpu": "0", "Hostname": "node-a", "namespace": "gpu-operator"}, 1000, "1k"),
    "1": ({"gpu": "1", "Hostname": "node-b", "namespace": "gpu-operator"}, 0.25, "250m"),
}

TABLE = {"metrics": [
    {"name": "queue-depth", "windowSeconds": 60,
     "series": [{"labels": labels, "value": value}
                for labels, value, _ in QUEUE_DEPTH.values()]},
    {"name": "DCGM_FI_DEV_GPU_UTIL", "namespaced": False,
     "series": [{"labels": labels, "value": value} for labels, value, _ in GPU_UTIL.values()]},
    {"name": "quantities", "namespaced": False,
     "series": [{"labels": {"case": case}, "value": value}
                for case, value, _ in QUANTITY_CASES]},
    {"name": "backend-down", "unavailable": True,
     "series": [{"labels": {"model_name": "llama"}, "value": 1}]},
]}

# The aggregator forwards the requesting user in these headers.
AGGREGATED_USER = {
    "X-Remote-User": "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
    "X-Remote-Group": "system:serviceaccounts",
}

# Words that must never reach an API client (internal or backend detail).
INTERNAL_WORDS = ["prometheus", "promql", "marked unavailable", "static metric", "exception",
                  "yaml", "std::", "what()", "stack trace", "static_provider"]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def metric_path(namespace: str, metric: str, selector: str | None = None) -> str:
    path = f"{METRICS_PREFIX}/namespaces/{namespace}/{metric}"
    if selector is not None:
        path += "?" + urllib.parse.urlencode({"labelSelector": selector})
    return path


def media_type(resp) -> str:
    return resp.content_type.split(";")[0].strip().lower()


def assert_no_internals(body: bytes) -> None:
    text = body.decode("utf-8", errors="replace").lower()
    for word in INTERNAL_WORDS:
        assert word not in text, f"response leaks {word!r}: {text}"


def assert_status(resp, code: int, reason: str) -> dict:
    """Checks a JSON metav1.Status failure and returns it."""
    assert resp.status == code, resp.body
    assert media_type(resp) == "application/json"
    doc = resp.json()
    assert doc["kind"] == "Status"
    assert doc["apiVersion"] == "v1"
    assert doc["status"] == "Failure"
    assert doc["reason"] == reason
    assert doc["code"] == code
    assert isinstance(doc.get("message"), str) and doc["message"]
    assert_no_internals(resp.body)
    return doc


def assert_recent_rfc3339(timestamp: str) -> None:
    parsed = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - parsed).total_seconds()) < 120, timestamp


def item_keys(doc: dict) -> set:
    """queue-depth items as (model_name, namespace label or None)."""
    return {(i["metricLabels"]["model_name"], i["metricLabels"].get("namespace"))
            for i in doc["items"]}


def auth_args(pki: Pki, allowed_names: str | None = "front-proxy-client") -> list[str]:
    args = ["--client-ca-file", str(pki.client_ca.cert),
            "--requestheader-client-ca-file", str(pki.front_proxy_ca.cert)]
    if allowed_names is not None:
        args += ["--requestheader-allowed-names", allowed_names]
    return args


def start_sextant(directory: pathlib.Path, pki: Pki, table: dict, *extra: str,
                  allowed_names: str | None = "front-proxy-client") -> SextantProcess:
    """Starts a server with the test serving certificate, both CAs and `table`."""
    directory.mkdir(parents=True, exist_ok=True)
    table_file = directory / "metrics.yaml"
    table_file.write_text(yaml.safe_dump(table, sort_keys=False))
    args = ["--tls-cert-file", str(pki.server.cert),
            "--tls-private-key-file", str(pki.server.key),
            *auth_args(pki, allowed_names), "--static-metrics", str(table_file), *extra]
    return SextantProcess(args, directory / "sextant.log", directory,
                          ca_file=pki.server_ca.cert).start()


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki, tmp_path_factory):
    """The shared server: test serving certificate, client CA, front-proxy CA with
    --requestheader-allowed-names=front-proxy-client, and TABLE."""
    proc = start_sextant(tmp_path_factory.mktemp("server"), pki, TABLE)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def aggregated(server, pki):
    """GET as the aggregator does: front-proxy certificate plus X-Remote-* headers."""
    def get(path: str, headers: dict | None = None, method: str = "GET", body=None):
        return server.request(method, path, cert=pki.front_proxy,
                              headers={**AGGREGATED_USER, **(headers or {})}, body=body)
    return get


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory, pki):
    """A server without --tls-cert-file: it generates its certificate into --cert-dir."""
    directory = tmp_path_factory.mktemp("self-signed")
    cert_dir = directory / "certs"
    proc = SextantProcess(["--cert-dir", str(cert_dir),
                           "--tls-sni-names", "sextant.example.test,10.1.2.3",
                           *auth_args(pki)], directory / "sextant.log", directory).start()
    yield proc, cert_dir
    proc.stop()


# ---------------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------------

EXPECTED_GROUP_VERSION = {"groupVersion": GROUP_VERSION, "version": "v1beta1"}
EXPECTED_GROUP = {"name": "external.metrics.k8s.io", "versions": [EXPECTED_GROUP_VERSION],
                  "preferredVersion": EXPECTED_GROUP_VERSION}


def test_discovery_api_group_list(aggregated):
    resp = aggregated("/apis")
    assert resp.status == 200
    assert media_type(resp) == "application/json"
    doc = resp.json()
    assert doc["kind"] == "APIGroupList"
    assert doc["apiVersion"] == "v1"
    assert doc["groups"] == [EXPECTED_GROUP]


def test_discovery_api_group(aggregated):
    resp = aggregated("/apis/external.metrics.k8s.io")
    assert resp.status == 200
    doc = resp.json()
    assert doc["kind"] == "APIGroup"
    assert doc["apiVersion"] == "v1"
    assert {k: v for k, v in doc.items() if k not in ("kind", "apiVersion")} == EXPECTED_GROUP


def test_discovery_resource_list_names_every_static_metric(aggregated):
    resp = aggregated(METRICS_PREFIX)
    assert resp.status == 200
    doc = resp.json()
    assert doc["kind"] == "APIResourceList"
    assert doc["apiVersion"] == "v1"
    assert doc["groupVersion"] == GROUP_VERSION
    expected = [{"name": m["name"], "singularName": "", "namespaced": m.get("namespaced", True),
                 "kind": "ExternalMetricValueList", "verbs": ["get"]}
                for m in TABLE["metrics"]]
    assert sorted(doc["resources"], key=lambda r: r["name"]) == \
        sorted(expected, key=lambda r: r["name"])


def test_discovery_answers_json_to_a_protobuf_preferring_client(aggregated):
    resp = aggregated(METRICS_PREFIX, {"Accept": f"{PROTOBUF}, application/json"})
    assert resp.status == 200
    assert media_type(resp) == "application/json"
    assert resp.json()["kind"] == "APIResourceList"


# ---------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------

UNAUTHENTICATED = {
    # name: (certificate attribute of Pki or None, headers)
    "no-certificate": (None, {}),
    "no-certificate-with-remote-user-headers": (None, AGGREGATED_USER),
    "unrelated-ca": ("mallory", {}),
    "unrelated-ca-with-remote-user-headers": ("mallory", AGGREGATED_USER),
    "front-proxy-cn-not-allowed": ("not_allowed", AGGREGATED_USER),
    "front-proxy-without-remote-user": ("front_proxy", {"X-Remote-Group": "system:masters"}),
    "front-proxy-with-empty-remote-user": ("front_proxy", {"X-Remote-User": ""}),
}


@pytest.mark.parametrize("who", sorted(UNAUTHENTICATED))
def test_unauthenticated_metric_request_is_401_status(server, pki, who):
    cert_name, headers = UNAUTHENTICATED[who]
    cert = getattr(pki, cert_name) if cert_name else None
    resp = server.request("GET", metric_path("default", "queue-depth"), cert=cert,
                          headers=headers)
    assert_status(resp, 401, "Unauthorized")
    assert b"12500m" not in resp.body


@pytest.mark.parametrize("path", ["/apis", METRICS_PREFIX, "/metrics"])
def test_unauthenticated_other_paths_are_401(server, path):
    assert_status(server.request("GET", path, headers=AGGREGATED_USER), 401, "Unauthorized")


def test_client_certificate_authenticates_alone(server, pki):
    resp = server.request("GET", metric_path("default", "queue-depth", "model_name=mistral"),
                          cert=pki.alice)
    assert resp.status == 200, resp.body
    assert item_keys(resp.json()) == {("mistral", "default")}


def test_remote_user_header_does_not_disturb_a_client_certificate(server, pki):
    # alice's certificate is not the front proxy's: the header is ignored, alice is served.
    resp = server.request("GET", metric_path("default", "queue-depth", "model_name=mistral"),
                          cert=pki.alice, headers={"X-Remote-User": "system:admin"})
    assert resp.status == 200, resp.body
    assert item_keys(resp.json()) == {("mistral", "default")}


def test_front_proxy_with_remote_user_is_served(aggregated):
    resp = aggregated(metric_path("default", "queue-depth", "model_name=mistral"))
    assert resp.status == 200, resp.body
    assert item_keys(resp.json()) == {("mistral", "default")}


def test_front_proxy_any_common_name_when_allowed_names_empty(pki, tmp_path):
    proc = start_sextant(tmp_path / "open", pki, TABLE, allowed_names=None)
    try:
        path = metric_path("default", "queue-depth", "model_name=mistral")
        resp = proc.request("GET", path, cert=pki.not_allowed, headers=AGGREGATED_USER)
        assert resp.status == 200, resp.body
        assert item_keys(resp.json()) == {("mistral", "default")}
        # Still no way in without the username header or from another CA.
        assert_status(proc.request("GET", path, cert=pki.not_allowed), 401, "Unauthorized")
        assert_status(proc.request("GET", path, cert=pki.mallory, headers=AGGREGATED_USER),
                      401, "Unauthorized")
    finally:
        proc.stop()


def test_custom_username_header_replaces_x_remote_user(pki, tmp_path):
    proc = start_sextant(tmp_path, pki, TABLE, "--requestheader-username-headers",
                         "X-Aggregated-User")
    try:
        path = metric_path("default", "queue-depth", "model_name=mistral")
        resp = proc.request("GET", path, cert=pki.front_proxy,
                            headers={"X-Aggregated-User": "someone"})
        assert resp.status == 200, resp.body
        assert item_keys(resp.json()) == {("mistral", "default")}
        assert_status(proc.request("GET", path, cert=pki.front_proxy, headers=AGGREGATED_USER),
                      401, "Unauthorized")
    finally:
        proc.stop()


def test_client_certificate_request_advertises_both_cas(server, pki):
    # Clients (Go's in particular) pick their certificate from the advertised CA names.
    result = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}",
                             "-CAfile", str(pki.server_ca.cert)],
                            input="", capture_output=True, text=True, timeout=20)
    out = result.stdout
    assert "Acceptable client certificate CA names" in out, out
    names = out.split("Acceptable client certificate CA names", 1)[1].split("---", 1)[0]
    assert "CN = client-ca" in names
    assert "CN = front-proxy-ca" in names
    assert "other-ca" not in names


# ---------------------------------------------------------------------------------------------
# Metric values (JSON)
# ---------------------------------------------------------------------------------------------


def test_metric_value_list_json_shape(aggregated):
    resp = aggregated(metric_path("default", "queue-depth", "model_name=llama"))
    assert resp.status == 200, resp.body
    assert media_type(resp) == "application/json"
    doc = resp.json()
    assert set(doc) == {"kind", "apiVersion", "metadata", "items"}
    assert doc["kind"] == "ExternalMetricValueList"
    assert doc["apiVersion"] == GROUP_VERSION
    assert doc["metadata"] == {}
    assert len(doc["items"]) == 1
    item = doc["items"][0]
    assert set(item) == {"metricName", "metricLabels", "timestamp", "window", "value"}
    labels, _, canonical = QUEUE_DEPTH[("llama", "default")]
    assert item["metricName"] == "queue-depth"
    assert item["metricLabels"] == labels
    assert item["window"] == 60
    assert item["value"] == canonical
    assert_recent_rfc3339(item["timestamp"])


def test_metric_without_window_has_no_window_field(aggregated):
    doc = aggregated(metric_path("default", "DCGM_FI_DEV_GPU_UTIL")).json()
    assert len(doc["items"]) == len(GPU_UTIL)
    for item in doc["items"]:
        assert "window" not in item
        assert_recent_rfc3339(item["timestamp"])


def test_empty_result_is_an_empty_items_list(aggregated):
    resp = aggregated(metric_path("default", "queue-depth", "tier=platinum"))
    assert resp.status == 200, resp.body
    assert resp.json()["items"] == []


@pytest.mark.parametrize("case,value,canonical", QUANTITY_CASES,
                         ids=[c[0] for c in QUANTITY_CASES])
def test_value_is_canonical_quantity(aggregated, case, value, canonical):
    resp = aggregated(metric_path("default", "quantities", f"case={case}"))
    assert resp.status == 200, resp.body
    items = resp.json()["items"]
    assert [i["metricLabels"] for i in items] == [{"case": case}]
    assert items[0]["value"] == canonical, f"{value!r}"


@pytest.mark.parametrize("name", ["dcgm_fi_dev_gpu_util", "Dcgm_Fi_Dev_Gpu_Util",
                                  "DCGM_FI_DEV_GPU_UTIL"])
def test_metric_names_match_case_insensitively(aggregated, name):
    resp = aggregated(metric_path("default", name))
    assert resp.status == 200, resp.body
    doc = resp.json()
    assert {i["metricName"] for i in doc["items"]} == {"DCGM_FI_DEV_GPU_UTIL"}
    got = {i["metricLabels"]["gpu"]: i["value"] for i in doc["items"]}
    assert got == {gpu: canonical for gpu, (_, _, canonical) in GPU_UTIL.items()}


# In namespace "default": llama (tier gold), mistral (no tier), phi (no namespace, bronze).
SELECTOR_CASES = {
    "": {"llama", "mistral", "phi"},
    "tier=gold": {"llama"},
    "tier==gold": {"llama"},
    "model_name!=llama": {"mistral", "phi"},
    "model_name in (llama,phi)": {"llama", "phi"},
    "model_name notin (llama)": {"mistral", "phi"},
    "tier": {"llama", "phi"},
    "!tier": {"mistral"},
    "tier in (gold,bronze),model_name!=phi": {"llama"},
    "tier=silver": set(),  # only in namespace prod
}


@pytest.mark.parametrize("selector", list(SELECTOR_CASES), ids=lambda s: s or "<empty>")
def test_label_selector_filters_series(aggregated, selector):
    resp = aggregated(metric_path("default", "queue-depth", selector))
    assert resp.status == 200, resp.body
    items = resp.json()["items"]
    assert {i["metricLabels"]["model_name"] for i in items} == SELECTOR_CASES[selector]
    for item in items:
        key = (item["metricLabels"]["model_name"], item["metricLabels"].get("namespace"))
        assert item["value"] == QUEUE_DEPTH[key][2]


NAMESPACE_CASES = {
    "default": {("llama", "default"), ("mistral", "default"), ("phi", None)},
    "prod": {("llama", "prod"), ("phi", None)},
    "elsewhere": {("phi", None)},
}


@pytest.mark.parametrize("namespace", list(NAMESPACE_CASES))
def test_namespaced_metric_serves_only_the_requested_namespace(aggregated, namespace):
    resp = aggregated(metric_path(namespace, "queue-depth"))
    assert resp.status == 200, resp.body
    assert item_keys(resp.json()) == NAMESPACE_CASES[namespace]


def test_non_namespaced_metric_ignores_the_namespace(aggregated):
    for namespace in ("default", "gpu-operator", "elsewhere"):
        doc = aggregated(metric_path(namespace, "DCGM_FI_DEV_GPU_UTIL")).json()
        assert {i["metricLabels"]["gpu"] for i in doc["items"]} == set(GPU_UTIL), namespace


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["queue-depth", "no-such-metric"])
def test_bad_selector_is_400_naming_the_problem(aggregated, metric):
    resp = aggregated(metric_path("default", metric, "model_name=x|y"))
    doc = assert_status(resp, 400, "BadRequest")
    assert "labelSelector" in doc["message"]
    assert "x|y" in doc["message"]


@pytest.mark.parametrize("selector", ["model_name in (llama", "tier=gold,", "=gold",
                                      "model_name notin llama"])
def test_unparsable_selectors_are_400(aggregated, selector):
    doc = assert_status(aggregated(metric_path("default", "queue-depth", selector)), 400,
                        "BadRequest")
    assert "labelSelector" in doc["message"]


def test_unknown_metric_is_404(aggregated):
    doc = assert_status(aggregated(metric_path("default", "no-such-metric")), 404, "NotFound")
    assert "no-such-metric" in doc["message"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(aggregated, method):
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    resp = aggregated(metric_path("default", "queue-depth"), method=method, body=body,
                      headers={"Content-Type": "application/json"} if body else None)
    doc = assert_status(resp, 405, "MethodNotAllowed")
    assert method in doc["message"]


def test_unavailable_metric_is_503(aggregated):
    doc = assert_status(aggregated(metric_path("default", "backend-down")), 503,
                        "ServiceUnavailable")
    assert "backend-down" in doc["message"]


@pytest.mark.parametrize("namespace", ["Bad_NS", "UPPER", "-leading-dash", "a" * 64])
def test_invalid_namespace_is_400(aggregated, namespace):
    doc = assert_status(aggregated(metric_path(namespace, "queue-depth")), 400, "BadRequest")
    assert "namespace" in doc["message"]


@pytest.mark.parametrize("accept", ["text/html", "application/xml;q=1, text/plain;q=0.5"])
def test_unacceptable_media_type_is_406(aggregated, accept):
    assert_status(aggregated(metric_path("default", "queue-depth"), {"Accept": accept}), 406,
                  "NotAcceptable")


def test_unknown_paths_are_404_status(aggregated):
    assert_status(aggregated("/apis/external.metrics.k8s.io/v1beta2"), 404, "NotFound")
    assert_status(aggregated("/apis/external.metrics.k8s.io/v1beta1/namespaces/default"),
                  404, "NotFound")


def test_auth_comes_before_every_other_check(server):
    # Without credentials a bad selector, method or namespace is still only a 401.
    assert_status(server.request("GET", metric_path("Bad_NS", "x", "a|b")), 401,
                  "Unauthorized")
    assert_status(server.request("DELETE", metric_path("default", "queue-depth")), 401,
                  "Unauthorized")


# ---------------------------------------------------------------------------------------------
# Protobuf
# ---------------------------------------------------------------------------------------------

KUBE_PROTOBUF_ACCEPT = f"{PROTOBUF}, */*"
METRICS_PROTO = "apiserver/proto/external_metrics.proto"
META_PROTO = "apiserver/proto/k8s_meta.proto"
EMV1 = "k8s.io.metrics.pkg.apis.external_metrics.v1beta1"


def test_protobuf_metric_value_list(aggregated):
    resp = aggregated(metric_path("default", "queue-depth", "tier"),
                      {"Accept": KUBE_PROTOBUF_ACCEPT})
    assert resp.status == 200, resp.body
    assert media_type(resp) == PROTOBUF
    assert resp.body.startswith(b"k8s\x00")
    unknown, value_list = decode_k8s_protobuf(resp.body, f"{EMV1}.ExternalMetricValueList",
                                              METRICS_PROTO)
    type_meta = unknown["typeMeta"][0]
    assert type_meta["apiVersion"] == [GROUP_VERSION]
    assert type_meta["kind"] == ["ExternalMetricValueList"]

    items = value_list["items"]
    got = {}
    for item in items:
        assert item["metricName"] == ["queue-depth"]
        labels = {e["key"][0]: e["value"][0] for e in item["metricLabels"]}
        key = (labels["model_name"], labels.get("namespace"))
        got[key] = labels
        assert item["value"][0]["string"] == [QUEUE_DEPTH[key][2]]
        assert item["window"] == [60]
        seconds = item["timestamp"][0]["seconds"][0]
        assert abs(seconds - time.time()) < 120
    assert got == {("llama", "default"): QUEUE_DEPTH[("llama", "default")][0],
                   ("phi", None): QUEUE_DEPTH[("phi", None)][0]}


def test_protobuf_error_is_a_protobuf_status(aggregated):
    resp = aggregated(metric_path("default", "no-such-metric"),
                      {"Accept": KUBE_PROTOBUF_ACCEPT})
    assert resp.status == 404
    assert media_type(resp) == PROTOBUF
    unknown, status = decode_k8s_protobuf(resp.body, "k8s.io.apimachinery.pkg.apis.meta.v1.Status",
                                          META_PROTO)
    assert unknown["typeMeta"][0]["apiVersion"] == ["v1"]
    assert unknown["typeMeta"][0]["kind"] == ["Status"]
    assert status["status"] == ["Failure"]
    assert status["reason"] == ["NotFound"]
    assert status["code"] == [404]
    assert "no-such-metric" in status["message"][0]
    assert_no_internals(resp.body)


def test_protobuf_bad_selector_is_a_protobuf_status(aggregated):
    resp = aggregated(metric_path("default", "queue-depth", "a in (b"),
                      {"Accept": KUBE_PROTOBUF_ACCEPT})
    assert resp.status == 400
    assert media_type(resp) == PROTOBUF
    _, status = decode_k8s_protobuf(resp.body, "k8s.io.apimachinery.pkg.apis.meta.v1.Status",
                                    META_PROTO)
    assert status["reason"] == ["BadRequest"]
    assert status["code"] == [400]


# ---------------------------------------------------------------------------------------------
# Real clients: kubectl and python3-kubernetes
# ---------------------------------------------------------------------------------------------


def write_kubeconfig(path: pathlib.Path, port: int, ca: pathlib.Path, pki: Pki) -> None:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sextant",
        "clusters": [{"name": "sextant", "cluster": {
            "server": f"https://127.0.0.1:{port}", "certificate-authority": str(ca)}}],
        "users": [{"name": "alice", "user": {"client-certificate": str(pki.alice.cert),
                                             "client-key": str(pki.alice.key)}}],
        "contexts": [{"name": "sextant", "context": {"cluster": "sextant", "user": "alice"}}],
    }))


def run_kubectl(kubeconfig: pathlib.Path, home: pathlib.Path, *args: str):
    env = {**os.environ, "HOME": str(home)}
    env.pop("KUBECONFIG", None)
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_kubectl_get_raw_reads_a_metric(server, pki, tmp_path):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, server.port, pki.server_ca.cert, pki)
    path = metric_path("default", "queue-depth", "model_name in (llama,mistral)")
    result = run_kubectl(kubeconfig, tmp_path, "get", "--raw", path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "ExternalMetricValueList"
    assert {(i["metricLabels"]["model_name"], i["value"]) for i in doc["items"]} == \
        {("llama", "12500m"), ("mistral", "3")}


def test_kubectl_get_raw_reports_not_found(server, pki, tmp_path):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, server.port, pki.server_ca.cert, pki)
    result = run_kubectl(kubeconfig, tmp_path, "get", "--raw",
                         metric_path("default", "no-such-metric"))
    assert result.returncode != 0
    assert "NotFound" in result.stderr or "not find" in result.stderr, result.stderr


def kubernetes_api(server, pki):
    kubernetes = pytest.importorskip("kubernetes")
    config = kubernetes.client.Configuration()
    config.host = f"https://127.0.0.1:{server.port}"
    config.ssl_ca_cert = str(pki.server_ca.cert)
    config.cert_file = str(pki.alice.cert)
    config.key_file = str(pki.alice.key)
    config.verify_ssl = True
    return kubernetes, kubernetes.client.ApiClient(config)


def test_python_kubernetes_client_reads_a_metric(server, pki):
    kubernetes, api_client = kubernetes_api(server, pki)
    with api_client:
        api = kubernetes.client.CustomObjectsApi(api_client)
        doc = api.list_namespaced_custom_object("external.metrics.k8s.io", "v1beta1",
                                                "default", "queue-depth",
                                                label_selector="tier=gold")
        assert doc["kind"] == "ExternalMetricValueList"
        assert [(i["metricLabels"], i["value"]) for i in doc["items"]] == \
            [(QUEUE_DEPTH[("llama", "default")][0], "12500m")]

        with pytest.raises(kubernetes.client.exceptions.ApiException) as error:
            api.list_namespaced_custom_object("external.metrics.k8s.io", "v1beta1",
                                              "default", "backend-down")
        assert error.value.status == 503


# ---------------------------------------------------------------------------------------------
# Serving certificate and TLS
# ---------------------------------------------------------------------------------------------


def handshake(port: int, ctx: ssl.SSLContext, server_hostname: str | None):
    """Completes a TLS handshake; returns (protocol version, peer certificate DER)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return tls.version(), tls.getpeercert(binary_form=True)


def pem_to_der(path: pathlib.Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "::1", "sextant.example.test",
                                  "10.1.2.3"])
def test_generated_certificate_verifies_for(self_signed, name):
    proc, cert_dir = self_signed
    cert = cert_dir / "apiserver.crt"
    assert cert.exists() and (cert_dir / "apiserver.key").exists()
    ctx = ssl.create_default_context(cafile=str(cert))
    _, der = handshake(proc.port, ctx, name)
    assert der == pem_to_der(cert)


def test_generated_certificate_does_not_verify_for_other_names(self_signed):
    proc, cert_dir = self_signed
    ctx = ssl.create_default_context(cafile=str(cert_dir / "apiserver.crt"))
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(proc.port, ctx, "elsewhere.example.test")


def test_generated_certificate_is_reused_on_restart(pki, tmp_path):
    cert_dir = tmp_path / "certs"
    args = ["--cert-dir", str(cert_dir), "--tls-sni-names", "sextant.example.test",
            *auth_args(pki)]
    with SextantProcess(args, tmp_path / "first.log", tmp_path) as first:
        cert_bytes = (cert_dir / "apiserver.crt").read_bytes()
        key_bytes = (cert_dir / "apiserver.key").read_bytes()
        _, served_first = handshake(first.port, client_ctx_no_verify(), None)
    with SextantProcess(args, tmp_path / "second.log", tmp_path) as second:
        assert (cert_dir / "apiserver.crt").read_bytes() == cert_bytes
        assert (cert_dir / "apiserver.key").read_bytes() == key_bytes
        _, served_second = handshake(second.port, client_ctx_no_verify(), None)
    assert served_first == served_second == pem_to_der(cert_dir / "apiserver.crt")


def test_generated_certificate_is_replaced_when_names_change(pki, tmp_path):
    cert_dir = tmp_path / "certs"
    base = ["--cert-dir", str(cert_dir), *auth_args(pki)]
    with SextantProcess([*base, "--tls-sni-names", "one.example.test"], tmp_path / "1.log",
                        tmp_path):
        first = (cert_dir / "apiserver.crt").read_bytes()
    with SextantProcess([*base, "--tls-sni-names", "two.example.test"], tmp_path / "2.log",
                        tmp_path) as proc:
        assert (cert_dir / "apiserver.crt").read_bytes() != first
        ctx = ssl.create_default_context(cafile=str(cert_dir / "apiserver.crt"))
        handshake(proc.port, ctx, "two.example.test")


def client_ctx_no_verify(min_version=None, max_version=None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def test_tls_1_1_is_refused(self_signed):
    proc, _ = self_signed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = client_ctx_no_verify(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
        # Let the client offer TLS 1.0/1.1 at all, so that the server is what refuses.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        handshake(proc.port, ctx, None)
    # The server is still fine afterwards.
    assert proc.request("GET", "/livez").status == 200


def test_tls_1_2_is_accepted(self_signed):
    proc, _ = self_signed
    version, _ = handshake(proc.port, client_ctx_no_verify(max_version=ssl.TLSVersion.TLSv1_2),
                           None)
    assert version == "TLSv1.2"


def test_tls_1_3_is_accepted_and_serves(self_signed, pki):
    proc, _ = self_signed
    version, _ = handshake(proc.port, client_ctx_no_verify(min_version=ssl.TLSVersion.TLSv1_3),
                           None)
    assert version == "TLSv1.3"
    # The self-signed server authenticates alice as well (client CA configured).
    resp = proc.request("GET", METRICS_PREFIX, cert=pki.alice)
    assert resp.status == 200
    assert resp.json()["resources"] == []


# ---------------------------------------------------------------------------------------------
# Health and self-metrics
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/livez", "/healthz", "/readyz"])
def test_health_endpoints_need_no_certificate(server, path):
    resp = server.request("GET", path)
    assert resp.status == 200
    assert resp.body.strip() == b"ok"


def counter(samples, name: str, **labels) -> float:
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == want for k, want in labels.items()))


def test_metrics_endpoint_counts_requests_by_route_template(server, aggregated, pki):
    route = f"{METRICS_PREFIX}/namespaces/{{namespace}}/{{metric}}"
    before = parse_exposition(aggregated("/metrics").body.decode())
    for _ in range(3):
        assert aggregated(metric_path("Bad_NS", "queue-depth")).status == 400
    for namespace in ("default", "prod"):
        assert aggregated(metric_path(namespace, "queue-depth")).status == 200
    resp = server.request("GET", "/metrics", cert=pki.alice)
    assert resp.status == 200
    assert resp.content_type.startswith("text/plain")
    after = parse_exposition(resp.body.decode())

    def delta(name, **labels):
        return counter(after, name, **labels) - counter(before, name, **labels)

    assert delta("sextant_http_requests_total", route=route, code="400", verb="GET") == 3
    assert delta("sextant_http_requests_total", route=route, code="200", verb="GET") == 2
    assert delta("sextant_http_request_duration_seconds_count", route=route) == 5
    assert any(n == "sextant_http_request_duration_seconds_bucket" and "le" in l
               for n, l, _ in after)
    assert any(n == "sextant_http_requests_in_flight" for n, _, _ in after)
    # Routes are templates: no raw namespace or metric name ever becomes a label value.
    routes = {l["route"] for n, l, _ in after if "route" in l}
    assert route in routes
    for raw in ("Bad_NS", "queue-depth", "prod"):
        assert not any(raw in r for r in routes), routes


# ---------------------------------------------------------------------------------------------
# Connections and lifecycle
# ---------------------------------------------------------------------------------------------


def test_idle_keep_alive_connections_do_not_starve_new_clients(server, pki):
    path = metric_path("default", "queue-depth", "model_name=mistral")
    idle = []
    try:
        for _ in range(64):
            conn = connection(server.port, cert=pki.alice, ca_file=pki.server_ca.cert,
                              timeout=5)
            resp = send(conn, "GET", path)
            assert resp.status == 200
            assert resp.headers.get("connection", "").lower() != "close"
            idle.append(conn)
        fresh = https_request(server.port, "GET", path, cert=pki.alice,
                              ca_file=pki.server_ca.cert, timeout=5)
        assert fresh.status == 200
        assert item_keys(fresh.json()) == {("mistral", "default")}
        # The idle connections really were held open: the first is still usable.
        sock = idle[0].sock
        assert send(idle[0], "GET", path).status == 200
        assert idle[0].sock is sock
    finally:
        for conn in idle:
            conn.close()


def wait_in_flight(proc: SextantProcess, pki: Pki, count: int, timeout: float) -> None:
    """Waits until `count` requests besides the /metrics probe itself are being served."""
    deadline = time.monotonic() + timeout
    while True:
        samples = parse_exposition(proc.request("GET", "/metrics", cert=pki.alice).body.decode())
        if counter(samples, "sextant_http_requests_in_flight") >= count + 1:
            return
        assert time.monotonic() < deadline, f"fewer than {count} requests in flight"
        time.sleep(0.05)


def test_sigterm_drains_in_flight_requests_then_exits_zero(pki, tmp_path):
    table = {"metrics": [{"name": "slow-metric", "delaySeconds": 2, "series": [
        {"labels": {"model_name": "llama", "namespace": "default"}, "value": 42}]}]}
    proc = start_sextant(tmp_path, pki, table)
    try:
        outcome = {}

        def slow_request():
            try:
                outcome["response"] = proc.request("GET", metric_path("default", "slow-metric"),
                                                   cert=pki.alice, timeout=20)
            except Exception as error:  # reported by the assertions below
                outcome["error"] = error

        worker = threading.Thread(target=slow_request)
        worker.start()
        wait_in_flight(proc, pki, 1, timeout=1.5)
        proc.signal(signal.SIGTERM)
        # The listener closes while the slow request is still being served.
        assert wait_port_closed(proc.port, timeout=1.5), "listener still open after SIGTERM"
        assert worker.is_alive(), "the request finished before the listener closed"
        worker.join(timeout=20)
        assert not worker.is_alive()
        assert "error" not in outcome, outcome.get("error")
        resp = outcome["response"]
        assert resp.status == 200, resp.body
        items = resp.json()["items"]
        assert [(i["metricName"], i["value"]) for i in items] == [("slow-metric", "42")]
        assert proc.wait(timeout=5) == 0, proc.log()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proc.port), timeout=2).close()
    finally:
        proc.stop()


def test_readyz_fails_during_the_shutdown_delay(pki, tmp_path):
    proc = start_sextant(tmp_path, pki, TABLE, "--shutdown-delay-duration", "2s")
    try:
        assert proc.request("GET", "/readyz").status == 200
        proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + 1.5
        readyz = proc.request("GET", "/readyz")
        while readyz.status == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            readyz = proc.request("GET", "/readyz")
        assert readyz.status == 503
        # Still serving everything else until the delay is over.
        assert proc.request("GET", "/livez").status == 200
        resp = proc.request("GET", metric_path("default", "queue-depth", "model_name=mistral"),
                            cert=pki.alice)
        assert resp.status == 200
        assert proc.wait(timeout=10) == 0
    finally:
        proc.stop()


def test_idle_keep_alive_connections_do_not_delay_shutdown(pki, tmp_path):
    proc = start_sextant(tmp_path, pki, TABLE)
    idle = []
    try:
        for _ in range(4):
            conn = connection(proc.port, cert=pki.alice, ca_file=pki.server_ca.cert)
            assert send(conn, "GET", METRICS_PREFIX).status == 200
            idle.append(conn)
        started = time.monotonic()
        proc.signal(signal.SIGTERM)
        # Far below --keep-alive-timeout (30s) and --shutdown-timeout (20s).
        assert proc.wait(timeout=5) == 0, proc.log()
        assert time.monotonic() - started < 5
    finally:
        for conn in idle:
            conn.close()
        proc.stop(grace=1)


def test_keep_alive_timeout_closes_idle_connections(pki, tmp_path):
    proc = start_sextant(tmp_path, pki, TABLE, "--keep-alive-timeout", "1s")
    conn = connection(proc.port, cert=pki.alice, ca_file=pki.server_ca.cert)
    try:
        assert send(conn, "GET", METRICS_PREFIX).status == 200
        conn.sock.settimeout(5)
        started = time.monotonic()
        # The server closes the idle connection: the read sees EOF (or a reset).
        try:
            data = conn.sock.recv(1)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        assert data == b""
        assert time.monotonic() - started < 4
    finally:
        conn.close()
        proc.stop()


def test_unknown_flag_exits_with_usage_error(tmp_path):
    result = subprocess.run([str(sextant_binary()), "--no-such-flag", "1"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert "--no-such-flag" in result.stderr


BAD_TABLES = {
    # name: (file text, token whose position is reported, text the message must contain)
    "unknown-key": ("metrics:\n"
                    "  - name: queue-depth\n"
                    "    colour: blue\n", "colour", "colour"),
    "non-numeric-value": ("metrics:\n"
                          "  - name: queue-depth\n"
                          "    series:\n"
                          "      - labels: {model_name: llama}\n"
                          "        value: lots\n", "lots", None),
    "nan-value": ("metrics:\n"
                  "  - name: queue-depth\n"
                  "    series:\n"
                  "      - value: .nan\n", ".nan", "finite"),
    "duplicate-name": ("metrics:\n"
                       "  - name: queue-depth\n"
                       "  - name: Queue-Depth\n", "name: Queue-Depth", "twice"),
    "negative-delay": ("metrics:\n"
                       "  - name: queue-depth\n"
                       "    delaySeconds: -1\n", "-1", "delaySeconds"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_static_metrics_file_fails_start_naming_the_position(tmp_path, case):
    text, token, mentioned = BAD_TABLES[case]
    table = tmp_path / "bad.yaml"
    table.write_text(text)
    line_no, line = next((n, l) for n, l in enumerate(text.splitlines(), 1) if token in l)
    position = f"{table}:{line_no}:{line.index(token) + 1}"
    result = subprocess.run([str(sextant_binary()), "--secure-port", "0",
                             "--bind-address", "127.0.0.1", "--cert-dir",
                             str(tmp_path / "certs"), "--static-metrics", str(table)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert position in result.stderr, result.stderr
    if mentioned:
        assert mentioned in result.stderr
    assert "serving securely" not in result.stderr
