"""End-to-end tests of Sextant's built-in signal catalog: the real sextant binary, a real
Prometheus scraping the synthetic exporter every second, and for every catalog entry the same
value from Prometheus itself, asked with PromQL written here from the catalog's contract
(independently of Sextant's code).

Module fixtures start, on 127.0.0.1 and ports chosen at run time:
- exporter A: every family, 3 pods per server kind, 4 GPU nodes of 5 GPUs (gpu-node-3
  cordoned), 2 Neuron nodes, 2 Pending vLLM pods, a Pending GPU-headroom placeholder, a
  Succeeded batch pod still bound to gpu-node-2, one legacy vLLM pod (vllm-llama-3-8b-1: only
  `vllm:gpu_cache_usage_perc` and `vllm:time_per_output_token_seconds`), weird model_name
  series, counters and histograms restarting every 17 s (rate windows hold resets); DCGM with
  plain `pod`/`namespace`/`container` labels and `Hostname`;
- exporter B: DCGM only, the same cluster (so the same pods hold a second GPU each), labelled
  as Prometheus stores dcgm-exporter scraped through a ServiceMonitor without honorLabels
  (`exported_pod`/`exported_namespace`/`exported_container`, the exporter pod in namespace
  `gpu-operator`) and with `hostname`;
- a Prometheus scraping both (prom_harness.start_prometheus, 1 s);
- Sextant with a config file whose `prometheus:` section points at it and
  `catalog: {gpuHeadroom: {buffer: 2}}`, --cache-ttl 1s, --v 2: at verbosity 2 the catalog logs
  every value it computes with 17 significant digits (`catalog "<name>" t=<s> value=<v>`),
  which is how values are compared within 1e-9 relative (the item's value is a Kubernetes
  quantity rounded to a milli-unit; that rounding is checked too).

A second, small stack (exporter C serving only DCGM and vLLM, no kube-state-metrics; its own
Prometheus; Sextant with `catalog: {disabled: [gpu-utilization]}` and a user signal named like
a catalog entry) checks discovery of absent families, disabled entries, the user-wins rule,
pod-label keys falling back to series labels when Prometheus has no `kube_pod_labels`, and a
NaN result (an empty list).

Whatever a test starts, it stops.
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
import os
import re
import subprocess
import time
import urllib.parse

import pytest
import yaml

import prom_harness as ph
from harness import METRICS_PREFIX, Pki, SextantProcess, metric_path, quantity, sextant_binary

pytestmark = pytest.mark.skipif(not os.path.exists(ph.PROMETHEUS),
                                reason=f"{ph.PROMETHEUS} is not installed")

NAMESPACE = "default"
BUFFER = 2
# The simulated cluster (exporter A; B mirrors its GPU layout).
CLUSTER_ARGS = ["--pods", "3", "--gpu-nodes", "4", "--gpus-per-node", "5"]
CORDONED = "gpu-node-3"
LEGACY_VLLM_POD = "vllm-llama-3-8b-1"  # the last running vLLM pod

# ---------------------------------------------------------------------------------------------
# The catalog, as the contract (the spec table) defines it
# ---------------------------------------------------------------------------------------------

COMMON_KEYS = {"job", "instance", "pod", "container"}
SERIES_KEYS = {
    "dcgm": COMMON_KEYS | {"gpu", "UUID", "device", "modelName", "pci_bus_id", "Hostname",
                           "hostname"},
    "vllm": COMMON_KEYS | {"model_name", "engine"},
    "sglang": COMMON_KEYS | {"model_name"},
    "triton": COMMON_KEYS | {"model", "version"},
    "tgi": COMMON_KEYS,
    "neuron": None,  # every key is a series key
    "karpenter": {"namespace"},  # every other key is a label of the pending pods
}

# name -> (family, kind, metric(s))
ENTRIES = {
    "gpu-utilization": ("dcgm", "avg", "DCGM_FI_DEV_GPU_UTIL"),
    "gpu-tensor-active": ("dcgm", "avg", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"),
    "gpu-engine-active": ("dcgm", "avg", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"),
    "gpu-dram-active": ("dcgm", "avg", "DCGM_FI_PROF_DRAM_ACTIVE"),
    "gpu-memory-used-ratio": ("dcgm", "fb-ratio", ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE")),
    "neuroncore-utilization": ("neuron", "avg", "neuroncore_utilization_ratio"),
    "neuron-execution-latency-p99": ("neuron", "max", 'execution_latency_seconds'),
    "neuron-errors-per-second": ("neuron", "rate-sum", "execution_errors_total"),
    "vllm-requests-waiting": ("vllm", "sum", "vllm:num_requests_waiting"),
    "vllm-requests-running": ("vllm", "sum", "vllm:num_requests_running"),
    "vllm-kv-cache-usage": ("vllm", "avg", ("vllm:kv_cache_usage_perc",
                                            "vllm:gpu_cache_usage_perc")),
    "vllm-ttft-p95": ("vllm", "hist", "vllm:time_to_first_token_seconds"),
    "vllm-e2e-latency-p95": ("vllm", "hist", "vllm:e2e_request_latency_seconds"),
    "vllm-inter-token-latency-p95": ("vllm", "hist", ("vllm:inter_token_latency_seconds",
                                                      "vllm:time_per_output_token_seconds")),
    "triton-pending-requests": ("triton", "sum", "nv_inference_pending_request_count"),
    "triton-queue-time-per-request": ("triton", "increase-ratio",
                                      ("nv_inference_queue_duration_us",
                                       "nv_inference_request_success")),
    "tgi-queue-size": ("tgi", "sum", "tgi_queue_size"),
    "tgi-batch-size": ("tgi", "avg", "tgi_batch_current_size"),
    "tgi-request-latency-p95": ("tgi", "hist", "tgi_request_duration"),
    "sglang-queue-requests": ("sglang", "sum", "sglang:num_queue_reqs"),
    "sglang-token-usage": ("sglang", "avg", "sglang:token_usage"),
    "gpu-pending-demand": ("karpenter", "pending", None),
    "gpu-headroom-deficit": ("karpenter", "deficit", None),
}
ENTRY_EXTRA = {"neuron-execution-latency-p99": ['percentile="p99"']}
GAUGE_WINDOW, COUNTER_WINDOW, HISTOGRAM_WINDOW = "1m", "2m", "5m"

# ---------------------------------------------------------------------------------------------
# Cases: (id, entry, requirements, namespace, expect_empty)
# A requirement is (key, op, values); op is one of = == != in notin exists !
# ---------------------------------------------------------------------------------------------


def render_selector(reqs) -> str:
    parts = []
    for key, op, values in reqs:
        if op in ("=", "==", "!="):
            parts.append(f"{key}{op}{values[0]}")
        elif op in ("in", "notin"):
            parts.append(f"{key} {op} ({','.join(values)})")
        elif op == "exists":
            parts.append(key)
        elif op == "!":
            parts.append(f"!{key}")
        else:
            raise AssertionError(op)
    return ",".join(parts)


def case(entry, reqs=(), namespace=NAMESPACE, empty=False, cid=None):
    reqs = [(k, op, list(v)) for k, op, v in reqs]
    return (cid or f"{entry}[{render_selector(reqs) or '-'}]@{namespace}", entry, reqs,
            namespace, empty)


CASES = [case(name) for name in ENTRIES] + [
    # DCGM: both label styles (A plain, B exported_*) and both host label spellings.
    case("gpu-utilization", [("Hostname", "=", ["gpu-node-1"])]),
    case("gpu-utilization", [("hostname", "in", ["gpu-node-0", "gpu-node-2"])]),
    case("gpu-utilization", [("Hostname", "!=", ["gpu-node-0"])]),
    case("gpu-utilization", [("pod", "=", ["vllm-llama-3-8b-0"])]),
    case("gpu-utilization", [("container", "==", ["triton"]), ("gpu", "notin", ["0", "1"])]),
    case("gpu-utilization", [("app", "=", ["vllm-llama-3-8b"])]),
    case("gpu-utilization", [("app.kubernetes.io/name", "in", ["tgi", "sglang"]),
                             ("gpu", "!=", ["0"])]),
    case("gpu-utilization", [("app", "notin", ["vllm-llama-3-8b"])]),
    case("gpu-utilization", [("team", "!", [])]),
    case("gpu-utilization", [("team", "=", ["x"])], empty=True),
    case("gpu-utilization", [("app", "exists", []), ("hostname", "!=", ["gpu-node-0"])]),
    case("gpu-utilization", namespace="gpu-operator"),  # B's idle GPUs: the exporter's own pod
    case("gpu-utilization", namespace="prod", empty=True),
    case("gpu-memory-used-ratio", [("hostname", "=", ["gpu-node-2"])]),
    case("gpu-memory-used-ratio", [("app", "in", ["sglang-mistral-7b", "vllm-llama-3-8b"])]),
    case("gpu-tensor-active", [("app", "=", ["sglang-mistral-7b"])]),
    case("gpu-dram-active", [("Hostname", "notin", ["gpu-node-0", "gpu-node-1"])]),
    case("gpu-engine-active", [("pod", "in", ["tgi-llama-3-8b-0", "vllm-mistral-7b-0"])]),
    # Dots are not wildcards: gpu.node-1 is not gpu-node-1, vllm.llama-3-8b not vllm-llama-3-8b.
    case("gpu-utilization", [("Hostname", "=", ["gpu.node-1"])], empty=True),
    case("gpu-utilization", [("app", "=", ["vllm.llama-3-8b"])], empty=True),
    # Neuron: cluster-wide, every key a series label.
    case("neuroncore-utilization", [("instance_name", "=", ["neuron-node-1"])]),
    case("neuroncore-utilization", [("neuroncore", "!=", ["0"])]),
    case("neuroncore-utilization", namespace="prod"),
    case("neuron-execution-latency-p99", [("instance_name", "in", ["neuron-node-0"])]),
    case("neuron-errors-per-second", [("error_type", "in", ["generic", "transient"])]),
    case("neuron-errors-per-second", namespace="other"),
    # vLLM.
    case("vllm-requests-running", [("model_name", "=", ["mistral-7b"])]),
    case("vllm-requests-waiting", [("app.kubernetes.io/name", "=", ["vllm"])]),
    case("vllm-requests-waiting", [("model_name", "=", ["a.b"])]),
    case("vllm-requests-waiting", [("model_name", "notin", ["a.b"])]),
    case("vllm-requests-waiting", [("model_name", "in", ["a.b", "llama-3-8b"])]),
    case("vllm-requests-waiting", [("model_name", "=", ["llama-3.8b"])], empty=True),
    case("vllm-requests-waiting", namespace="prod", empty=True),
    # The KV-cache fallback: only the legacy pod selected -> vllm:gpu_cache_usage_perc; any
    # selection holding a vllm:kv_cache_usage_perc series -> that name only.
    case("vllm-kv-cache-usage", [("pod", "=", [LEGACY_VLLM_POD])]),
    case("vllm-kv-cache-usage", [("model_name", "=", ["llama-3-8b"])]),
    case("vllm-kv-cache-usage", [("app", "=", ["vllm-llama-3-8b"])]),
    case("vllm-kv-cache-usage", [("pod", "notin", ["vllm-llama-3-8b-0", "vllm-mistral-7b-0"])]),
    case("vllm-inter-token-latency-p95", [("pod", "=", [LEGACY_VLLM_POD])]),
    case("vllm-inter-token-latency-p95", [("model_name", "=", ["llama-3-8b"])]),
    case("vllm-ttft-p95", [("engine", "=", ["0"]), ("model_name", "notin", ["mistral-7b"])]),
    case("vllm-ttft-p95", [("job", "=", ["synthetic"])]),
    case("vllm-e2e-latency-p95", [("app", "=", ["vllm-mistral-7b"])]),
    # Triton, TGI, SGLang.
    case("triton-queue-time-per-request", [("model", "=", ["llama-3-8b"])]),
    case("triton-pending-requests", [("version", "=", ["1"]),
                                     ("pod", "!=", ["triton-llama-3-8b-0"])]),
    case("tgi-batch-size", [("app", "=", ["tgi-mistral-7b"])]),
    case("tgi-request-latency-p95", [("pod", "in", ["tgi-llama-3-8b-0", "tgi-llama-3-8b-1"])]),
    case("sglang-token-usage", [("model_name", "in", ["llama-3-8b"])]),
    case("sglang-queue-requests", [("app.kubernetes.io/name", "notin", ["sglang"])],
         empty=True),
    # Karpenter: cluster-wide; `namespace` and pod labels select the pending pods only.
    case("gpu-pending-demand", namespace="other"),
    case("gpu-headroom-deficit", namespace="other"),
    case("gpu-pending-demand", [("app.kubernetes.io/name", "notin", ["gpu-headroom"])]),
    case("gpu-headroom-deficit", [("app.kubernetes.io/name", "notin", ["gpu-headroom"])]),
    case("gpu-pending-demand", [("app", "=", ["vllm-llama-3-8b"])]),
    case("gpu-pending-demand", [("app", "=", ["nothing-pending"])]),
    case("gpu-headroom-deficit", [("app", "=", ["nothing-pending"])]),
    case("gpu-pending-demand", [("namespace", "=", ["default"])]),
    case("gpu-headroom-deficit", [("namespace", "in", ["other"])]),
]

LOG_VALUE_RE = re.compile(r'catalog "(?P<name>[^"]+)" t=(?P<t>\d+)(?P<rest>.*?) '
                          r'value=(?P<value>\S+)$', re.M)


def q(value: str) -> str:
    """A PromQL string literal."""
    return json.dumps(value, ensure_ascii=False)


_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def re2_escape(value: str) -> str:
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in value)


def alternatives(label: str, op: str, values: list) -> list:
    """A Kubernetes requirement on one Prometheus label as a union (list) of matcher lists.
    An absent label is "" in PromQL: != and notin match it, = and in do not."""
    if op in ("=", "=="):
        return [[f"{label}={q(values[0])}"]]
    if op == "in":
        return [[f"{label}={q(v)}"] for v in values]
    if op == "!=":
        return [[f"{label}!={q(values[0])}"]]
    if op == "notin":
        return [[f"{label}!={q(v)}" for v in values]]
    if op == "exists":
        return [[f'{label}!=""']]
    if op == "!":
        return [[f'{label}=""']]
    raise AssertionError(op)


def host_alternatives(op: str, values: list) -> list:
    """Hostname / hostname: the host, whichever of the two labels a series has."""
    if op in ("=", "==", "in", "exists"):
        return alternatives("Hostname", op, values) + alternatives("hostname", op, values)
    return [alternatives("Hostname", op, values)[0] + alternatives("hostname", op, values)[0]]


def pod_label_name(key: str) -> str:
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def product(base: list, alts: list) -> list:
    return [b + a for b, a in itertools.product(base, alts)]


class Prom:
    def __init__(self, port: int):
        self.port = port

    def query(self, expr: str, t: float) -> list:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr, "time": str(t)})
        status, body = ph.http_get(url)
        answer = json.loads(body)
        assert status == 200 and answer["status"] == "success", (expr, answer)
        assert answer["data"]["resultType"] == "vector", answer
        return answer["data"]["result"]

    def has_pod_labels(self, t: int) -> bool:
        return bool(self.query("count(kube_pod_labels)", t))

    def pods_labelled(self, namespace: str, reqs: list, t: int) -> set:
        """Pods of `namespace` whose Kubernetes labels (kube_pod_labels) satisfy `reqs`."""
        branches = [[f"namespace={q(namespace)}"]]
        for key, op, values in reqs:
            branches = product(branches, alternatives(pod_label_name(key), op, values))
        pods = set()
        for b in branches:
            pods |= {r["metric"]["pod"] for r in self.query(
                "kube_pod_labels{" + ",".join(b) + "}", t)}
        return pods


def selection(prom: Prom, family: str, namespace: str, reqs: list, t: int,
              extra: list = ()) -> list:
    """The series an entry of `family` selects (with the entry's own `extra` matchers), as a
    union of matcher lists (branches); [] when nothing can match."""
    keys = SERIES_KEYS[family]
    if family == "dcgm":
        # (namespace, pod, container) = exported_* when exported_namespace is set, else plain.
        styled = [("plain", [f"namespace={q(namespace)}", 'exported_namespace=""']),
                  ("exported", [f"exported_namespace={q(namespace)}"])]
    elif family == "neuron":
        styled = [("plain", [])]
    else:
        styled = [("plain", [f"namespace={q(namespace)}"])]
    series_reqs = [r for r in reqs if keys is None or r[0] in keys]
    label_reqs = [r for r in reqs if not (keys is None or r[0] in keys)]
    pods = None
    if label_reqs:
        if prom.has_pod_labels(t):
            pods = prom.pods_labelled(namespace, label_reqs, t)
            if not pods:
                return []
        else:  # no kube_pod_labels at all: such keys match series labels of the same name
            series_reqs += [(re.sub(r"[^a-zA-Z0-9_]", "_", k), op, v)
                            for k, op, v in label_reqs]
    out = []
    for style, base in styled:
        branches = [list(base) + list(extra)]
        for key, op, values in series_reqs:
            if family == "dcgm" and key in ("Hostname", "hostname"):
                alts = host_alternatives(op, values)
            elif family == "dcgm" and style == "exported" and key in ("pod", "container"):
                alts = alternatives("exported_" + key, op, values)
            else:
                alts = alternatives(key, op, values)
            branches = product(branches, alts)
        if pods is not None:
            label = "exported_pod" if style == "exported" else "pod"
            regex = "|".join(re2_escape(p) for p in sorted(pods))
            branches = [b + [f"{label}=~{q(regex)}"] for b in branches]
        out += branches
    return out


def union(fn: str, metric: str, branches: list, window: str) -> str:
    return " or ".join(f"{fn}({metric}{{{','.join(b)}}}[{window}])" for b in branches)


def histogram_p95(metric: str, branches: list) -> str:
    return (f"histogram_quantile(0.95, sum by (le) "
            f"({union('rate', metric + '_bucket', branches, HISTOGRAM_WINDOW)}))")


def karpenter_promql(namespace_reqs: list, label_reqs: list, deficit: bool) -> str:
    ns_branches = [[]]
    for key, op, values in namespace_reqs:
        ns_branches = product(ns_branches, alternatives("namespace", op, values))
    label_branches = [[]]
    for key, op, values in label_reqs:
        label_branches = product(label_branches, alternatives(pod_label_name(key), op, values))
    terms = []
    for nb in ns_branches:
        extra = "".join("," + m for m in nb)
        term = (f'kube_pod_container_resource_requests{{resource="nvidia_com_gpu",'
                f'node=""{extra}}} * on (namespace, pod) group_left () '
                f'(kube_pod_status_phase{{phase="Pending"{extra}}} == 1)')
        if label_reqs:
            for lb in label_branches:
                terms.append(f"({term} * on (namespace, pod) group_left () max by (namespace, pod) "
                             f"(kube_pod_labels{{{','.join(lb)}}}))")
        else:
            terms.append(f"({term})")
    pending = f"(sum({' or '.join(terms)}) or vector(0))"
    if not deficit:
        return pending
    requested = ('sum by (node) (kube_pod_container_resource_requests'
                 '{resource="nvidia_com_gpu",node!=""} * on (namespace, pod) group_left () '
                 '(max by (namespace, pod) (kube_pod_status_phase'
                 '{phase=~"Pending|Running"}) == 1))')
    allocatable = ('sum by (node) (kube_node_status_allocatable'
                   '{resource="nvidia_com_gpu"} unless on (node) '
                   '(kube_node_spec_unschedulable == 1))')
    free = (f"(sum(clamp_min({allocatable} - ({requested} or {allocatable} * 0), 0)) "
            f"or vector(0))")
    return f"clamp_min({pending} + {BUFFER} - {free}, 0)"


def promql(prom: Prom, entry: str, namespace: str, reqs: list, t: int):
    """The PromQL equal to `entry` at t for this request, or None when nothing is selected."""
    family, kind, metric = ENTRIES[entry]
    if family == "karpenter":
        return karpenter_promql([r for r in reqs if r[0] == "namespace"],
                                [r for r in reqs if r[0] != "namespace"], kind == "deficit")
    branches = selection(prom, family, namespace, reqs, t, ENTRY_EXTRA.get(entry, []))
    if not branches:
        return None
    if kind in ("avg", "sum", "max"):
        if isinstance(metric, tuple):  # fallback: the older name when the newer selects none
            new, old = metric
            return (f"{kind}({union('avg_over_time', new, branches, GAUGE_WINDOW)}) or "
                    f"{kind}({union('avg_over_time', old, branches, GAUGE_WINDOW)})")
        return f"{kind}({union('avg_over_time', metric, branches, GAUGE_WINDOW)})"
    if kind == "rate-sum":
        return f"sum({union('rate', metric, branches, COUNTER_WINDOW)})"
    if kind == "hist":
        if isinstance(metric, tuple):
            return f"{histogram_p95(metric[0], branches)} or {histogram_p95(metric[1], branches)}"
        return histogram_p95(metric, branches)
    if kind == "fb-ratio":
        used = f"({union('avg_over_time', metric[0], branches, GAUGE_WINDOW)})"
        free = f"({union('avg_over_time', metric[1], branches, GAUGE_WINDOW)})"
        return f"avg({used} / ({used} + {free}))"
    if kind == "increase-ratio":
        return (f"sum({union('increase', metric[0], branches, COUNTER_WINDOW)}) / "
                f"sum({union('increase', metric[1], branches, COUNTER_WINDOW)})")
    raise AssertionError(kind)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

BACKEND_WORDS = ["prometheus", "promql", "http://", "127.0.0.1", "bad_data", "parse error",
                 "avg_over_time", "histogram_quantile", "kube_pod", "dcgm_fi", "vllm:",
                 "__name__", "exported_", "label_app", "{", "}"]






def logged_values(log: str) -> dict:
    """{(entry, t): [values]} from the catalog's verbosity-2 lines."""
    out: dict = {}
    for m in LOG_VALUE_RE.finditer(log):
        out.setdefault((m["name"], int(m["t"])), []).append(float(m["value"]))
    return out


def item_time(item: dict) -> int:
    return int(datetime.datetime.strptime(item["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp())


def assert_status(resp, code: int, reason: str) -> dict:
    assert resp.status == code, (resp.status, resp.body)
    doc = resp.json()
    assert doc["kind"] == "Status" and doc["status"] == "Failure", doc
    assert doc["reason"] == reason and doc["code"] == code, doc
    assert isinstance(doc.get("message"), str) and doc["message"], doc
    return doc


def assert_no_internals(message: str, ports) -> None:
    lowered = message.lower()
    for word in BACKEND_WORDS + [str(p) for p in ports]:
        assert word.lower() not in lowered, f"{word!r} leaks into {message!r}"


def discovered(sextant, pki) -> set:
    resp = sextant.request("GET", METRICS_PREFIX, cert=pki.alice)
    assert resp.status == 200, resp.body
    return {r["name"] for r in resp.json()["resources"]}


def get_items(sextant, pki, entry: str, selector, namespace: str) -> list:
    resp = sextant.request("GET", metric_path(entry, selector, namespace), cert=pki.alice)
    assert resp.status == 200, (entry, selector, namespace, resp.status, resp.body)
    doc = resp.json()
    assert doc["kind"] == "ExternalMetricValueList", doc
    for bad in ("NaN", "Inf"):
        assert bad not in resp.body.decode(), resp.body
    return doc["items"]


def compare(sextant, pki, prom: Prom, c) -> int:
    """One comparison; returns t (0 when Sextant answered an empty list)."""
    cid, entry, reqs, namespace, expect_empty = c
    selector = render_selector(reqs)
    items = get_items(sextant, pki, entry, selector, namespace)
    if not items:
        t = int(time.time()) - 2
        expr = promql(prom, entry, namespace, reqs, t)
        want = [] if expr is None else [r for r in prom.query(expr, t)
                                        if math.isfinite(float(r["value"][1]))]
        assert not want, (cid, "Sextant answered no item; Prometheus has", expr, t, want)
        return 0
    assert not expect_empty, (cid, "expected no item", items)
    assert len(items) == 1, (cid, items)
    item = items[0]
    assert item["metricName"] == entry, item
    assert not item.get("metricLabels"), item
    t = item_time(item)
    expr = promql(prom, entry, namespace, reqs, t)
    assert expr is not None, (cid, "Sextant answered an item for an empty selection", item)
    want_raw = prom.query(expr, t)
    assert len(want_raw) == 1, (cid, expr, t, want_raw, item)
    want = float(want_raw[0]["value"][1])
    assert math.isfinite(want), (cid, expr, t, want_raw, item)
    got = quantity(item["value"])
    # The quantity is the value rounded to a milli-unit.
    assert abs(got - want) <= 0.0005 + 1e-9 * abs(want), (cid, expr, t, item["value"], want)
    candidates = logged_values(sextant.log()).get((entry, t), [])
    assert candidates, (cid, t, "no logged value")
    # Several selections of one entry may be computed for the same t; one of them is this.
    assert any(math.isclose(v, want, rel_tol=1e-9, abs_tol=1e-12) for v in candidates), \
        (cid, expr, t, "logged", candidates, "Prometheus", want)
    return t


# ---------------------------------------------------------------------------------------------
# Processes: the main stack
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def exporters():
    started = []
    try:
        started.append(ph.start_exporter(
            [*CLUSTER_ARGS, "--neuron-nodes", "2", "--neuron-error-scale", "1000",
             "--pending-pods", "2", "--headroom-pods", "1", "--succeeded-pods", "1",
             "--legacy-vllm-pods", "1", "--unschedulable-nodes", CORDONED, "--weird-labels",
             "--counter-reset-every", "17",
             "--label-style", "pod", "--hostname-label", "Hostname"]))
        started.append(ph.start_exporter(
            [*CLUSTER_ARGS, "--only", "dcgm", "--seed", "2", "--label-style", "exported",
             "--hostname-label", "hostname"]))
        yield [port for _, port in started]
    finally:
        for proc, _ in started:
            ph.stop(proc)


@pytest.fixture(scope="module")
def prometheus(exporters):
    proc, port, _datadir = ph.start_prometheus(exporters, scrape_interval="1s")
    try:
        for expr in ('DCGM_FI_DEV_GPU_UTIL{exported_namespace="default"}',
                     'DCGM_FI_DEV_GPU_UTIL{namespace="default"}', "kube_node_spec_unschedulable",
                     "execution_errors_total", "tgi_request_duration_bucket",
                     "sglang:token_usage", "nv_inference_queue_duration_us",
                     "vllm:inter_token_latency_seconds_bucket"):
            ph.wait_for_series(port, expr, timeout=30)
        yield Prom(port)
    finally:
        ph.stop(proc)


def write_config(path, config: dict):
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_sextant(directory, pki, config_path, source=None) -> SextantProcess:
    """Sextant with `config_path`, or with the extra flags `source` instead of a config."""
    proc = SextantProcess(
        ["--tls-cert-file", str(pki.server.cert), "--tls-private-key-file", str(pki.server.key),
         "--client-ca-file", str(pki.client_ca.cert),
         *(source or ["--config", str(config_path)]),
         "--cache-ttl", "1s", "--metrics-relist-interval", "5s", "--v", "2"],
        directory / "sextant.log", directory, ca_file=pki.server_ca.cert)
    proc.start()
    try:
        deadline = time.monotonic() + 20
        while proc.request("GET", "/readyz", cert=pki.alice).status != 200:
            assert time.monotonic() < deadline, "/readyz never answered 200"
            time.sleep(0.1)
    except BaseException:
        proc.stop()
        raise
    return proc


@pytest.fixture(scope="module")
def config_path(tmp_path_factory, prometheus):
    return write_config(tmp_path_factory.mktemp("config") / "sextant.yaml", {
        "prometheus": {"url": f"http://127.0.0.1:{prometheus.port}"},
        "catalog": {"gpuHeadroom": {"buffer": BUFFER}},
    })


@pytest.fixture(scope="module")
def sextant(tmp_path_factory, pki, prometheus, config_path):
    proc = start_sextant(tmp_path_factory.mktemp("sextant"), pki, config_path)
    try:
        # Let the windows fill partly and the counters reset at least once.
        time.sleep(20)
        yield proc
    finally:
        proc.stop()


# ---------------------------------------------------------------------------------------------
# Tests: the main stack
# ---------------------------------------------------------------------------------------------


def test_the_exporters_give_both_dcgm_label_styles(prometheus):
    t = time.time()
    plain = prometheus.query('DCGM_FI_DEV_GPU_UTIL{namespace="default",exported_namespace=""}', t)
    exported = prometheus.query('DCGM_FI_DEV_GPU_UTIL{exported_namespace="default"}', t)
    assert len(plain) == 12 and len(exported) == 12, (len(plain), len(exported))
    assert all("Hostname" in r["metric"] for r in plain)
    assert all("hostname" in r["metric"] and r["metric"]["namespace"] == "gpu-operator"
               for r in exported)
    # The legacy vLLM pod has only the older names.
    assert not prometheus.query(f'vllm:kv_cache_usage_perc{{pod="{LEGACY_VLLM_POD}"}}', t)
    assert prometheus.query(f'vllm:gpu_cache_usage_perc{{pod="{LEGACY_VLLM_POD}"}}', t)
    assert not prometheus.query(
        f'vllm:inter_token_latency_seconds_bucket{{pod="{LEGACY_VLLM_POD}"}}', t)


def test_every_entry_equals_prometheus_at_the_same_time(sextant, pki, prometheus):
    compared = {c[0]: 0 for c in CASES}
    resets_seen = False
    failures = []
    for round_ in range(2):
        for c in CASES:
            try:
                t = compare(sextant, pki, prometheus, c)
            except AssertionError as err:
                failures.append(f"{c[0]}: {err}")
                continue
            if t:
                compared[c[0]] += 1
            if c[0].startswith("triton-queue-time-per-request[-]") and t:
                resets = prometheus.query(
                    "sum(resets(nv_inference_queue_duration_us[2m]))", t)
                resets_seen |= bool(resets) and float(resets[0]["value"][1]) > 0
        time.sleep(2.5)  # past the TTL: the next round computes afresh
    assert not failures, "\n".join(failures)
    never = [c[0] for c in CASES if not c[4] and compared[c[0]] == 0]
    assert not never, f"no item to compare for {never}"
    assert resets_seen, "no counter reset fell in a compared rate window"


def test_headroom_numbers_follow_the_cluster(sextant, pki, prometheus):
    """The simulated cluster: 4 nodes x 5 GPUs, 12 running pods (node 0 and 1 full, node 2
    3 free once its Succeeded batch pod is not counted), gpu-node-3 cordoned (5 free, not
    counted); Pending: 2 vLLM pods and 1 headroom placeholder. Buffer 2."""
    def value(entry, selector=None):
        items = get_items(sextant, pki, entry, selector, NAMESPACE)
        assert len(items) == 1, (entry, selector, items)
        return quantity(items[0]["value"])
    assert value("gpu-pending-demand") == 3
    assert value("gpu-headroom-deficit") == 3 + BUFFER - 3
    assert value("gpu-pending-demand", "app.kubernetes.io/name notin (gpu-headroom)") == 2
    assert value("gpu-headroom-deficit", "app.kubernetes.io/name notin (gpu-headroom)") == 1
    assert value("gpu-headroom-deficit", "app=nothing-pending") == 0
    assert value("gpu-pending-demand", "namespace=other") == 0


def test_a_namespace_without_series_is_an_empty_list(sextant, pki):
    for entry in ("vllm-requests-waiting", "vllm-kv-cache-usage", "gpu-utilization",
                  "gpu-memory-used-ratio", "triton-queue-time-per-request",
                  "tgi-request-latency-p95", "sglang-token-usage"):
        assert get_items(sextant, pki, entry, None, "prod") == [], entry


def self_metric(sx, pki, name: str) -> float:
    resp = sx.request("GET", "/metrics", cert=pki.alice)
    assert resp.status == 200, resp.body
    match = re.search(rf"^{name} (\S+)$", resp.body.decode(), re.M)
    assert match, f"{name} not on /metrics"
    return float(match.group(1))


def test_discovery_lists_every_entry_whose_series_exist(sextant, pki):
    names = discovered(sextant, pki)
    missing = set(ENTRIES) - names
    assert not missing, f"not listed: {sorted(missing)}"
    # /metrics says the same.
    assert self_metric(sextant, pki, "sextant_catalog_entries") == len(ENTRIES)
    assert self_metric(sextant, pki, "sextant_catalog_listed_entries") == len(ENTRIES)


def test_prometheus_url_alone_serves_the_catalog(tmp_path, pki, prometheus, sextant):
    """No config file: --prometheus-url alone serves every entry, with the default buffer 0
    (the main stack's buffer is 2), and the same values for the same t."""
    proc = start_sextant(tmp_path, pki, None,
                         ["--prometheus-url", f"http://127.0.0.1:{prometheus.port}"])
    try:
        deadline = time.monotonic() + 20
        while set(ENTRIES) - discovered(proc, pki):
            assert time.monotonic() < deadline, sorted(set(ENTRIES) - discovered(proc, pki))
            time.sleep(0.5)
        for entry in ("gpu-pending-demand", "vllm-requests-waiting", "gpu-tensor-active"):
            c = (f"url only: {entry}", entry, [], NAMESPACE, False)
            assert compare(proc, pki, prometheus, c), entry
        deficit = get_items(proc, pki, "gpu-headroom-deficit", None, NAMESPACE)
        with_buffer = get_items(sextant, pki, "gpu-headroom-deficit", None, NAMESPACE)
        if item_time(deficit[0]) == item_time(with_buffer[0]):
            assert quantity(with_buffer[0]["value"]) == \
                max(0.0, quantity(deficit[0]["value"])) + BUFFER or \
                quantity(deficit[0]["value"]) == 0
    finally:
        proc.stop()


def test_unknown_entry_is_not_found(sextant, pki):
    resp = sextant.request("GET", metric_path("gpu-no-such-entry", None, NAMESPACE),
                           cert=pki.alice)
    assert resp.status == 404, resp.body


BAD_SELECTORS = ["model_name in (a", "model_name in a,b)", "=x", "model_name=a=b", "!",
                 "a b", "model_name notin", "model_name>1", "model_name<2", "in (x)",
                 "model_name=" + "x" * 64]


@pytest.mark.parametrize("selector", BAD_SELECTORS, ids=lambda s: json.dumps(s))
def test_bad_selector_is_a_clear_400(selector, sextant, pki, prometheus, exporters):
    for entry in ("vllm-requests-waiting", "gpu-utilization", "gpu-headroom-deficit"):
        resp = sextant.request("GET", metric_path(entry, selector, NAMESPACE), cert=pki.alice)
        doc = assert_status(resp, 400, "BadRequest")
        message = doc["message"]
        assert "selector" in message.lower() or "not supported" in message.lower(), doc
        assert_no_internals(message, [prometheus.port, *exporters])


# Values with PromQL/regex-special characters: a selector either is refused (not a valid
# Kubernetes label value: a clean 400) or matches only the series whose label is exactly it.
SPECIAL_VALUES = ['a"b', 'x"}or vector(1)or{a="y', "a\\b", "back\\slash", "a|b", "a.*", ".*",
                  ".+", "x*", "(x)", "[ab]", "^a$", "a.b", "a+b", 'quo"te', "a\nb"]


@pytest.mark.parametrize("value", SPECIAL_VALUES, ids=lambda s: json.dumps(s))
def test_special_characters_match_only_their_own_series(value, sextant, pki, prometheus,
                                                       exporters):
    for op in ("=", "in"):
        reqs = [("model_name", op, [value])]
        selector = render_selector(reqs)
        resp = sextant.request("GET", metric_path("vllm-requests-waiting", selector, NAMESPACE),
                               cert=pki.alice)
        if resp.status == 400:
            doc = assert_status(resp, 400, "BadRequest")
            lowered = doc["message"].lower()
            for word in ("promql", "prometheus", "http://", "avg_over_time", "vllm:",
                         str(prometheus.port)):
                assert word not in lowered, (word, doc)
            continue
        assert resp.status == 200, (resp.status, resp.body)
        items = resp.json()["items"]
        t = item_time(items[0]) if items else int(time.time()) - 2
        exact = prometheus.query(
            f'vllm:num_requests_waiting{{namespace="default",model_name={q(value)}}}', t)
        if not exact:
            assert items == [], (selector, items)
            continue
        c = (f"special {selector!r}", "vllm-requests-waiting", reqs, NAMESPACE, False)
        assert compare(sextant, pki, prometheus, c)
    # Pod-label and host values too: a dot is no wildcard.
    for entry, selector in (("gpu-utilization", "app in (vllm.llama-3-8b)"),
                            ("gpu-utilization", "hostname=gpu.node-0"),
                            ("gpu-pending-demand", "app=vllm.llama-3-8b")):
        items = get_items(sextant, pki, entry, selector, NAMESPACE)
        if entry == "gpu-pending-demand":
            assert len(items) == 1 and quantity(items[0]["value"]) == 0, (selector, items)
        else:
            assert items == [], (entry, selector, items)


def test_validate_accepts_the_config(config_path):
    result = subprocess.run([str(sextant_binary()), "validate", "--config", str(config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (result.stdout, result.stderr)


def test_documented_promql_equals_the_answer(config_path, sextant, pki, prometheus):
    """The PromQL the README's tables and `sextant validate` show for each entry (generated
    from the catalog's table) is what Sextant's value equals: for every entry, Prometheus
    evaluates the documented expression at the item's t."""
    result = subprocess.run([str(sextant_binary()), "validate", "--config", str(config_path),
                             "--namespace", NAMESPACE], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, (result.stdout, result.stderr)
    documented = dict(re.findall(r"^catalog (\S+) \(listed\)\n  equivalent PromQL: (.*)$",
                                 result.stdout, re.M))
    assert set(documented) == set(ENTRIES), sorted(set(ENTRIES) ^ set(documented))
    for entry, expr in sorted(documented.items()):
        items = get_items(sextant, pki, entry, None, NAMESPACE)
        assert len(items) == 1, (entry, items)
        t = item_time(items[0])
        want = prometheus.query(expr, t)
        assert len(want) == 1, (entry, expr, t, want)
        value = float(want[0]["value"][1])
        candidates = logged_values(sextant.log()).get((entry, t), [])
        assert any(math.isclose(v, value, rel_tol=1e-9, abs_tol=1e-12) for v in candidates), \
            (entry, expr, t, "logged", candidates, "Prometheus", value)


def test_validate_rejects_an_unknown_disabled_entry(tmp_path):
    config = write_config(tmp_path / "bad.yaml", {
        "prometheus": {"url": "http://127.0.0.1:1"},
        "catalog": {"disabled": ["gpu-utilization", "no-such-entry"]},
    })
    result = subprocess.run([str(sextant_binary()), "validate", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "no-such-entry" in result.stderr, result.stderr
    assert re.search(rf"{re.escape(str(config))}:\d+:\d+", result.stderr), result.stderr


# ---------------------------------------------------------------------------------------------
# The small stack: DCGM and vLLM only, no kube-state-metrics; gpu-utilization disabled; a
# user signal named like a catalog entry
# ---------------------------------------------------------------------------------------------

SMALL_FAMILIES = {"dcgm", "vllm"}
USER_SIGNAL = {"name": "vllm-requests-running", "series": "vllm:num_requests_running",
               "window": "30s", "overTime": "max", "across": "max"}


@pytest.fixture(scope="module")
def small(tmp_path_factory, pki):
    started = []
    proc = sx = None
    try:
        started.append(ph.start_exporter(["--only", "dcgm,vllm", "--pods", "2"]))
        proc, port, _ = ph.start_prometheus([started[0][1]], scrape_interval="1s")
        prom = Prom(port)
        ph.wait_for_series(port, "DCGM_FI_DEV_GPU_UTIL", timeout=30)
        ph.wait_for_series(port, "vllm:time_to_first_token_seconds_bucket", timeout=30)
        directory = tmp_path_factory.mktemp("small")
        config = write_config(directory / "sextant.yaml", {
            "prometheus": {"url": f"http://127.0.0.1:{port}"},
            "signals": [USER_SIGNAL],
            "catalog": {"disabled": ["gpu-utilization"]},
        })
        sx = start_sextant(directory, pki, config)
        time.sleep(3)
        yield sx, prom, started[0][1]
    finally:
        if sx is not None:
            sx.stop()
        ph.stop(proc)
        for p, _ in started:
            ph.stop(p)


def test_discovery_lists_only_entries_whose_series_exist(small, pki):
    sx, _, _ = small
    names = discovered(sx, pki)
    present = {n for n, (family, _, _) in ENTRIES.items() if family in SMALL_FAMILIES}
    absent = set(ENTRIES) - present
    assert present - {"gpu-utilization"} <= names, sorted(present - names)
    assert not (absent & names), f"listed without series: {sorted(absent & names)}"
    assert self_metric(sx, pki, "sextant_catalog_entries") == len(ENTRIES) - 1  # one disabled
    assert self_metric(sx, pki, "sextant_catalog_listed_entries") == len(present - {"gpu-utilization"})


def test_an_unlisted_entry_is_still_answered_with_an_empty_list(small, pki):
    sx, _, _ = small
    for entry in ("triton-pending-requests", "tgi-request-latency-p95", "sglang-token-usage",
                  "neuroncore-utilization", "neuron-errors-per-second", "gpu-pending-demand",
                  "gpu-headroom-deficit"):
        assert get_items(sx, pki, entry, None, NAMESPACE) == [], entry


def test_a_disabled_entry_is_not_found_and_not_listed(small, pki):
    sx, _, _ = small
    assert "gpu-utilization" not in discovered(sx, pki)
    resp = sx.request("GET", metric_path("gpu-utilization", None, NAMESPACE), cert=pki.alice)
    assert resp.status == 404, resp.body
    # Its siblings still work.
    assert get_items(sx, pki, "gpu-tensor-active", None, NAMESPACE)


def test_a_user_signal_wins_over_the_catalog_entry(small, pki):
    sx, prom, _ = small
    items = get_items(sx, pki, "vllm-requests-running", None, NAMESPACE)
    assert len(items) == 1, items
    t = item_time(items[0])
    signal = prom.query('max(max_over_time(vllm:num_requests_running{namespace="default"}[30s]))',
                        t)
    catalog = prom.query('sum(avg_over_time(vllm:num_requests_running{namespace="default"}[1m]))',
                         t)
    got = quantity(items[0]["value"])
    assert abs(got - float(signal[0]["value"][1])) <= 0.0005, (got, signal)
    assert abs(got - float(catalog[0]["value"][1])) > 0.01, (got, catalog)


@pytest.mark.parametrize("reqs,empty", [
    ([("DCGM_FI_DRIVER_VERSION", "=", ["550.90.07"])], False),
    ([("DCGM_FI_DRIVER_VERSION", "=", ["1.0"])], True),
    ([("app", "=", ["vllm-llama-3-8b"])], True),
    ([("app", "!=", ["vllm-llama-3-8b"])], False),
    ([("Hostname", "=", ["gpu-node-0"]), ("modelName", "exists", []), ("gpu", "!=", ["3"])],
     False),
    ([("Hostname", "=", ["gpu-node-1"])], True),  # the 8 pods all run on gpu-node-0
], ids=lambda v: render_selector(v) if isinstance(v, list) else str(v))
def test_without_kube_pod_labels_other_keys_match_series_labels(reqs, empty, small, pki):
    sx, prom, _ = small
    assert not prom.query("count(kube_pod_labels)", int(time.time()))
    for round_ in range(2):
        t = compare(sx, pki, prom, (render_selector(reqs), "gpu-tensor-active", reqs, NAMESPACE,
                                    empty))
        assert bool(t) != empty
        time.sleep(1.1)


def test_a_non_finite_value_is_an_empty_list(small, pki):
    """Last in the module: a NaN sample stays in the 1m window after the pin is cleared."""
    sx, prom, exporter = small
    status, answer = ph.control(exporter, {"set": [
        {"name": "vllm:kv_cache_usage_perc", "labels": {"model_name": "mistral-7b"},
         "value": "NaN"}]})
    assert status == 200, answer
    try:
        expr = ('avg(avg_over_time(vllm:kv_cache_usage_perc{namespace="default"}[1m])) or '
                'avg(avg_over_time(vllm:gpu_cache_usage_perc{namespace="default"}[1m]))')
        ph.wait_for_series(prom.port, expr, timeout=20,
                           predicate=lambda r: r[0]["value"][1] == "NaN")
        time.sleep(2.5)  # past Sextant's one-second lag and its cache TTL
        # The NaN series is selected: no fallback to vllm:gpu_cache_usage_perc, no item.
        reqs = [("model_name", "in", ["mistral-7b", "llama-3-8b"])]
        dropped = self_metric(sx, pki, "sextant_catalog_non_finite_values_dropped_total")
        for selector in (None, render_selector(reqs)):
            assert get_items(sx, pki, "vllm-kv-cache-usage", selector, NAMESPACE) == [], selector
        assert self_metric(sx, pki, "sextant_catalog_non_finite_values_dropped_total") >= dropped + 1
        # The other model's series alone is finite and answered.
        c = ("kv llama only", "vllm-kv-cache-usage", [("model_name", "=", ["llama-3-8b"])],
             NAMESPACE, False)
        assert compare(sx, pki, prom, c)
    finally:
        status, answer = ph.control(exporter, {"clear": True})
        assert status == 200, answer
