"""End-to-end tests of Sextant's signals (windowed statistics computed in-process from the
window store): the real sextant binary, a real Prometheus scraping the synthetic exporter every
second, and for every signal the same value from Prometheus itself.

Module fixtures start, on 127.0.0.1 and ports chosen at run time:
- the exporter (vLLM families, 3 pods, counters and histograms restarting every 17 s, so that
  rate/increase windows hold counter resets), running unpaused; the llama pods'
  `vllm:gpu_cache_usage_perc` is pinned to NaN (NaN groups must be left out);
- a Prometheus (prom_harness.start_prometheus, scrape interval 1 s);
- Sextant with SIGNALS, --cache-ttl 1s and --v 2: at verbosity 2 the signal provider logs every
  value it computes with 17 significant digits, which is how the values are compared within
  1e-9 relative (an item's value is a Kubernetes quantity, rounded to a milli-unit; that
  rounding is checked too).

For each signal the test GETs the metric, reads the evaluation time t from the items'
timestamp, asks Prometheus `/api/v1/query?time=t` for the equivalent PromQL (written here,
independently of Sextant's rendering) and compares labels and values. The exporter keeps
running: both sides read the same raw samples at the same t. Whatever a test starts, it stops.
"""

from __future__ import annotations

import datetime
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
WAITING = "vllm:num_requests_waiting"
RUNNING = "vllm:num_requests_running"
KV = "vllm:kv_cache_usage_perc"
GPU_CACHE = "vllm:gpu_cache_usage_perc"  # llama pods pinned to NaN
PROMPT = "vllm:prompt_tokens_total"
GENERATION = "vllm:generation_tokens_total"
SUCCESS = "vllm:request_success_total"
TTFT = "vllm:time_to_first_token_seconds"
E2E = "vllm:e2e_request_latency_seconds"


def series_signal(name, metric, over_time, window, across="sum", by=(), matchers=(),
                  namespaced=True):
    return {"name": name, "metric": metric, "matchers": list(matchers), "overTime": over_time,
            "window": window, "across": across, "by": list(by), "namespaced": namespaced}


def histogram_signal(name, metric, quantile, window, by=()):
    return {"name": name, "histogram": metric, "quantile": quantile, "window": window,
            "by": list(by), "matchers": [], "namespaced": True}


# One signal per overTime function, every across function, with and without `by`, and
# histogram quantiles. Counters reset inside the 30 s windows.
SIGNALS = [
    series_signal("kv-avg", KV, "avg", "30s", "sum", ["model_name"]),
    series_signal("running-sum", RUNNING, "sum", "30s", "avg", ["model_name"]),
    series_signal("kv-min", KV, "min", "30s", "min"),
    series_signal("kv-max", KV, "max", "45s", "max", ["pod"]),
    series_signal("waiting-count", WAITING, "count", "30s", "count"),
    series_signal("waiting-last", WAITING, "last", "30s", "sum", ["model_name"]),
    series_signal("kv-stddev", KV, "stddev", "30s", "max", ["model_name"]),
    series_signal("kv-stdvar", KV, "stdvar", "1m", "sum"),
    series_signal("waiting-p90", WAITING, "quantile(0.9)", "30s", "sum", ["model_name"],
                  ['job="synthetic"']),
    series_signal("kv-p25", KV, "quantile(0.25)", "30s", "avg"),
    series_signal("prompt-rate", PROMPT, "rate", "30s", "sum", ["model_name"]),
    series_signal("generation-increase", GENERATION, "increase", "30s", "avg"),
    series_signal("success-rate", SUCCESS, "rate", "20s", "max", ["finished_reason"]),
    series_signal("kv-delta", KV, "delta", "30s", "sum", ["model_name"]),
    series_signal("gpu-cache-avg", GPU_CACHE, "avg", "30s", "sum", ["model_name"]),
    series_signal("running-last-cluster", RUNNING, "last", "30s", "sum", ["model_name"],
                  namespaced=False),
    histogram_signal("ttft-p95", TTFT, 0.95, "30s"),
    histogram_signal("ttft-p50-by-model", TTFT, 0.5, "30s", ["model_name"]),
    histogram_signal("e2e-p99", E2E, 0.99, "45s", ["model_name"]),
]

# (case id, signal, request label selector, its PromQL matchers, namespace)
CASES = [(s["name"], s, None, [], NAMESPACE) for s in SIGNALS] + [
    ("kv-avg-one-model", SIGNALS[0], "model_name=mistral-7b", ['model_name="mistral-7b"'],
     NAMESPACE),
    ("prompt-rate-not-one-pod", SIGNALS[10], "pod notin (vllm-llama-3-8b-0)",
     ['pod!~"vllm-llama-3-8b-0"'], NAMESPACE),
    ("ttft-p95-one-model", SIGNALS[16], "model_name in (llama-3-8b)",
     ['model_name=~"llama-3-8b"'], NAMESPACE),
    ("not-namespaced-in-other-namespace", SIGNALS[15], None, [], "other"),
]

LOG_VALUE_RE = re.compile(r'signal "(?P<name>[^"]+)" t=(?P<t>\d+) labels=(?P<labels>\{.*\}) '
                          r'value=(?P<value>\S+)$', re.M)


def config_yaml() -> dict:
    signals = []
    for s in SIGNALS:
        selector = s.get("metric") or s.get("histogram")
        if s["matchers"]:
            selector += "{" + ",".join(s["matchers"]) + "}"
        entry = {"name": s["name"], "window": s["window"]}
        if "histogram" in s:
            entry.update({"histogram": selector, "quantile": s["quantile"]})
        else:
            entry.update({"series": selector, "overTime": s["overTime"], "across": s["across"]})
        if s["by"]:
            entry["by"] = s["by"]
        if not s["namespaced"]:
            entry["namespaced"] = False
        signals.append(entry)
    return {"signals": signals}


def promql(s: dict, namespace: str, extra: list) -> str:
    """The PromQL a signal stands for, built from the definition above."""
    name = s.get("metric") or s["histogram"] + "_bucket"
    matchers = list(s["matchers"])
    if s["namespaced"]:
        matchers.append(f'namespace="{namespace}"')
    matchers += extra
    selector = name + ("{" + ",".join(matchers) + "}" if matchers else "")
    rng = f"{selector}[{s['window']}]"
    if "histogram" in s:
        by = ", ".join(["le", *s["by"]])
        return f"histogram_quantile({s['quantile']}, sum by ({by}) (rate({rng})))"
    f = s["overTime"]
    if f.startswith("quantile("):
        inner = f"quantile_over_time({f[len('quantile('):-1]}, {rng})"
    elif f in ("rate", "increase", "delta"):
        inner = f"{f}({rng})"
    else:
        inner = f"{f}_over_time({rng})"
    if s["by"]:
        return f"{s['across']} by ({', '.join(s['by'])}) ({inner})"
    return f"{s['across']}({inner})"


def prom_query(port: int, expr: str, t: int) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(
        {"query": expr, "time": str(t)})
    status, body = ph.http_get(url)
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "success", (expr, answer)
    assert answer["data"]["resultType"] == "vector", answer
    return answer["data"]["result"]






def label_key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))




def logged_values(log: str) -> dict:
    """{(signal, t, label key): value} from the provider's verbosity-2 lines (last wins)."""
    out = {}
    for m in LOG_VALUE_RE.finditer(log):
        out[(m["name"], int(m["t"]), label_key(json.loads(m["labels"])))] = float(m["value"])
    return out


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def exporter():
    proc, port = ph.start_exporter(["--only", "vllm", "--pods", "3",
                                    "--counter-reset-every", "17"])
    try:
        status, answer = ph.control(port, {"set": [
            {"name": GPU_CACHE, "labels": {"model_name": "llama-3-8b"}, "value": "NaN"}]})
        assert status == 200, answer
        yield port
    finally:
        ph.stop(proc)


@pytest.fixture(scope="module")
def prometheus(exporter):
    proc, port, _datadir = ph.start_prometheus([exporter], scrape_interval="1s")
    try:
        ph.wait_for_series(port, PROMPT, timeout=30)
        yield port
    finally:
        ph.stop(proc)


@pytest.fixture(scope="module")
def config_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "sextant.yaml"
    path.write_text(yaml.safe_dump(config_yaml(), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def sextant(tmp_path_factory, pki, prometheus, config_path):
    directory = tmp_path_factory.mktemp("sextant")
    proc = SextantProcess(
        ["--tls-cert-file", str(pki.server.cert), "--tls-private-key-file", str(pki.server.key),
         "--client-ca-file", str(pki.client_ca.cert), "--config", str(config_path),
         "--prometheus-url", f"http://127.0.0.1:{prometheus}",
         "--cache-ttl", "1s", "--metrics-relist-interval", "5s", "--v", "2"],
        directory / "sextant.log", directory, ca_file=pki.server_ca.cert)
    proc.start()
    try:
        deadline = time.monotonic() + 20
        while proc.request("GET", "/readyz", cert=pki.alice).status != 200:
            assert time.monotonic() < deadline, "/readyz never answered 200"
            time.sleep(0.1)
        # Let the windows fill partly and the counters reset at least once.
        time.sleep(20)
        yield proc
    finally:
        proc.stop()


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def compare(sextant, pki, prometheus, case) -> tuple[int, list]:
    """One comparison; returns (t, Prometheus' raw answer)."""
    case_id, s, selector, extra, namespace = case
    resp = sextant.request("GET", metric_path(s["name"], selector, namespace), cert=pki.alice)
    assert resp.status == 200, (case_id, resp.status, resp.body)
    doc = resp.json()
    assert doc["kind"] == "ExternalMetricValueList", doc
    for bad in ("NaN", "Inf"):
        assert bad not in resp.body.decode(), resp.body
    items = doc["items"]
    expr = promql(s, namespace, extra)
    if not items:
        return 0, []
    stamps = {item["timestamp"] for item in items}
    assert len(stamps) == 1, stamps
    t = int(datetime.datetime.strptime(stamps.pop(), "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp())
    want_raw = prom_query(prometheus, expr, t)
    want = {label_key(r["metric"]): float(r["value"][1]) for r in want_raw
            if math.isfinite(float(r["value"][1]))}
    got = {label_key(item.get("metricLabels") or {}): item for item in items}
    assert set(got) == set(want), (case_id, expr, t, sorted(got), want_raw)
    exact = logged_values(sextant.log())
    window = int(s["window"][:-1]) * (60 if s["window"].endswith("m") else 1)
    for key, item in got.items():
        assert item["metricName"] == s["name"], item
        assert item.get("window") == window, item
        value = exact.get((s["name"], t, key))
        assert value is not None, (case_id, t, key, "no logged value")
        assert math.isclose(value, want[key], rel_tol=1e-9, abs_tol=1e-12), \
            (case_id, expr, t, key, value, want[key])
        # The quantity is the value rounded to a milli-unit.
        assert abs(quantity(item["value"]) - want[key]) <= 0.0005 + 1e-9 * abs(want[key]), \
            (case_id, item["value"], want[key])
    return t, want_raw


def test_every_signal_equals_prometheus_at_the_same_time(sextant, pki, prometheus):
    compared = {case[0]: 0 for case in CASES}
    nan_groups_seen = False
    resets_seen = False
    for round_ in range(3):
        for case in CASES:
            t, raw = compare(sextant, pki, prometheus, case)
            if t:
                compared[case[0]] += 1
            if case[0] == "gpu-cache-avg" and t:
                nan_groups_seen |= any(not math.isfinite(float(r["value"][1])) for r in raw)
            if case[0] == "prompt-rate" and t:
                resets = prom_query(prometheus, f'sum(resets({PROMPT}[30s]))', t)
                resets_seen |= bool(resets) and float(resets[0]["value"][1]) > 0
        time.sleep(2.5)  # past the TTL: the next round refreshes incrementally
    never = [c for c, n in compared.items() if n == 0]
    assert not never, f"no items to compare for {never}"
    assert nan_groups_seen, "Prometheus never returned the NaN group the test relies on"
    assert resets_seen, "no counter reset fell in a compared rate window"


def test_a_namespace_without_series_is_an_empty_list(sextant, pki):
    resp = sextant.request("GET", metric_path("kv-avg", None, "prod"), cert=pki.alice)
    assert resp.status == 200, resp.body
    assert resp.json()["items"] == []


def test_discovery_lists_every_signal(sextant, pki):
    resp = sextant.request("GET", METRICS_PREFIX, cert=pki.alice)
    assert resp.status == 200, resp.body
    names = {r["name"] for r in resp.json()["resources"]}
    assert {s["name"] for s in SIGNALS} <= names


def test_unknown_signal_is_not_found(sextant, pki):
    resp = sextant.request("GET", metric_path("no-such-signal", None, NAMESPACE), cert=pki.alice)
    assert resp.status == 404, resp.body


def test_window_store_refreshes_incrementally(sextant, pki):
    resp = sextant.request("GET", "/metrics", cert=pki.alice)
    assert resp.status == 200, resp.body
    text = resp.body.decode()

    def value(name: str) -> float:
        match = re.search(rf"^{name} (\S+)$", text, re.M)
        assert match, f"{name} not in /metrics"
        return float(match.group(1))
    assert value("sextant_window_store_incremental_fetches_total") > 0
    assert value("sextant_window_store_full_fetches_total") > 0
    assert value("sextant_window_store_series") > 0
    samples = value("sextant_window_store_samples")
    assert 0 < value("sextant_window_store_bytes") <= 32 * samples + 64 * 1024
    assert value("sextant_signal_non_finite_values_dropped_total") > 0


def test_validate_prints_the_equivalent_promql(config_path):
    result = subprocess.run([str(sextant_binary()), "validate", "--config", str(config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"{len(SIGNALS)} signals" in result.stdout, result.stdout
    for s in SIGNALS:
        match = re.search(rf"^signal {re.escape(s['name'])} at .*\n(?:  .*\n)*?  promql: (.*)$",
                          result.stdout, re.M)
        assert match, f"validate did not show signal {s['name']}:\n{result.stdout}"
        assert match.group(1) == promql(s, NAMESPACE, []), s["name"]
