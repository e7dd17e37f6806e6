"""Integration tests of the synthetic exporter (hack/exporter/sextant_exporter.py).

The exporter runs as a real process on a run-time loopback port. Its exposition is checked by
three parsers: promtool (Prometheus' own text parser; only parse errors fail, naming lint is
expected for vLLM/DCGM/Triton names), a strict parser of the 0.0.4 format in prom_harness
(escapes, HELP/TYPE, contiguity, duplicates) and a real Prometheus 2.42 scraping it every
second. Semantics checked: families, types, labels and upstream bucket boundaries; value
ranges; counters never decrease and do grow; histograms are cumulative with _count equal to the
+Inf bucket; pause freezes values; counter resets; pins, hiding and clearing through /control
and its 400s; the exported_pod label style; escaping of label values with regex
metacharacters, quotes, backslashes and newlines; the 10,000-GPU fleet.
"""

from __future__ import annotations

import json
import math
import socket
import time

import pytest

from prom_harness import (ExpositionError, control, http_get, http_post, parse_exposition,
                          promtool_check, query, scrape, start_exporter, start_prometheus,
                          stop, wait_for_series)

WEIRD = ["a.b", "a|b", "aXb", "x*", "a+b", "(x)", "[ab]", "^a$", 'quo"te', "back\\slash",
         "new\nline", "ünï—códe"]

# Bucket boundaries as the upstream projects define them (vLLM's PrometheusStatLogger,
# TGI's router: 0.0001 * 1.5^k for k = 1..35).
VLLM_TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
             7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
VLLM_TPOT = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0, 20.0, 40.0, 80.0]
VLLM_E2E = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
            120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]

# family -> (type, labels every series carries)
EXPECTED = {
    "DCGM_FI_DEV_GPU_UTIL": ("gauge", {"gpu", "UUID", "device", "modelName", "Hostname"}),
    "DCGM_FI_DEV_FB_USED": ("gauge", {"gpu", "UUID", "Hostname"}),
    "DCGM_FI_DEV_FB_FREE": ("gauge", {"gpu", "UUID", "Hostname"}),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": ("gauge", {"gpu", "UUID", "Hostname"}),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": ("gauge", {"gpu", "UUID", "Hostname"}),
    "DCGM_FI_PROF_DRAM_ACTIVE": ("gauge", {"gpu", "UUID", "Hostname"}),
    "neuroncore_utilization_ratio": ("gauge", {"neuroncore", "instance_id", "instance_type"}),
    "execution_latency_seconds": ("gauge", {"percentile", "instance_id"}),
    "execution_errors_total": ("counter", {"error_type", "instance_id"}),
    "execution_status_total": ("counter", {"status_type", "instance_id"}),
    "vllm:num_requests_waiting": ("gauge", {"model_name", "pod", "namespace"}),
    "vllm:num_requests_running": ("gauge", {"model_name", "pod"}),
    "vllm:kv_cache_usage_perc": ("gauge", {"model_name", "pod"}),
    "vllm:gpu_cache_usage_perc": ("gauge", {"model_name", "pod"}),
    "vllm:prompt_tokens_total": ("counter", {"model_name"}),
    "vllm:generation_tokens_total": ("counter", {"model_name"}),
    "vllm:request_success_total": ("counter", {"model_name", "finished_reason"}),
    "vllm:time_to_first_token_seconds": ("histogram", {"model_name"}),
    "vllm:e2e_request_latency_seconds": ("histogram", {"model_name"}),
    "vllm:time_per_output_token_seconds": ("histogram", {"model_name"}),
    "vllm:inter_token_latency_seconds": ("histogram", {"model_name"}),
    "nv_inference_pending_request_count": ("gauge", {"model", "version", "pod"}),
    "nv_inference_queue_duration_us": ("counter", {"model", "version"}),
    "nv_inference_request_success": ("counter", {"model", "version"}),
    "tgi_queue_size": ("gauge", {"pod", "namespace"}),
    "tgi_batch_current_size": ("gauge", {"pod"}),
    "tgi_request_duration": ("histogram", {"pod"}),
    "sglang:num_queue_reqs": ("gauge", {"model_name", "pod"}),
    "sglang:token_usage": ("gauge", {"model_name", "pod"}),
    "kube_pod_labels": ("gauge", {"namespace", "pod", "uid", "label_app"}),
    "kube_pod_status_phase": ("gauge", {"namespace", "pod", "phase"}),
    "kube_pod_container_resource_requests": ("gauge", {"namespace", "pod", "resource", "unit"}),
    "kube_node_status_allocatable": ("gauge", {"node", "resource", "unit"}),
}

@pytest.fixture(scope="module")
def exporter():
    """The shared exporter: every family, weird labels, 2 pods per kind."""
    proc, port = start_exporter(["--weird-labels", "--seed", "7"])
    try:
        yield port
    finally:
        stop(proc)


@pytest.fixture
def clean(exporter):
    """Un-pins and un-pauses the shared exporter after a test that changed it."""
    yield exporter
    status, _ = control(exporter, {"clear": True, "pause": False})
    assert status == 200


def monotonic_samples(exp):
    """(key, value) of every sample that must never decrease: counters and histogram
    buckets, counts and sums."""
    out = {}
    for (name, labels, value), family in zip(exp.samples, exp.sample_family):
        if exp.types.get(family) in ("counter", "histogram"):
            out[(name, tuple(sorted(labels.items())))] = value
    return out


def histogram_series(exp):
    """{(family, labels without le): {"buckets": [(le, v)], "sum": v, "count": v}}"""
    out: dict = {}
    for (name, labels, value), family in zip(exp.samples, exp.sample_family):
        if exp.types.get(family) != "histogram":
            continue
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        entry = out.setdefault((family, rest), {"buckets": [], "sum": None, "count": None})
        if name == family + "_bucket":
            entry["buckets"].append((float(labels["le"]), value))
        elif name == family + "_sum":
            entry["sum"] = value
        elif name == family + "_count":
            entry["count"] = value
    return out


def assert_histograms_consistent(exp):
    hists = histogram_series(exp)
    assert hists, "no histogram in the exposition"
    for (family, labels), h in hists.items():
        les = [le for le, _ in h["buckets"]]
        counts = [v for _, v in h["buckets"]]
        assert les == sorted(les) and len(set(les)) == len(les), (family, labels, les)
        assert les[-1] == math.inf, f"{family}{labels}: no +Inf bucket"
        assert all(a <= b for a, b in zip(counts, counts[1:])), (family, labels, counts)
        assert all(float(c).is_integer() and c >= 0 for c in counts), (family, counts)
        assert h["count"] == counts[-1], f"{family}{labels}: _count {h['count']} != +Inf"
        assert h["sum"] is not None and h["sum"] >= 0
        if h["count"] > 0:
            mean = h["sum"] / h["count"]
            # The mean lies within the range the buckets can hold.
            assert 0 < mean <= les[-2] * 2, (family, labels, mean)


# ---------------------------------------------------------------------------------------------
# The exposition itself
# ---------------------------------------------------------------------------------------------


def test_serves_text_format_and_prints_its_port(exporter):
    with socket.create_connection(("127.0.0.1", exporter), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        head = s.recv(4096).split(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith("http/1.1 200")
    assert "content-type: text/plain; version=0.0.4" in head
    assert "content-length:" in head


def test_promtool_parses_it_and_catches_a_broken_one(exporter):
    text = scrape(exporter)
    code, output = promtool_check(text)
    # 0 = clean, 3 = lint advice only (vllm:..., camelCase DCGM labels, Triton counters
    # without _total are the upstream names); 1 = a parse error.
    assert code in (0, 3), output
    assert "error while linting" not in output, output
    broken = text.replace('model_name="llama-3-8b"', 'model_name="llama-3-8b', 1)
    code, output = promtool_check(broken)
    assert code == 1 and "error while linting" in output, (code, output)


def test_strict_parser_families_types_and_labels(exporter):
    exp = parse_exposition(scrape(exporter))
    for family, (mtype, labels) in EXPECTED.items():
        assert exp.types.get(family) == mtype, f"{family}: TYPE {exp.types.get(family)}"
        assert exp.helps.get(family), f"{family}: no HELP"
        names = {family + s for s in ("_bucket", "_sum", "_count")} if mtype == "histogram" \
            else {family}
        series = [lb for n, lb, _ in exp.samples if n in names]
        assert series, f"no {family} series"
        for lb in series:
            assert labels <= set(lb), f"{family}{lb} lacks {labels - set(lb)}"
    # Every sample belongs to a declared family.
    undeclared = {f for f in exp.sample_family if f not in exp.types}
    assert not undeclared, undeclared
    # GPUs held by pods carry the pod mapping; both GPU nodes are there.
    gpu = exp.series("DCGM_FI_DEV_GPU_UTIL")
    assert len(gpu) == 16
    assert {lb["Hostname"] for lb, _ in gpu} == {"gpu-node-0", "gpu-node-1"}
    mapped = {lb["pod"] for lb, _ in gpu if "pod" in lb}
    assert "vllm-llama-3-8b-0" in mapped and "triton-mistral-7b-0" in mapped
    assert len(mapped) == 8  # 2 pods x 4 server kinds, one GPU each
    # kube-state-metrics: one Pending pod wanting a GPU, GPU allocatable per node.
    pending = [lb["pod"] for lb, v in exp.series("kube_pod_status_phase")
               if lb["phase"] == "Pending" and v == 1]
    assert len(pending) == 1
    gpu_alloc = [v for lb, v in exp.series("kube_node_status_allocatable")
                 if lb["resource"] == "nvidia_com_gpu"]
    assert gpu_alloc == [8.0, 8.0]
    gpu_requests = [lb for lb, v in exp.series("kube_pod_container_resource_requests")
                    if lb["resource"] == "nvidia_com_gpu" and lb["unit"] == "integer"]
    assert len(gpu_requests) == 9
    assert sum(1 for lb in gpu_requests if "node" in lb) == 8


def test_histogram_buckets_are_the_upstream_ones(exporter):
    exp = parse_exposition(scrape(exporter))

    def les(family):
        first = exp.series(family + "_bucket")[0][0]
        keep = {k: v for k, v in first.items() if k != "le"}
        return [float(lb["le"]) for lb, _ in exp.series(family + "_bucket")
                if {k: v for k, v in lb.items() if k != "le"} == keep]

    assert les("vllm:time_to_first_token_seconds") == VLLM_TTFT + [math.inf]
    assert les("vllm:time_per_output_token_seconds") == VLLM_TPOT + [math.inf]
    assert les("vllm:inter_token_latency_seconds") == VLLM_TPOT + [math.inf]
    assert les("vllm:e2e_request_latency_seconds") == VLLM_E2E + [math.inf]
    tgi = les("tgi_request_duration")
    assert len(tgi) == 36 and tgi[-1] == math.inf
    assert tgi[0] == pytest.approx(0.00015) and tgi[34] == pytest.approx(0.0001 * 1.5 ** 35)


def test_values_are_in_realistic_ranges(exporter):
    exp = parse_exposition(scrape(exporter))
    for lb, v in exp.series("DCGM_FI_DEV_GPU_UTIL"):
        assert 0 <= v <= 100 and v.is_integer()
    used = {lb["UUID"]: v for lb, v in exp.series("DCGM_FI_DEV_FB_USED")}
    free = {lb["UUID"]: v for lb, v in exp.series("DCGM_FI_DEV_FB_FREE")}
    assert used.keys() == free.keys()
    for uuid in used:
        assert 0 <= used[uuid] and 0 < free[uuid] and used[uuid] + free[uuid] <= 81559
    for name in ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
                 "DCGM_FI_PROF_DRAM_ACTIVE", "neuroncore_utilization_ratio",
                 "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"):
        values = [v for _, v in exp.series(name)]
        assert values and all(0.0 <= v <= 1.0 for v in values), (name, values)
    for name in ("vllm:num_requests_waiting", "vllm:num_requests_running", "tgi_queue_size",
                 "sglang:num_queue_reqs", "nv_inference_pending_request_count"):
        values = [v for _, v in exp.series(name)]
        assert values and all(v >= 0 and v.is_integer() for v in values), (name, values)
    # Busy GPUs (held by a pod) are busier than idle ones on average.
    gpu = exp.series("DCGM_FI_DEV_GPU_UTIL")
    busy = [v for lb, v in gpu if "pod" in lb]
    idle = [v for lb, v in gpu if "pod" not in lb]
    assert sum(busy) / len(busy) > sum(idle) / len(idle) + 10
    latencies = {lb["percentile"]: v for lb, v in exp.series("execution_latency_seconds")}
    order = ["p0", "p1", "p25", "p50", "p75", "p99", "p100"]
    assert [latencies[p] for p in order] == sorted(latencies[p] for p in order)


def test_counters_never_decrease_and_do_grow(exporter):
    scrapes = []
    for _ in range(3):
        scrapes.append(parse_exposition(scrape(exporter)))
        time.sleep(1.1)
    grew = 0
    for before, after in zip(scrapes, scrapes[1:]):
        a, b = monotonic_samples(before), monotonic_samples(after)
        assert a.keys() == b.keys()
        assert len(a) > 100
        for key in a:
            assert b[key] >= a[key], f"{key} went from {a[key]} to {b[key]}"
            grew += b[key] > a[key]
    assert grew > 50, "counters did not move in 3 seconds"
    # Gauges vary over time too.
    gauges = lambda exp: {k: v for k, v in exp.by_key().items()  # noqa: E731
                          if exp.types.get(k[0]) == "gauge" and not k[0].startswith("kube_")}
    first, last = gauges(scrapes[0]), gauges(scrapes[-1])
    assert sum(first[k] != last[k] for k in first) > 10


def test_histograms_are_consistent_across_scrapes(exporter):
    for _ in range(2):
        assert_histograms_consistent(parse_exposition(scrape(exporter)))
        time.sleep(0.6)


def test_deterministic_labels_by_seed():
    """Same seed, same series (UUIDs, uids, instance ids); another seed, others."""
    runs = []
    for seed in ("5", "5", "6"):
        proc, port = start_exporter(["--seed", seed, "--only", "dcgm,ksm,neuron"])
        try:
            runs.append({k for k in parse_exposition(scrape(port)).by_key()})
        finally:
            stop(proc)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


# ---------------------------------------------------------------------------------------------
# /control
# ---------------------------------------------------------------------------------------------


def test_pin_hide_and_clear(clean):
    port = clean
    status, state = control(port, {"set": [
        {"name": "vllm:num_requests_waiting", "labels": {"model_name": "llama-3-8b"},
         "value": 42},
        {"name": "DCGM_FI_DEV_GPU_UTIL", "labels": {"pod": "tgi-mistral-7b-0"}, "value": "NaN"},
        {"name": "sglang:num_queue_reqs", "labels": {"model_name": "mistral-7b"}, "value": None},
    ]})
    assert status == 200, state
    assert [p["matched"] for p in state["pins"]] == [1, 1, 1]
    status, body = http_get(f"http://127.0.0.1:{port}/control")
    assert status == 200 and json.loads(body)["pins"] == state["pins"]
    for _ in range(2):  # pins hold while time moves
        exp = parse_exposition(scrape(port))
        waiting = {lb["model_name"]: v for lb, v in exp.series("vllm:num_requests_waiting")}
        assert waiting["llama-3-8b"] == 42
        assert waiting["mistral-7b"] != 42  # other series keep varying (max ~27)
        util = [v for lb, v in exp.series("DCGM_FI_DEV_GPU_UTIL")
                if lb.get("pod") == "tgi-mistral-7b-0"]
        assert len(util) == 1 and math.isnan(util[0])
        queue = {lb["model_name"] for lb, _ in exp.series("sglang:num_queue_reqs")}
        assert queue == {"llama-3-8b"}
        time.sleep(1.1)
    # A later pin of the same name and labels replaces the earlier one.
    status, state = control(port, {"set": [{"name": "vllm:num_requests_waiting",
                                            "labels": {"model_name": "llama-3-8b"},
                                            "value": 7}]})
    assert status == 200 and len(state["pins"]) == 3
    waiting = {lb["model_name"]: v for lb, v in
               parse_exposition(scrape(port)).series("vllm:num_requests_waiting")}
    assert waiting["llama-3-8b"] == 7
    status, state = control(port, {"clear": True})
    assert status == 200 and state["pins"] == []
    exp = parse_exposition(scrape(port))
    assert {lb["model_name"] for lb, _ in exp.series("sglang:num_queue_reqs")} == \
        {"llama-3-8b", "mistral-7b"}
    util = [v for lb, v in exp.series("DCGM_FI_DEV_GPU_UTIL")
            if lb.get("pod") == "tgi-mistral-7b-0"]
    assert not math.isnan(util[0])


def test_pin_without_labels_pins_every_series_of_the_name(clean):
    status, state = control(clean, {"set": [{"name": "tgi_queue_size", "value": 3.5}]})
    assert status == 200 and state["pins"][0]["matched"] == 2
    assert [v for _, v in parse_exposition(scrape(clean)).series("tgi_queue_size")] == [3.5, 3.5]


@pytest.mark.parametrize("body,fragment", [
    (b"{not json", "bad JSON"),
    (b"\xff\xfe", "bad JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"frobnicate": 1}', "unknown key"),
    (b'{"pause": "yes"}', "pause"),
    (b'{"clear": 1}', "clear"),
    (b'{"set": {}}', "list"),
    (b'{"set": [{"name": "no_such_metric", "value": 1}]}', "unknown metric"),
    (b'{"set": [{"name": "vllm:time_to_first_token_seconds", "value": 1}]}', "histogram"),
    (b'{"set": [{"name": "vllm:prompt_tokens_total", "value": 1}]}', "counter"),
    (b'{"set": [{"name": "vllm:num_requests_waiting"}]}', "value"),
    (b'{"set": [{"name": "vllm:num_requests_waiting", "value": true}]}', "value"),
    (b'{"set": [{"name": "vllm:num_requests_waiting", "value": "lots"}]}', "value"),
    (b'{"set": [{"name": "vllm:num_requests_waiting", "labels": {"model_name": 3},'
     b' "value": 1}]}', "labels"),
    (b'{"set": [{"name": "vllm:num_requests_waiting", "labels": {"model_name": "nope"},'
     b' "value": 1}]}', "no vllm:num_requests_waiting series"),
])
def test_control_rejects_bad_requests(clean, body, fragment):
    status, answer = http_post(f"http://127.0.0.1:{clean}/control", body)
    assert status == 400, answer
    assert fragment in json.loads(answer)["error"]
    assert parse_exposition(scrape(clean)).series("vllm:num_requests_waiting")  # still serving


def test_control_is_all_or_nothing(clean):
    status, _ = control(clean, {"set": [
        {"name": "vllm:num_requests_waiting", "labels": {"model_name": "llama-3-8b"},
         "value": 42},
        {"name": "vllm:num_requests_waiting", "labels": {"model_name": "nope"}, "value": 1}],
        "pause": True})
    assert status == 400
    status, body = http_get(f"http://127.0.0.1:{clean}/control")
    state = json.loads(body)
    assert state["pins"] == [] and state["paused"] is False


def test_pause_freezes_time_and_resume_keeps_counters_monotonic(clean):
    status, state = control(clean, {"pause": True})
    assert status == 200 and state["paused"] is True
    frozen = scrape(clean)
    time.sleep(1.2)
    assert scrape(clean) == frozen
    before = monotonic_samples(parse_exposition(frozen))
    status, state = control(clean, {"pause": False})
    assert status == 200 and state["paused"] is False
    time.sleep(1.1)
    after = monotonic_samples(parse_exposition(scrape(clean)))
    assert all(after[k] >= before[k] for k in before)
    assert any(after[k] > before[k] for k in before)


def test_counter_reset_every_simulates_restarts():
    proc, port = start_exporter(["--only", "vllm,triton,tgi", "--counter-reset-every", "2"])
    try:
        drops = 0
        previous = None
        for _ in range(12):  # 3 s: at least one reset
            exp = parse_exposition(scrape(port))
            assert_histograms_consistent_or_empty(exp)
            current = monotonic_samples(exp)
            if previous is not None:
                drops += sum(current[k] < previous[k] for k in previous)
            previous = current
            time.sleep(0.25)
        assert drops > 10, "no counter went back after --counter-reset-every 2"
    finally:
        stop(proc)


def assert_histograms_consistent_or_empty(exp):
    for (family, labels), h in histogram_series(exp).items():
        counts = [v for _, v in h["buckets"]]
        assert all(a <= b for a, b in zip(counts, counts[1:])), (family, labels, counts)
        assert h["count"] == counts[-1]


# ---------------------------------------------------------------------------------------------
# Label styles and escaping
# ---------------------------------------------------------------------------------------------


def test_label_style_exported_and_lowercase_hostname():
    proc, port = start_exporter(["--only", "dcgm", "--label-style", "exported",
                                 "--hostname-label", "hostname", "--gpu-nodes", "3"])
    try:
        exp = parse_exposition(scrape(port))
        code, output = promtool_check(scrape(port))
        assert code in (0, 3), output
        gpu = exp.series("DCGM_FI_DEV_GPU_UTIL")
        assert len(gpu) == 24
        for lb, _ in gpu:
            assert "Hostname" not in lb and lb["hostname"].startswith("gpu-node-")
            # The exporter pod's own target labels, as Prometheus attaches them.
            assert lb["namespace"] == "gpu-operator"
            assert lb["pod"].startswith("nvidia-dcgm-exporter-")
            assert lb["container"] == "nvidia-dcgm-exporter"
        held = {lb["exported_pod"]: lb for lb, _ in gpu if "exported_pod" in lb}
        assert len(held) == 8
        assert held["vllm-llama-3-8b-0"]["exported_namespace"] == "default"
        assert held["vllm-llama-3-8b-0"]["exported_container"] == "vllm"
        # One dcgm-exporter pod per node.
        per_node = {}
        for lb, _ in gpu:
            per_node.setdefault(lb["hostname"], set()).add(lb["pod"])
        assert all(len(pods) == 1 for pods in per_node.values())
        assert len({next(iter(p)) for p in per_node.values()}) == 3
        # Pins match on the exported labels.
        status, state = control(port, {"set": [{"name": "DCGM_FI_DEV_GPU_UTIL",
                                                "labels": {"exported_pod": "tgi-llama-3-8b-0"},
                                                "value": 99}]})
        assert status == 200 and state["pins"][0]["matched"] == 1
        util = [v for lb, v in parse_exposition(scrape(port)).series("DCGM_FI_DEV_GPU_UTIL")
                if lb.get("exported_pod") == "tgi-llama-3-8b-0"]
        assert util == [99]
    finally:
        stop(proc)


def test_weird_label_values_round_trip(exporter):
    text = scrape(exporter)
    exp = parse_exposition(text)
    models = [lb["model_name"] for lb, _ in exp.series("vllm:num_requests_waiting")]
    assert sorted(models) == sorted(["llama-3-8b", "mistral-7b"] + WEIRD)
    # The escapes are the format's, nothing else: one physical line per sample.
    assert 'model_name="new\\nline"' in text and 'model_name="quo\\"te"' in text
    assert 'model_name="back\\\\slash"' in text
    code, output = promtool_check(text)
    assert code in (0, 3), output


def test_strict_parser_rejects_what_it_should():
    good = '# HELP m h\n# TYPE m gauge\nm{a="x"} 1\n'
    parse_exposition(good)
    for bad in ('m{a="x} 1\n', 'm{a="x\\q"} 1\n', 'm{a="x"} one\n', good + 'm{a="x"} 2\n',
                '# TYPE h histogram\nh_bucket{le="1"} 1\n# TYPE g gauge\ng 1\nh_sum 1\n',
                "m 1"):
        with pytest.raises(ExpositionError):
            parse_exposition(bad)


# ---------------------------------------------------------------------------------------------
# The fleet
# ---------------------------------------------------------------------------------------------


def test_fleet_of_10000_gpus_renders_and_parses():
    proc, port = start_exporter(["--only", "dcgm", "--gpu-nodes", "1250",
                                 "--gpus-per-node", "8"], timeout=120)
    try:
        started = time.monotonic()
        text = scrape(port, timeout=120)
        elapsed = time.monotonic() - started
        exp = parse_exposition(text)
        for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
                     "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
                     "DCGM_FI_PROF_DRAM_ACTIVE"):
            series = exp.series(name)
            assert len(series) == 10_000, name
            assert len({(lb["Hostname"], lb["gpu"]) for lb, _ in series}) == 10_000
        code, output = promtool_check(text, timeout=300)
        assert code in (0, 3) and "error while linting" not in output, output[:2000]
        print(f"fleet scrape: {len(text)} bytes, {len(exp.samples)} samples in {elapsed:.2f}s")
    finally:
        stop(proc)


# ---------------------------------------------------------------------------------------------
# A real Prometheus
# ---------------------------------------------------------------------------------------------


def test_prometheus_ingests_the_series(clean):
    exporter_port = clean
    status, _ = control(exporter_port, {"set": [{"name": "vllm:num_requests_waiting",
                                                 "labels": {"model_name": "llama-3-8b"},
                                                 "value": 42}]})
    assert status == 200
    proc, port, datadir = start_prometheus([exporter_port], scrape_interval="1s")
    try:
        up = wait_for_series(port, 'up{job="synthetic"}', timeout=60)
        assert up[0]["value"][1] == "1", up
        result = wait_for_series(
            port, "vllm:num_requests_waiting", timeout=30,
            predicate=lambda r: any(s["metric"].get("model_name") == "llama-3-8b" for s in r))
        pinned = [s for s in result if s["metric"].get("model_name") == "llama-3-8b"]
        assert len(pinned) == 1 and float(pinned[0]["value"][1]) == 42.0, pinned
        assert pinned[0]["metric"]["pod"] == "vllm-llama-3-8b-0"
        # Everything in the exposition was ingested, nothing dropped as malformed.
        samples = query(port, 'scrape_samples_scraped{job="synthetic"}')
        expected = len(parse_exposition(scrape(exporter_port)).samples)
        assert int(float(samples[0]["value"][1])) == expected
        ingested = query(port, 'count({job="synthetic",__name__!~"up|scrape_.*"})')
        assert int(float(ingested[0]["value"][1])) == expected
        # Label values with regex metacharacters: a regex matcher built from the raw value
        # matches more than the series (the trap Sextant must escape); an escaped one does not.
        loose = query(port, 'vllm:num_requests_waiting{model_name=~"a.b"}')
        assert {s["metric"]["model_name"] for s in loose} == {"a.b", "aXb", "a|b", "a+b"}
        exact = query(port, 'vllm:num_requests_waiting{model_name=~"a\\\\.b"}')
        assert {s["metric"]["model_name"] for s in exact} == {"a.b"}
        for value in WEIRD:
            quoted = json.dumps(value, ensure_ascii=False)
            found = query(port, f"vllm:num_requests_waiting{{model_name={quoted}}}")
            assert len(found) == 1 and found[0]["metric"]["model_name"] == value, value
        # The GPU-headroom inputs join on node names.
        free = query(port, 'sum(kube_node_status_allocatable{resource="nvidia_com_gpu"}) - '
                           'sum(kube_pod_container_resource_requests{resource="nvidia_com_gpu",'
                           'node!=""})')
        assert float(free[0]["value"][1]) == 16 - 8
        # Counters and histograms are usable as such after a few scrapes.
        rate = wait_for_series(port, "sum(rate(vllm:prompt_tokens_total[5s])) > 0", timeout=30)
        assert float(rate[0]["value"][1]) > 0
        p95 = wait_for_series(
            port, "histogram_quantile(0.95, sum by (le) "
                  "(rate(vllm:time_to_first_token_seconds_bucket[5s])))", timeout=30,
            predicate=lambda r: r[0]["value"][1] not in ("NaN", "+Inf"))
        assert 0 < float(p95[0]["value"][1]) < 2560
    finally:
        stop(proc)
