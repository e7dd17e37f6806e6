"""End-to-end tests of Sextant's Prometheus query path: the real sextant binary serving a
prometheus-adapter style `externalRules` config from a real Prometheus that scrapes the
synthetic exporter (hack/exporter) every second.

Module fixtures start, on 127.0.0.1 and ports chosen at run time:
- the exporter with --weird-labels (vLLM, DCGM and TGI families), paused once Prometheus has
  its series, so that values are stable while Sextant and Prometheus are compared;
- a Prometheus (config written here: honor_labels as hack/demo.sh, plus metric relabelling
  that moves the mistral TGI pods to namespace "prod" and gives tgi_queue_size its namespace
  in a custom label `kubernetes_namespace`), with a second scrape job whose target port is
  chosen now but only listened on by a second exporter that test_metric_appearing_between_
  relists_is_served_on_demand starts;
- Sextant with CONFIG, --metrics-relist-interval 2s.

Every expectation is computed from Prometheus' own answers (or from values pinned through the
exporter's /control API), never copied from an earlier run. Whatever a test starts, it stops.
The test that stops and restarts Prometheus runs last.

Note: discovery looks back --metrics-max-age (default: the relist interval, 2 s here). After a
Prometheus restart no scrape lands for up to ~5 s (its scrape manager syncs targets on a 5 s
tick), so a relist in that gap finds no series and known metrics answer 404 until a later
relist, although the query itself (5 m lookback) would answer.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import time
import urllib.parse

import pytest
import yaml

import prom_harness as ph
from harness import (GROUP_VERSION, METRICS_PREFIX, Pki, SextantProcess, metric_path, quantity,
                     sextant_binary)

pytestmark = pytest.mark.skipif(not os.path.exists(ph.PROMETHEUS),
                                reason=f"{ph.PROMETHEUS} is not installed")

NAMESPACE = "default"

# The rules Sextant serves (prometheus-adapter `externalRules`). Kept as data so discovery
# expectations can be derived from the same rules the server loads.
RULES = [
    {  # mean GPU utilisation of the namespace's GPUs
        "seriesQuery": 'DCGM_FI_DEV_GPU_UTIL{namespace!=""}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
        "name": {"matches": "^DCGM_FI_DEV_GPU_UTIL$", "as": "gpu-utilization"},
        "metricsQuery": "avg(<<.Series>>{<<.LabelMatchers>>})",
    },
    {  # vllm-requests-waiting / vllm-requests-running, summed per model
        "seriesQuery": '{__name__=~"^vllm:num_requests_(waiting|running)$",namespace!=""}',
        "name": {"matches": "^vllm:num_requests_(.*)$", "as": "vllm-requests-${1}"},
        "metricsQuery": "sum by (model_name) (<<.Series>>{<<.LabelMatchers>>})",
    },
    {  # raw DCGM profiling series, named as the (upper-case) series
        "seriesQuery": '{__name__=~"^DCGM_FI_PROF_.*_ACTIVE$",namespace!=""}',
        "metricsQuery": "<<.Series>>{<<.LabelMatchers>>}",
    },
    {  # raw vLLM queue series (carries the weird model_name values)
        "seriesQuery": "vllm:num_requests_waiting",
        "name": {"matches": "^vllm:num_requests_waiting$", "as": "vllm-waiting-series"},
        "metricsQuery": "<<.Series>>{<<.LabelMatchers>>}",
    },
    {  # cluster-wide (namespaced: false) framebuffer series; the filter drops _FREE
        "seriesQuery": '{__name__=~"^DCGM_FI_DEV_FB_.*$"}',
        "seriesFilters": [{"isNot": "_FREE$"}],
        "resources": {"namespaced": False},
        "name": {"matches": "^DCGM_FI_DEV_(.*)$", "as": "cluster-${1}"},
        "metricsQuery": "<<.Series>>{<<.LabelMatchers>>}",
    },
    {  # the namespace lives in a custom label, mapped by an override
        "seriesQuery": 'tgi_queue_size{kubernetes_namespace!=""}',
        "resources": {"overrides": {"kubernetes_namespace": {"resource": "namespace"}}},
        "name": {"as": "tgi-queue"},
        "metricsQuery": "<<.Series>>{<<.LabelMatchers>>}",
    },
    {  # no resources at all: the namespace label is `namespace`
        "seriesQuery": "tgi_batch_current_size",
        "name": {"as": "tgi-batch"},
        "metricsQuery": "<<.Series>>{<<.LabelMatchers>>}",
    },
    {  # NaN / Inf handling, per series and aggregated
        "seriesQuery": "vllm:gpu_cache_usage_perc",
        "name": {"as": "vllm-cache"},
        "metricsQuery": "<<.Series>>{<<.LabelMatchers>>}",
    },
    {
        "seriesQuery": "vllm:gpu_cache_usage_perc",
        "name": {"as": "vllm-cache-total"},
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>})",
    },
    {  # renders PromQL that Prometheus rejects (missing parenthesis)
        "seriesQuery": "vllm:kv_cache_usage_perc",
        "name": {"as": "broken-query"},
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}",
    },
]
CONFIG = {"externalRules": RULES}

# Served by a second Sextant only (test_metric_appearing_between_relists_is_served_on_demand).
LATE_RULES = [{
    "seriesQuery": '{__name__=~"^sglang:.*",namespace!=""}',
    "name": {"matches": "^sglang:(.*)$", "as": "sglang-${1}"},
    "metricsQuery": "sum by (model_name) (<<.Series>>{<<.LabelMatchers>>})",
}]

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: synthetic
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{exporter_port}"]
    metric_relabel_configs:
      # The mistral TGI pods run in namespace "prod".
      - source_labels: [__name__, pod]
        regex: 'tgi_.*;tgi-mistral-7b-.*'
        target_label: namespace
        replacement: prod
      # tgi_queue_size carries its namespace in a custom label only.
      - source_labels: [__name__, namespace]
        regex: 'tgi_queue_size;(.+)'
        target_label: kubernetes_namespace
        replacement: '$1'
      - source_labels: [__name__]
        regex: tgi_queue_size
        target_label: namespace
        replacement: ''
  - job_name: late
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{late_port}"]
"""

# Words a client-facing error message must never contain.
BACKEND_WORDS = ["prometheus", "promql", "http://", "127.0.0.1", "bad_data", "parse error",
                 "unexpected", "vllm:", "sum(", "{", "__name__"]
ECHO_SAFE_WORDS = ["prometheus", "promql", "http://", "127.0.0.1", "bad_data", "vllm:"]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------





def close(a: float, b: float) -> bool:
    """Quantities carry milli precision: equal within 1e-3 relative or one milli-unit."""
    return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-3)




def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def label_key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


def prom_values(result: list) -> dict:
    """A Prometheus instant vector as {label key: (value, timestamp seconds)}."""
    out = {}
    for sample in result:
        key = label_key(sample["metric"])
        assert key not in out, f"duplicate series in Prometheus' answer: {sample}"
        out[key] = (float(sample["value"][1]), float(sample["value"][0]))
    return out


def item_values(doc: dict) -> dict:
    """An ExternalMetricValueList as {label key: item}."""
    out = {}
    for item in doc["items"]:
        key = label_key(item.get("metricLabels") or {})
        assert key not in out, f"two items with the same labels: {doc['items']}"
        out[key] = item
    return out


def go_expand(template: str, match: re.Match) -> str:
    """Go's Regexp.Expand for the `$N`, `${N}` and `$$` forms the rules use."""
    def group(name: str) -> str:
        try:
            return match.group(int(name)) or ""
        except (IndexError, ValueError):
            return ""
    return re.sub(r"\$(\$|\{(\w+)\}|(\w+))",
                  lambda m: "$" if m.group(1) == "$" else group(m.group(2) or m.group(3)),
                  template)


def expected_metrics(rules: list, prom_port: int) -> set:
    """(name, namespaced) of every metric `rules` produce from the series Prometheus has,
    following prometheus-adapter's discovery: seriesFilters and name.matches select a series
    name, name.as names it; the first rule to produce a name (case-insensitively) wins."""
    found: dict = {}
    now = time.time()
    for rule in rules:
        status, body = ph.http_get(
            f"http://127.0.0.1:{prom_port}/api/v1/series?" + urllib.parse.urlencode(
                {"match[]": rule["seriesQuery"], "start": f"{now - 300:.3f}",
                 "end": f"{now:.3f}"}))
        assert status == 200, body
        names = {s["__name__"] for s in json.loads(body)["data"]}
        name_rule = rule.get("name", {})
        matches = re.compile(name_rule.get("matches") or ".*")
        template = name_rule.get("as") or ("$1" if matches.groups == 1 else "$0")
        namespaced = rule.get("resources", {}).get("namespaced", True)
        for series in sorted(names):
            keep = all((re.search(f["is"], series) is not None) if "is" in f
                       else (re.search(f["isNot"], series) is None)
                       for f in rule.get("seriesFilters", []))
            match = matches.search(series)
            if not keep or match is None:
                continue
            name = go_expand(template, match)
            if name and name.lower() not in found:
                found[name.lower()] = (name, namespaced)
    return set(found.values())


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout}s")
        time.sleep(interval)


def wait_scrape_after(prom_port: int, since: float, job: str = "synthetic") -> None:
    """Waits until Prometheus stored a scrape of `job` that started after `since` (epoch s)."""
    def scraped() -> bool:
        try:
            result = ph.query(prom_port, f'timestamp(up{{job="{job}"}} == 1)')
        except (RuntimeError, OSError):
            return False
        return bool(result) and float(result[0]["value"][1]) > since
    wait_until(scraped, 20, 0.1, f"a scrape of {job} after {since}")


def assert_status(resp, code: int, reason: str) -> dict:
    assert resp.status == code, (resp.status, resp.body)
    doc = resp.json()
    assert doc["kind"] == "Status" and doc["apiVersion"] == "v1", doc
    assert doc["status"] == "Failure", doc
    assert doc["reason"] == reason, doc
    assert doc["code"] == code, doc
    assert isinstance(doc.get("message"), str) and doc["message"], doc
    return doc


def assert_no_backend_detail(message: str, prom_port: int, echoes_input: bool = False) -> None:
    """`echoes_input`: a 400 may quote the client's own selector, braces and all."""
    lowered = message.lower()
    words = ECHO_SAFE_WORDS if echoes_input else BACKEND_WORDS
    for word in words + [str(prom_port)]:
        assert word.lower() not in lowered, f"{word!r} leaks into {message!r}"


def assert_finite_values(body: bytes) -> None:
    text = body.decode(errors="replace")
    for bad in ("NaN", "Inf", "-9223372036854775808"):
        assert bad not in text, f"{bad} in {text}"


def write_config(path: pathlib.Path, config: dict) -> pathlib.Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def run_validate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(sextant_binary()), "validate", *args], capture_output=True,
                          text=True, timeout=timeout)


def validate_promql(config: pathlib.Path, prom_port: int, metric: str,
                    selector: str | None, namespace: str = NAMESPACE) -> str:
    """The PromQL `sextant validate` prints for `metric` (found by live discovery)."""
    args = ["--config", str(config), "--prometheus-url", f"http://127.0.0.1:{prom_port}",
            "--namespace", namespace]
    if selector:
        args += ["--selector", selector]
    result = run_validate(*args)
    assert result.returncode == 0, result.stderr
    match = re.search(rf"^  metric {re.escape(metric)} \(.*\)\n    promql: (.*)$",
                      result.stdout, re.M)
    assert match, f"validate did not show metric {metric}:\n{result.stdout}"
    return match.group(1)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


class PrometheusServer:
    """A real Prometheus on a fixed (run-time chosen) loopback port and data directory, so it
    can be stopped and started again as the same server."""

    def __init__(self, directory: pathlib.Path, config_text: str):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "prometheus.yml"
        self.config.write_text(config_text)
        self.log_path = self.dir / "prometheus.log"
        self.port = ph.free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [ph.PROMETHEUS, f"--config.file={self.config}",
                     f"--storage.tsdb.path={self.dir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir)
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if ph.http_get(f"http://127.0.0.1:{self.port}/-/ready", timeout=2)[0] == 200:
                        return
                except OSError:
                    pass
                time.sleep(0.1)
            log_text = self.log_path.read_text(errors="replace")
            self.stop()
            # The port may linger for a moment after a restart: retry a bind failure.
            if "address already in use" not in log_text or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not become ready; log:\n{log_text[-4000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        ph.stop(self.proc)
        self.proc = None


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def exporter():
    proc, port = ph.start_exporter(["--weird-labels", "--only", "dcgm,vllm,tgi", "--pods", "3"])
    yield port
    ph.stop(proc)


@pytest.fixture(scope="module")
def late_port() -> int:
    """The port of the second exporter, scraped by Prometheus from the start but only
    listened on once a test starts that exporter."""
    return ph.free_port()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, exporter, late_port):
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"),
                              PROMETHEUS_CONFIG.replace("{exporter_port}", str(exporter))
                              .replace("{late_port}", str(late_port)))
    server.start()
    try:
        ph.wait_for_series(server.port, 'up{job="synthetic"} == 1', timeout=30)
        ph.wait_for_series(server.port, "vllm:num_requests_waiting", timeout=30)
        # Freeze the exporter and wait for a scrape of the frozen values: from now on both
        # Prometheus and Sextant see the same numbers whenever they look.
        paused_at = time.time()
        status, answer = ph.control(exporter, {"pause": True})
        assert status == 200, answer
        wait_scrape_after(server.port, paused_at + 0.05)
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir / "data", ignore_errors=True)


def sextant_args(pki: Pki, config: pathlib.Path, prom_port: int, relist: str) -> list[str]:
    return ["--tls-cert-file", str(pki.server.cert),
            "--tls-private-key-file", str(pki.server.key),
            "--client-ca-file", str(pki.client_ca.cert),
            "--config", str(config), "--prometheus-url", f"http://127.0.0.1:{prom_port}",
            "--metrics-relist-interval", relist,
            # These tests pin values and compare with Prometheus right after a scrape: keep
            # the result cache's reuse shorter than a scrape interval (its own behaviour is
            # tested in the cache's unit tests), and answer 503 at once when Prometheus is down.
            "--cache-ttl", "200ms", "--cache-keep-warm", "0s", "--max-staleness", "0s"]


def start_sextant(directory: pathlib.Path, pki: Pki, config: dict, prom_port: int,
                  relist: str = "2s") -> SextantProcess:
    directory.mkdir(parents=True, exist_ok=True)
    # This suite is about prometheus-adapter rules: the built-in catalog (tested in
    # test_catalog.py) is turned off so that discovery lists exactly what the rules produce.
    config = {**config, "catalog": config.get("catalog", {"enabled": False})}
    path = write_config(directory / "adapter-config.yaml", config)
    proc = SextantProcess(sextant_args(pki, path, prom_port, relist),
                          directory / "sextant.log", directory, ca_file=pki.server_ca.cert)
    proc.config_path = path  # type: ignore[attr-defined]
    proc.start()
    try:
        wait_until(lambda: proc.request("GET", "/readyz", cert=pki.alice).status == 200, 20,
                   0.1, "/readyz")
    except BaseException:
        proc.stop()
        raise
    return proc


@pytest.fixture(scope="module")
def sextant(tmp_path_factory, pki, prometheus):
    proc = start_sextant(tmp_path_factory.mktemp("sextant"), pki, CONFIG, prometheus.port)
    try:
        expected = {name for name, _ in expected_metrics(RULES, prometheus.port)}

        def listed() -> bool:
            resp = proc.request("GET", METRICS_PREFIX, cert=pki.alice)
            return resp.status == 200 and \
                expected <= {r["name"] for r in resp.json()["resources"]}
        wait_until(listed, 20, 0.2, "discovery of every rule's metrics")
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def get(sextant, pki):
    def request(path: str):
        return sextant.request("GET", path, cert=pki.alice)
    return request


def fetch(get, metric: str, selector: str | None = None, namespace: str = NAMESPACE):
    """GET a metric; returns (document, time before, time after)."""
    before = time.time()
    resp = get(metric_path(metric, selector, namespace))
    after = time.time()
    assert resp.status == 200, (resp.status, resp.body)
    assert resp.content_type.split(";")[0] == "application/json"
    doc = resp.json()
    assert doc["kind"] == "ExternalMetricValueList", doc
    assert doc["apiVersion"] == GROUP_VERSION, doc
    assert_finite_values(resp.body)
    return doc, before, after


def assert_matches_prometheus(doc: dict, expected: list, metric: str, before: float,
                              after: float) -> None:
    """Sextant's items equal Prometheus' answer: labels, values (milli precision) and
    timestamps (the evaluation time, in whole seconds, of a query made during the request)."""
    want = prom_values(expected)
    got = item_values(doc)
    assert set(got) == set(want), f"labels differ:\nsextant {sorted(got)}\nprometheus " \
                                  f"{sorted(want)}"
    for key, item in got.items():
        assert item["metricName"].lower() == metric.lower(), item
        value = quantity(item["value"])
        assert close(value, want[key][0]), (key, item["value"], want[key][0])
        stamp = parse_time(item["timestamp"]).timestamp()
        assert math.floor(before) <= stamp <= after, (item["timestamp"], before, after)


# ---------------------------------------------------------------------------------------------
# 1. Equality with Prometheus
# ---------------------------------------------------------------------------------------------

# (metric, selector, the PromQL the rule stands for, reconstructed from the rule by hand)
EQUALITY_CASES = {
    "sum-by-model": ("vllm-requests-waiting", None,
                     'sum by (model_name) (vllm:num_requests_waiting{namespace="default"})'),
    "sum-by-model-selected": (
        "vllm-requests-waiting", "model_name in (llama-3-8b,mistral-7b)",
        'sum by (model_name) (vllm:num_requests_waiting{namespace="default",'
        'model_name=~"llama-3-8b|mistral-7b"})'),
    "sum-by-model-running": ("vllm-requests-running", None,
                             'sum by (model_name) (vllm:num_requests_running'
                             '{namespace="default"})'),
    "avg-gpu-util": ("gpu-utilization", None, 'avg(DCGM_FI_DEV_GPU_UTIL{namespace="default"})'),
    "avg-gpu-util-one-host": ("gpu-utilization", "Hostname=gpu-node-0",
                              'avg(DCGM_FI_DEV_GPU_UTIL{namespace="default",'
                              'Hostname="gpu-node-0"})'),
    "raw-per-series": ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", None,
                       'DCGM_FI_PROF_GR_ENGINE_ACTIVE{namespace="default"}'),
    "raw-weird-labels": ("vllm-waiting-series", None,
                         'vllm:num_requests_waiting{namespace="default"}'),
}


@pytest.mark.parametrize("case", sorted(EQUALITY_CASES))
def test_items_equal_prometheus_answer(case, get, sextant, prometheus):
    metric, selector, promql = EQUALITY_CASES[case]
    # The same question, asked through the PromQL `sextant validate` renders for the rule.
    rendered = validate_promql(sextant.config_path, prometheus.port, metric, selector)
    expected = ph.query(prometheus.port, promql)
    assert expected, f"Prometheus has nothing for {promql}: the case would prove nothing"
    assert prom_values(ph.query(prometheus.port, rendered)).keys() == \
        prom_values(expected).keys(), (rendered, promql)
    doc, before, after = fetch(get, metric, selector)
    assert_matches_prometheus(doc, expected, metric, before, after)
    assert_matches_prometheus(doc, ph.query(prometheus.port, rendered), metric, before, after)


# ---------------------------------------------------------------------------------------------
# 2. Every selector operator
# ---------------------------------------------------------------------------------------------

# (metric, selector, the selector's meaning as a predicate over a series' labels)
SELECTOR_CASES = {
    "equals": ("vllm-waiting-series", "model_name=llama-3-8b",
               lambda l: l.get("model_name") == "llama-3-8b"),
    "double-equals": ("vllm-waiting-series", "model_name==mistral-7b",
                      lambda l: l.get("model_name") == "mistral-7b"),
    "not-equals": ("vllm-waiting-series", "model_name!=llama-3-8b",
                   lambda l: l.get("model_name") != "llama-3-8b"),
    "in": ("vllm-waiting-series", "model_name in (llama-3-8b,aXb)",
           lambda l: l.get("model_name") in ("llama-3-8b", "aXb")),
    "notin": ("vllm-waiting-series", "model_name notin (llama-3-8b,aXb)",
              lambda l: l.get("model_name") not in ("llama-3-8b", "aXb")),
    "and": ("vllm-waiting-series", "model_name=llama-3-8b,pod=vllm-llama-3-8b-1",
            lambda l: l.get("model_name") == "llama-3-8b" and l.get("pod") == "vllm-llama-3-8b-1"),
    # Labels present on some series only: DCGM holder labels exist on held GPUs.
    "exists": ("cluster-FB_USED", "pod", lambda l: "pod" in l),
    "does-not-exist": ("cluster-FB_USED", "!pod", lambda l: "pod" not in l),
    "not-equals-missing-label": ("cluster-FB_USED", "container!=vllm",
                                 lambda l: l.get("container") != "vllm"),
    "notin-missing-label": ("cluster-FB_USED", "container notin (vllm,tgi)",
                            lambda l: l.get("container") not in ("vllm", "tgi")),
    "exists-and-in": ("cluster-FB_USED", "pod,Hostname in (gpu-node-1)",
                      lambda l: "pod" in l and l.get("Hostname") == "gpu-node-1"),
}

SELECTOR_SERIES = {"vllm-waiting-series": 'vllm:num_requests_waiting{namespace="default"}',
                   "cluster-FB_USED": "DCGM_FI_DEV_FB_USED"}


@pytest.mark.parametrize("case", sorted(SELECTOR_CASES))
def test_selector_operator(case, get, prometheus):
    metric, selector, predicate = SELECTOR_CASES[case]
    every = ph.query(prometheus.port, SELECTOR_SERIES[metric])
    expected = [s for s in every if predicate(s["metric"])]
    assert expected and len(expected) < len(every), \
        f"{case}: the selector must keep some series and drop others to prove anything"
    doc, before, after = fetch(get, metric, selector)
    assert_matches_prometheus(doc, expected, metric, before, after)


@pytest.mark.parametrize("selector", ["engine>0", "engine<1", "engine>0,model_name=aXb"])
def test_selector_gt_lt_is_bad_request(selector, get, prometheus):
    doc = assert_status(get(metric_path("vllm-waiting-series", selector)), 400, "BadRequest")
    assert "not supported" in doc["message"], doc
    assert_no_backend_detail(doc["message"], prometheus.port, echoes_input=True)


def test_selector_key_is_mapped_to_a_label_name(get):
    # app.kubernetes.io/name is a valid selector key but not a Prometheus label name: it is
    # mapped (app_kubernetes_io_name), matches nothing here, and is not an error.
    doc, _, _ = fetch(get, "vllm-waiting-series", "app.kubernetes.io/name=x")
    assert doc["items"] == []


# ---------------------------------------------------------------------------------------------
# 3. Regex metacharacters and injection
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("selector", ["model_name=a.b", "model_name==a.b",
                                      "model_name in (a.b)", "model_name in (a.b,no-such)"])
def test_dot_matches_only_itself(selector, get, prometheus):
    every = ph.query(prometheus.port, 'vllm:num_requests_waiting{namespace="default"}')
    models = {s["metric"]["model_name"] for s in every}
    assert {"a.b", "aXb"} <= models, "the exporter's --weird-labels series are missing"
    expected = [s for s in every if s["metric"]["model_name"] == "a.b"]
    doc, before, after = fetch(get, "vllm-waiting-series", selector)
    assert [i["metricLabels"]["model_name"] for i in doc["items"]] == ["a.b"]
    assert_matches_prometheus(doc, expected, "vllm-waiting-series", before, after)
    # The aggregating rule too: one group, a.b, with Prometheus' sum.
    doc, before, after = fetch(get, "vllm-requests-waiting", selector)
    assert_matches_prometheus(
        doc, ph.query(prometheus.port, 'sum by (model_name) (vllm:num_requests_waiting'
                                       '{namespace="default",model_name="a.b"})'),
        "vllm-requests-waiting", before, after)


@pytest.mark.parametrize("selector", ["model_name notin (a.b)", "model_name!=a.b"])
def test_negated_dot_keeps_lookalikes(selector, get, prometheus):
    every = ph.query(prometheus.port, 'vllm:num_requests_waiting{namespace="default"}')
    expected = [s for s in every if s["metric"]["model_name"] != "a.b"]
    doc, before, after = fetch(get, "vllm-waiting-series", selector)
    assert "aXb" in {i["metricLabels"]["model_name"] for i in doc["items"]}
    assert_matches_prometheus(doc, expected, "vllm-waiting-series", before, after)


INJECTIONS = [
    'model_name in (x"}or vector(1)or{a="y)',
    'model_name=x"}or vector(1)or{a="y',
    'model_name=x"} or vector(1) or {a="y',
    'model_name=a\\"b',
    'model_name=a"',
    "model_name=a\\",
    "model_name=.*",
    "model_name=~a.*",
    "model_name in (.+)",
    "model_name in (a|b)",
    "model_name in (x*)",
    "model_name=x\n",
    "model_name=a\nb",
    'model_name"}or vector(1)or{a=x',
    'model_name=x,__name__=up',
    "model_name=x)or(vector(1)",
    "model_name=x}",
    "model_name=\u00fcn\u00ef",
]


@pytest.mark.parametrize("selector", INJECTIONS, ids=lambda s: json.dumps(s))
def test_injection_attempt_returns_nothing_foreign(selector, get, prometheus):
    every = ph.query(prometheus.port, "vllm:num_requests_waiting")
    real = {label_key(s["metric"]) for s in every}
    for metric in ("vllm-waiting-series", "vllm-requests-waiting"):
        resp = get(metric_path(metric, selector))
        assert resp.status in (200, 400), (resp.status, resp.body)
        if resp.status == 400:
            doc = assert_status(resp, 400, "BadRequest")
            assert_no_backend_detail(doc["message"], prometheus.port, echoes_input=True)
            continue
        doc = resp.json()
        assert doc["kind"] == "ExternalMetricValueList", doc
        for item in doc["items"]:
            labels = item.get("metricLabels") or {}
            assert "model_name" in labels, f"foreign item {item} for {selector!r}"
            if metric == "vllm-waiting-series":
                assert label_key(labels) in real, f"foreign item {item} for {selector!r}"
        # No real model_name is any of these strings: nothing may match.
        assert doc["items"] == [], (selector, doc["items"])


NAMESPACE_INJECTIONS = ['x"}or vector(1)or{a="y', 'default"} or vector(1) or {a="y',
                        'default\\', 'default"', "Default", "a.b", "-x", "a" * 64]


@pytest.mark.parametrize("namespace", NAMESPACE_INJECTIONS, ids=lambda s: json.dumps(s))
def test_namespace_injection_attempt_is_rejected(namespace, get, prometheus):
    # The namespace also becomes a matcher value; anything but an RFC 1123 label is refused.
    path = (f"{METRICS_PREFIX}/namespaces/{urllib.parse.quote(namespace, safe='')}"
            "/vllm-waiting-series")
    doc = assert_status(get(path), 400, "BadRequest")
    assert_no_backend_detail(doc["message"], prometheus.port, echoes_input=True)


# ---------------------------------------------------------------------------------------------
# 4. Case-insensitive metric names
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("requested", ["dcgm_fi_prof_pipe_tensor_active",
                                       "Dcgm_Fi_Prof_Pipe_Tensor_Active",
                                       "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"])
def test_metric_names_match_case_insensitively(requested, get, prometheus):
    expected = ph.query(prometheus.port, 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{namespace="default"}')
    assert expected
    doc, before, after = fetch(get, requested)
    assert_matches_prometheus(doc, expected, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", before, after)


# ---------------------------------------------------------------------------------------------
# 5. Unknown names, and names that appear between relists
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["no-such-metric", "vllm-requests-", "gpu-utilization-x",
                                  "cluster-FB_FREE"])
def test_unknown_metric_is_not_found(name, get, prometheus):
    doc = assert_status(get(metric_path(name)), 404, "NotFound")
    assert_no_backend_detail(doc["message"], prometheus.port)


def test_metric_appearing_between_relists_is_served_on_demand(tmp_path, pki, prometheus,
                                                              late_port):
    metric = "sglang-num_queue_reqs"
    assert not ph.query(prometheus.port, 'count({__name__=~"sglang:.*"})')
    server = start_sextant(tmp_path / "sextant", pki, {"externalRules": LATE_RULES},
                           prometheus.port, relist="10m")
    late = None
    try:
        def get(path):
            return server.request("GET", path, cert=pki.alice)
        assert_status(get(metric_path(metric)), 404, "NotFound")
        # A second exporter appears on the port Prometheus has been trying all along.
        late, port = ph.start_exporter(["--listen", f"127.0.0.1:{late_port}",
                                        "--only", "sglang", "--pods", "2"])
        assert port == late_port
        ph.control(late_port, {"pause": True})
        ph.wait_for_series(prometheus.port, 'sglang:num_queue_reqs{namespace="default"}',
                           timeout=30)
        started = time.monotonic()
        resp = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
            get(metric_path(metric))), 30, 0.5, f"{metric} served")
        # Well before the 10-minute relist: found on demand.
        assert time.monotonic() - started < 60
        doc = resp.json()
        expected = ph.query(prometheus.port, 'sum by (model_name) (sglang:num_queue_reqs'
                                             '{namespace="default"})')
        assert {i["metricLabels"]["model_name"] for i in doc["items"]} == \
            {s["metric"]["model_name"] for s in expected}
        # Discovery now lists every sglang metric the rule produces.
        listed = {r["name"] for r in get(METRICS_PREFIX).json()["resources"]}
        assert listed == {name for name, _ in expected_metrics(LATE_RULES, prometheus.port)}
    finally:
        server.stop()
        ph.stop(late)


# ---------------------------------------------------------------------------------------------
# 6. Discovery
# ---------------------------------------------------------------------------------------------


def test_discovery_lists_exactly_what_the_rules_produce(get, prometheus):
    expected = expected_metrics(RULES, prometheus.port)
    # The series filter must have had something to drop, and namespaced: false something to do.
    assert ph.query(prometheus.port, "DCGM_FI_DEV_FB_FREE"), "no FB_FREE series to filter"
    assert ("cluster-FB_USED", False) in expected
    assert ("broken-query", True) in expected  # the loader cannot know its PromQL is bad

    def resources():
        resp = get(METRICS_PREFIX)
        assert resp.status == 200, resp.body
        doc = resp.json()
        assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == GROUP_VERSION
        return doc["resources"]
    try:
        wait_until(lambda: {(r["name"], r["namespaced"]) for r in resources()} == expected, 6)
    except TimeoutError:
        pass
    listed = resources()
    assert {(r["name"], r["namespaced"]) for r in listed} == expected
    assert len(listed) == len(expected), "a name is listed twice"
    for resource in listed:
        assert resource["kind"] == "ExternalMetricValueList"
        assert resource["verbs"] == ["get"]


# ---------------------------------------------------------------------------------------------
# 7. Namespaces
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric,label", [("tgi-batch", "namespace"),
                                          ("tgi-queue", "kubernetes_namespace")])
def test_namespaced_rule_adds_the_namespace_matcher(metric, label, get, prometheus):
    series = {"tgi-batch": "tgi_batch_current_size", "tgi-queue": "tgi_queue_size"}[metric]
    pods = {}
    for namespace in ("default", "prod"):
        expected = ph.query(prometheus.port, f'{series}{{{label}="{namespace}"}}')
        assert expected, f"no {series} series in {namespace}"
        doc, before, after = fetch(get, metric, namespace=namespace)
        assert_matches_prometheus(doc, expected, metric, before, after)
        pods[namespace] = {i["metricLabels"]["pod"] for i in doc["items"]}
        assert all(i["metricLabels"][label] == namespace for i in doc["items"])
    assert not pods["default"] & pods["prod"]
    # A namespace without series: an empty list, not other namespaces' series.
    doc, _, _ = fetch(get, metric, namespace="other")
    assert doc["items"] == []


def test_override_rule_does_not_use_the_namespace_label(get, prometheus):
    # tgi_queue_size has no `namespace` label at all (relabelled away): had Sextant matched
    # namespace="default" instead of the override's label, it would find nothing.
    assert not ph.query(prometheus.port, 'tgi_queue_size{namespace!=""}')
    doc, _, _ = fetch(get, "tgi-queue")
    assert doc["items"]
    assert all("namespace" not in i["metricLabels"] for i in doc["items"])


def test_aggregating_rule_in_empty_namespace_is_empty_list(get):
    for metric in ("gpu-utilization", "vllm-requests-waiting", "vllm-waiting-series"):
        doc, _, _ = fetch(get, metric, namespace="other")
        assert doc["items"] == [], metric


def test_cluster_rule_ignores_the_request_namespace(get, prometheus):
    expected = ph.query(prometheus.port, "DCGM_FI_DEV_FB_USED")
    for namespace in ("default", "other"):
        doc, before, after = fetch(get, "cluster-FB_USED", namespace=namespace)
        assert_matches_prometheus(doc, expected, "cluster-FB_USED", before, after)


# ---------------------------------------------------------------------------------------------
# 8. Empty results
# ---------------------------------------------------------------------------------------------


def test_empty_result_is_an_empty_list(get):
    for metric in ("vllm-requests-waiting", "vllm-waiting-series", "gpu-utilization"):
        doc, _, _ = fetch(get, metric, "model_name=no-such-model")
        assert doc["items"] == [], metric


def test_empty_result_zero_gives_one_zero_item(tmp_path, pki, prometheus):
    rule = {**RULES[1], "name": {"matches": "^vllm:num_requests_(.*)$", "as": "zero-${1}"},
            "emptyResult": "zero"}
    config = write_config(tmp_path / "zero.yaml", {"externalRules": [rule]})
    check = run_validate("--config", str(config))
    if check.returncode != 0 and "emptyResult" in check.stderr:
        pytest.xfail("the config loader rejects the documented `emptyResult: zero` rule key "
                     f"(scaling/adapter_config.cc): {check.stderr.strip()}")
    assert check.returncode == 0, check.stderr
    server = start_sextant(tmp_path / "sextant", pki, {"externalRules": [rule]},
                           prometheus.port)
    try:
        def get(path):
            return server.request("GET", path, cert=pki.alice)
        wait_until(lambda: get(metric_path("zero-waiting")).status == 200, 10)
        doc, _, _ = fetch(get, "zero-waiting", "model_name=no-such-model")
        assert len(doc["items"]) == 1, doc
        assert doc["items"][0]["value"] == "0"
        assert quantity(doc["items"][0]["value"]) == 0
        # A non-empty answer is unchanged: no extra zero item.
        expected = ph.query(prometheus.port, 'sum by (model_name) (vllm:num_requests_waiting'
                                             '{namespace="default",model_name="llama-3-8b"})')
        doc, before, after = fetch(get, "zero-waiting", "model_name=llama-3-8b")
        assert_matches_prometheus(doc, expected, "zero-waiting", before, after)
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# 9. NaN and ±Inf
# ---------------------------------------------------------------------------------------------


def pin_and_wait(exporter: int, prom_port: int, pins: dict) -> None:
    """Pins vllm:gpu_cache_usage_perc per pod and waits until Prometheus has the values."""
    status, answer = ph.control(exporter, {"set": [
        {"name": "vllm:gpu_cache_usage_perc", "labels": {"pod": pod}, "value": value}
        for pod, value in pins.items()]})
    assert status == 200, answer

    def landed() -> bool:
        got = {s["metric"]["pod"]: s["value"][1]
               for s in ph.query(prom_port, "vllm:gpu_cache_usage_perc")}
        return all(pod in got and (got[pod] == value if isinstance(value, str)
                                   else close(float(got[pod]), value))
                   for pod, value in pins.items())
    wait_until(landed, 20, 0.2, f"pins {pins} scraped")


def test_non_finite_samples_are_left_out(get, exporter, prometheus):
    pods = sorted({s["metric"]["pod"] for s in
                   ph.query(prometheus.port, 'vllm:gpu_cache_usage_perc{namespace="default"}')})
    assert len(pods) >= 3, pods
    try:
        for pins in ({pods[0]: "NaN", pods[1]: "+Inf", pods[2]: 0.5},
                     {pods[0]: "-Inf", pods[1]: "NaN", pods[2]: 0.25}):
            pin_and_wait(exporter, prometheus.port, pins)
            finite = [s for s in ph.query(prometheus.port,
                                          'vllm:gpu_cache_usage_perc{namespace="default"}')
                      if math.isfinite(float(s["value"][1]))]
            doc, before, after = fetch(get, "vllm-cache")
            assert {i["metricLabels"]["pod"] for i in doc["items"]} == \
                {s["metric"]["pod"] for s in finite}
            assert pods[0] not in {i["metricLabels"]["pod"] for i in doc["items"]}
            assert_matches_prometheus(doc, finite, "vllm-cache", before, after)
            finite_pinned = [v for v in pins.values() if not isinstance(v, str)]
            assert quantity(next(i["value"] for i in doc["items"]
                                 if i["metricLabels"]["pod"] == pods[2])) == finite_pinned[0]
            # The sum over a non-finite sample is itself non-finite: no item at all.
            doc, _, _ = fetch(get, "vllm-cache-total")
            assert doc["items"] == [], doc
            # Selecting only the non-finite series: an empty list, never a NaN value.
            doc, _, _ = fetch(get, "vllm-cache", f"pod in ({pods[0]},{pods[1]})")
            assert doc["items"] == [], doc
    finally:
        status, answer = ph.control(exporter, {"clear": True})
        assert status == 200, answer


# ---------------------------------------------------------------------------------------------
# 11. sextant validate
# ---------------------------------------------------------------------------------------------


def test_validate_good_config_prints_every_metric_and_promql(tmp_path, prometheus):
    config = write_config(tmp_path / "good.yaml", CONFIG)
    result = run_validate("--config", str(config), "--prometheus-url",
                          f"http://127.0.0.1:{prometheus.port}", "--namespace", "prod",
                          "--selector", "model_name=llama-3-8b")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{len(RULES)} external rules" in out, out
    for name, namespaced in expected_metrics(RULES, prometheus.port):
        match = re.search(rf"^  metric {re.escape(name)} \((.*)\)\n    promql: (.*)$", out, re.M)
        assert match, f"{name} missing:\n{out}"
        promql = match.group(2)
        assert 'model_name="llama-3-8b"' in promql, promql
        if namespaced:
            label = "kubernetes_namespace" if name == "tgi-queue" else "namespace"
            assert f'{label}="prod"' in promql, promql
            assert f"label {label}" in match.group(1)
        else:
            assert "prod" not in promql, promql
            assert "not namespaced" in match.group(1)
    assert 'sum by (model_name) (vllm:num_requests_waiting{' in out
    # Every printed query (except the deliberately broken one) is PromQL Prometheus accepts.
    for match in re.finditer(r"^  metric (\S+) .*\n    promql: (.*)$", out, re.M):
        if match.group(1) != "broken-query":
            ph.query(prometheus.port, match.group(2))


def test_validate_with_prometheus_shows_only_discovered_metrics(tmp_path, prometheus):
    # A seriesQuery naming a series Prometheus does not have: offline, validate names the
    # metric from the seriesQuery; live, discovery decides and the server would not serve it.
    ghost = {"seriesQuery": 'no_such_series{namespace!=""}', "name": {"as": "ghost"},
             "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>})"}
    assert not ph.query(prometheus.port, "no_such_series")
    config = write_config(tmp_path / "ghost.yaml", {"externalRules": [RULES[3], ghost]})
    offline = run_validate("--config", str(config))
    assert offline.returncode == 0, offline.stderr
    assert "metric ghost " in offline.stdout, offline.stdout
    live = run_validate("--config", str(config), "--prometheus-url",
                        f"http://127.0.0.1:{prometheus.port}")
    assert live.returncode == 0, live.stderr
    assert "metric vllm-waiting-series " in live.stdout, live.stdout
    assert "metric ghost" not in live.stdout, live.stdout
    assert "series discovery: none found" in live.stdout, live.stdout


def test_validate_without_prometheus_uses_the_series_query(tmp_path):
    config = write_config(tmp_path / "offline.yaml", CONFIG)
    result = run_validate("--config", str(config))
    assert result.returncode == 0, result.stderr
    # Rules whose seriesQuery names one series can be shown without discovery.
    assert re.search(r"^  metric vllm-waiting-series .*\n    promql: "
                     r'vllm:num_requests_waiting\{namespace="default"\}$', result.stdout, re.M), \
        result.stdout
    assert "metric names come from series discovery" in result.stdout


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the config")


BAD_CONFIGS = {
    "unknown-key": ("externalRules:\n"
                    "  - seriesQuery: 'up'\n"
                    "    metricsQuerry: 'sum(<<.Series>>)'\n"
                    "    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n",
                    "metricsQuerry"),
    "bad-regex": ("externalRules:\n"
                  "  - seriesQuery: 'up'\n"
                  "    name:\n"
                  "      matches: '^up(('\n"
                  "      as: 'x'\n"
                  "    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n",
                  "matches"),
    "bad-filter-regex": ("externalRules:\n"
                         "  - seriesQuery: 'up'\n"
                         "    seriesFilters:\n"
                         "      - isNot: '[unclosed'\n"
                         "    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n",
                         "isNot"),
    "bad-template": ("externalRules:\n"
                     "  - seriesQuery: 'up'\n"
                     "    name: {as: 'x'}\n"
                     "    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>})'\n",
                     "metricsQuery"),
    "unknown-template-field": ("externalRules:\n"
                               "  - seriesQuery: 'up'\n"
                               "    name: {as: 'x'}\n"
                               "    metricsQuery: 'sum(<<.Serie>>{<<.LabelMatchers>>})'\n",
                               "metricsQuery"),
    "unknown-top-level-key": ("externalRules: []\n"
                              "prometheusUrl: http://127.0.0.1:1\n", "prometheusUrl"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_validate_bad_config_names_file_line_column(case, tmp_path):
    text, needle = BAD_CONFIGS[case]
    config = tmp_path / f"{case}.yaml"
    config.write_text(text)
    result = run_validate("--config", str(config))
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    line = _line_of(text, needle)
    assert re.search(rf"{re.escape(str(config))}:{line}:\d+", result.stderr), result.stderr


PROMETHEUS_ADAPTER_SAMPLE = """\
# prometheus-adapter's documented default configuration shape: custom, resource and external
rules:
- seriesQuery: '{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}'
  seriesFilters: []
  resources:
    overrides:
      namespace:
        resource: namespace
      pod:
        resource: pod
  name:
    matches: ^container_(.*)_seconds_total$
    as: ""
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>,container!="POD"}[5m])) by (<<.GroupBy>>)
- seriesQuery: '{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}'
  seriesFilters:
  - isNot: ^container_.*_seconds_total$
  resources:
    overrides:
      namespace:
        resource: namespace
      pod:
        resource: pod
  name:
    matches: ^container_(.*)_total$
    as: ""
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>,container!="POD"}[5m])) by (<<.GroupBy>>)
- seriesQuery: '{namespace!="",__name__!~"^container_.*"}'
  seriesFilters:
  - isNot: .*_total$
  resources:
    template: <<.Resource>>
  name:
    matches: ""
    as: ""
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
resourceRules:
  cpu:
    containerQuery: sum(rate(container_cpu_usage_seconds_total{<<.LabelMatchers>>}[3m])) by (<<.GroupBy>>)
    nodeQuery: sum(rate(container_cpu_usage_seconds_total{<<.LabelMatchers>>, id='/'}[3m])) by (<<.GroupBy>>)
    resources:
      overrides:
        node:
          resource: node
        namespace:
          resource: namespace
        pod:
          resource: pod
    containerLabel: container
  memory:
    containerQuery: sum(container_memory_working_set_bytes{<<.LabelMatchers>>}) by (<<.GroupBy>>)
    nodeQuery: sum(container_memory_working_set_bytes{<<.LabelMatchers>>,id='/'}) by (<<.GroupBy>>)
    resources:
      overrides:
        instance:
          resource: node
        namespace:
          resource: namespace
        pod:
          resource: pod
    containerLabel: container
  window: 3m
externalRules:
- seriesQuery: '{__name__=~"^.*_queue_(length|size)$",namespace!=""}'
  resources:
    overrides:
      namespace:
        resource: namespace
  name:
    matches: ^.*_queue_(length|size)$
    as: "$0"
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>})
- seriesQuery: '{__name__=~"^.*_queue$",namespace!=""}'
  resources:
    overrides:
      namespace:
        resource: namespace
  name:
    matches: ^.*_queue$
    as: "$0"
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>})
"""


def test_validate_loads_prometheus_adapter_sample_and_reports_ignored_rules(tmp_path,
                                                                            prometheus):
    config = tmp_path / "adapter.yaml"
    config.write_text(PROMETHEUS_ADAPTER_SAMPLE)
    doc = yaml.safe_load(PROMETHEUS_ADAPTER_SAMPLE)
    ignored_rules = len(doc["rules"])
    ignored_resource_rules = len([k for k in doc["resourceRules"] if k != "window"])
    result = run_validate("--config", str(config), "--prometheus-url",
                          f"http://127.0.0.1:{prometheus.port}")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{len(doc['externalRules'])} external rules" in out, out
    assert f"{ignored_rules} entries of rules (custom.metrics.k8s.io)" in out, out
    assert f"{ignored_resource_rules} of resourceRules (metrics.k8s.io)" in out, out
    assert "not served" in out, out
    # Live discovery against this Prometheus shows whatever the external rules find.
    for name, _ in expected_metrics(doc["externalRules"], prometheus.port):
        assert re.search(rf"^  metric {re.escape(name)} ", out, re.M), out
    assert out.count("\nrule ") == len(doc["externalRules"]), out


# ---------------------------------------------------------------------------------------------
# 12. kubectl against the query path
# ---------------------------------------------------------------------------------------------


def test_kubectl_get_raw_reads_a_prometheus_backed_metric(sextant, pki, prometheus, tmp_path):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sextant",
        "clusters": [{"name": "sextant", "cluster": {
            "server": f"https://127.0.0.1:{sextant.port}",
            "certificate-authority": str(pki.server_ca.cert)}}],
        "users": [{"name": "alice", "user": {"client-certificate": str(pki.alice.cert),
                                             "client-key": str(pki.alice.key)}}],
        "contexts": [{"name": "sextant", "context": {"cluster": "sextant", "user": "alice"}}],
    }))
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    path = metric_path("vllm-requests-waiting", "model_name in (llama-3-8b,a.b)")
    before = time.time()
    result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw", path],
                            env=env, capture_output=True, text=True, timeout=60)
    after = time.time()
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "ExternalMetricValueList"
    expected = ph.query(prometheus.port, 'sum by (model_name) (vllm:num_requests_waiting'
                                         '{namespace="default",model_name=~"llama-3-8b|a\\\\.b"})')
    assert len(expected) == 2, expected
    assert_matches_prometheus(doc, expected, "vllm-requests-waiting", before, after)


# ---------------------------------------------------------------------------------------------
# 10. Backend failures
# ---------------------------------------------------------------------------------------------


def test_query_rejected_by_backend_is_internal_error(get, prometheus, sextant):
    # Prometheus itself rejects the rendered query.
    status, body = ph.http_get(
        f"http://127.0.0.1:{prometheus.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": 'sum(vllm:kv_cache_usage_perc{namespace="default"}'}))
    assert status == 400, body
    prom_error = json.loads(body)["error"]
    resp = get(metric_path("broken-query"))
    doc = assert_status(resp, 500, "InternalError")
    assert "broken-query" in doc["message"], doc
    assert prom_error not in doc["message"]
    assert_no_backend_detail(doc["message"], prometheus.port)
    assert "broken-query" in sextant.log()  # the detail goes to the log instead


def test_backend_down_is_503_and_recovers(get, prometheus):
    before = fetch(get, "vllm-requests-waiting")[0]
    assert before["items"]
    prometheus.stop()
    time.sleep(0.5)  # past the result cache's 200 ms reuse (--cache-ttl in sextant_args)
    try:
        for metric in ("vllm-requests-waiting", "DCGM_FI_PROF_DRAM_ACTIVE"):
            resp = get(metric_path(metric))
            doc = assert_status(resp, 503, "ServiceUnavailable")
            assert_no_backend_detail(doc["message"], prometheus.port)
        # Discovery fails as well meanwhile; known metrics stay listed.
        time.sleep(2.5)
        listed = {r["name"] for r in get(METRICS_PREFIX).json()["resources"]}
        assert "vllm-requests-waiting" in listed
        assert_status(get(metric_path("vllm-requests-waiting")), 503, "ServiceUnavailable")
    finally:
        prometheus.start()
    restarted = time.time()
    # The same Prometheus (same port, same TSDB) answers again; Sextant was not restarted.
    # (Prometheus' scrape manager first syncs its targets up to 5 s after start; until a
    # scrape lands, discovery's max-age window is empty, see the module notes.)
    wait_scrape_after(prometheus.port, restarted)
    resp = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
        get(metric_path("vllm-requests-waiting"))), 30, 0.3, "answers after the restart")
    expected = ph.wait_for_series(prometheus.port, 'sum by (model_name) '
                                  '(vllm:num_requests_waiting{namespace="default"})')
    got = {i["metricLabels"]["model_name"]: quantity(i["value"]) for i in resp.json()["items"]}
    want = {s["metric"]["model_name"]: float(s["value"][1]) for s in expected}
    assert got.keys() == want.keys()
    assert all(close(got[k], want[k]) for k in want), (got, want)
    # One relist later everything is listed again.
    expected_names = expected_metrics(RULES, prometheus.port)
    wait_until(lambda: {(r["name"], r["namespaced"]) for r in
                        get(METRICS_PREFIX).json()["resources"]} == expected_names, 15, 0.3,
               "discovery after the restart")
