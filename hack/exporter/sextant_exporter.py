#!/usr/bin/python3
"""Sextant's synthetic exporter: DCGM-, Neuron-, vLLM-, Triton-, TGI-, SGLang- and
kube-state-metrics-shaped series for the demo, the integration tests and the benchmarks.

Serves the Prometheus text exposition format 0.0.4 on GET /metrics. Every value is a
deterministic function of (--seed, the series, the exporter's virtual time): gauges are smooth
waves plus noise within realistic ranges, counters only grow (unless --counter-reset-every
simulates restarts), histograms keep cumulative buckets consistent (non-decreasing in `le`,
_count equal to the +Inf bucket). POST /control pins gauges, hides them, or freezes time; see
hack/exporter/README.md. Standard library only (Debian's /usr/bin/python3).

Series names, label names, types and bucket boundaries follow the upstream projects:
dcgm-exporter's default and DCP counters, neuron-monitor-prometheus.py, vLLM's
PrometheusStatLogger, Triton's metrics guide, TGI's router metrics and bucket builder, SGLang's
metrics collector and kube-state-metrics' pod and node metrics. Values are synthetic.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import operator
import random
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

ALL_FAMILIES = ("dcgm", "neuron", "vllm", "triton", "tgi", "sglang", "ksm")
SERVER_KINDS = ("vllm", "triton", "tgi", "sglang")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_CONTROL_BODY = 1 << 20

NOISE_MASK = 4095
TWO_PI = 2.0 * math.pi

# Label values that are regex metacharacters or need escaping in the exposition format:
# a selector for one of them must match only that series.
WEIRD_MODEL_NAMES = ("a.b", "a|b", "aXb", "x*", "a+b", "(x)", "[ab]", "^a$", 'quo"te',
                     "back\\slash", "new\nline", "ünï—códe")

# ---------------------------------------------------------------------------------------------
# Exposition helpers
# ---------------------------------------------------------------------------------------------


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def label_text(labels: dict) -> str:
    return ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())


def series_prefix(name: str, labels: dict) -> str:
    return f"{name}{{{label_text(labels)}}} " if labels else f"{name} "


def fmt_value(value) -> str:
    """A sample value as the exposition format spells it."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def fmt_int(value: float) -> str:
    return str(int(value))


def fmt_ratio(value: float) -> str:
    return f"{value:.6f}"


def fmt_gauge(value: float) -> str:
    return f"{value:.6g}"


def stable_rng(seed: int, *parts) -> random.Random:
    """A Random seeded from (seed, parts): the same on every run and every Python (str seeds
    are hashed with SHA-512, not with the per-process hash())."""
    return random.Random("/".join([str(seed), *map(str, parts)]))


def stable_hex(seed: int, *parts, n: int = 16) -> str:
    return hashlib.sha256("/".join([str(seed), *map(str, parts)]).encode()).hexdigest()[:n]


def stable_uuid(seed: int, *parts) -> str:
    h = stable_hex(seed, *parts, n=32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def clamp(value: float, lo: float, hi: float) -> float:
    return lo if value < lo else hi if value > hi else value


# ---------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------


class Clock:
    """Virtual seconds since start; frozen while paused, resuming where it stopped, so that
    counters stay monotonic across a pause. Thread safety: callers hold Exporter.lock."""

    def __init__(self, now: Callable[[], float] = time.monotonic):
        self._now = now
        self._start = now()
        self._paused_at: Optional[float] = None
        self._paused_total = 0.0

    def seconds(self) -> float:
        now = self._paused_at if self._paused_at is not None else self._now()
        return now - self._start - self._paused_total

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def pause(self, paused: bool) -> None:
        if paused and self._paused_at is None:
            self._paused_at = self._now()
        elif not paused and self._paused_at is not None:
            self._paused_total += self._now() - self._paused_at
            self._paused_at = None


class Ctx:
    """One scrape's view: virtual time t, counter time tc (t modulo the reset period), the
    noise index and a per-scrape cache of shared computations."""

    __slots__ = ("t", "tc", "it", "cache")

    def __init__(self, t: float, reset_every: Optional[float]):
        self.t = t
        self.tc = math.fmod(t, reset_every) if reset_every else t
        self.it = int(math.floor(t))
        self.cache: dict = {}


# ---------------------------------------------------------------------------------------------
# Load model
# ---------------------------------------------------------------------------------------------


class LoadSource:
    """A smoothly varying load L(t) = 0.5 + 0.5*b*sin(w*t + phi) in [0.5-b/2, 0.5+b/2] and a
    request stream whose rate r0*(1 + a*sin(w*t + phi)) peaks with it.

    counts(tc) integrates the stream in closed form and splits it into requests served under
    light and heavy conditions (weights 1-L and L). Both parts only grow, so histograms built
    as a mixture of a 'light' and a 'heavy' latency distribution keep every bucket monotonic
    in time while their quantiles move with the load."""

    def __init__(self, rng: random.Random, rate: float, base_seconds: float):
        self.w = TWO_PI / rng.uniform(90.0, 300.0)
        self.phi = rng.uniform(0.0, TWO_PI)
        self.b = rng.uniform(0.5, 0.8)
        self.a = rng.uniform(0.3, 0.6)
        self.r0 = rate * rng.uniform(0.7, 1.3)
        self.noise_offset = rng.randrange(NOISE_MASK + 1)
        # Requests served before the exporter started (0 when counters reset).
        self.base = self.r0 * base_seconds
        self._cos_phi = math.cos(self.phi)
        self._sin_2phi = math.sin(2.0 * self.phi)

    def load(self, t: float) -> float:
        return 0.5 + 0.5 * self.b * math.sin(self.w * t + self.phi)

    def counts(self, ctx: Ctx) -> tuple[float, float]:
        key = ("counts", id(self))
        cached = ctx.cache.get(key)
        if cached is not None:
            return cached
        t, w = ctx.tc, self.w
        theta = w * t + self.phi
        i1 = -(math.cos(theta) - self._cos_phi) / w  # integral of sin(theta)
        i2 = 0.5 * t - (math.sin(2.0 * theta) - self._sin_2phi) / (4.0 * w)  # of sin^2
        total = self.r0 * (t + self.a * i1)
        heavy = self.r0 * (0.5 * t + 0.5 * (self.a + self.b) * i1 + 0.5 * self.a * self.b * i2)
        light = max(0.0, total - heavy)
        heavy = max(0.0, heavy)
        result = (light + 0.6 * self.base, heavy + 0.4 * self.base)
        ctx.cache[key] = result
        return result

    def total(self, ctx: Ctx) -> float:
        light, heavy = self.counts(ctx)
        return light + heavy


class Pod:
    """An inference pod of one server kind serving one model; holds one GPU when it runs."""

    def __init__(self, kind: str, model: str, name: str, seed: int, rate: float,
                 base_seconds: float, namespace: str, app: Optional[str] = None):
        self.kind, self.model, self.name, self.namespace = kind, model, name, namespace
        self.uid = stable_uuid(seed, "pod", name)
        self.phase = "Running"
        self.node: Optional[str] = None
        self.gpu: Optional[int] = None
        self.legacy = False  # vLLM: serves only the older metric names
        rng = stable_rng(seed, "pod", name)
        self.src = LoadSource(rng, rate, base_seconds)
        self.rng = rng
        self._app = app

    @property
    def app(self) -> str:
        """The pod's `app` label (kube_pod_labels' label_app)."""
        return self._app or f"{self.kind}-{slug(self.model)}"

    @property
    def app_name(self) -> str:
        """The pod's `app.kubernetes.io/name` label (label_app_kubernetes_io_name)."""
        return self._app or self.kind


def slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(p for p in out.split("-") if p) or "model"


def noise(ctx: Ctx, offset: int) -> float:
    return NOISE[(offset + ctx.it) & NOISE_MASK]


NOISE: list[float] = []


def init_noise(seed: int) -> None:
    rng = stable_rng(seed, "noise")
    NOISE[:] = [rng.uniform(-1.0, 1.0) for _ in range(NOISE_MASK + 1)]


# ---------------------------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------------------------


class Family:
    """One metric family: HELP/TYPE header plus its series. Gauges can be pinned."""

    mtype = "untyped"

    def __init__(self, name: str, help_text: str):
        self.name = name
        self.help = help_text
        self.header = f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {self.mtype}\n"
        self.series_labels: list[dict] = []

    def __len__(self) -> int:
        return len(self.series_labels)

    def render(self, ctx: Ctx, out: list, pins: Optional[dict]) -> None:
        raise NotImplementedError


class ScalarFamily(Family):
    """Gauge or counter whose series' values come from one batch function returning the
    formatted value of every series, in order."""

    def __init__(self, name: str, help_text: str, mtype: str):
        self.mtype = mtype
        super().__init__(name, help_text)
        self.prefixes: list[str] = []
        self.batch: Optional[Callable[[Ctx], list]] = None
        self.fns: list[Callable[[Ctx], str]] = []

    def add(self, labels: dict, fn: Callable[[Ctx], str]) -> None:
        self.series_labels.append(labels)
        self.prefixes.append(series_prefix(self.name, labels))
        self.fns.append(fn)

    def add_batch(self, labels_list: list, batch: Callable[[Ctx], list]) -> None:
        """All series at once; batch(ctx) returns their formatted values (fleet-sized)."""
        assert not self.fns
        self.series_labels = labels_list
        self.prefixes = [series_prefix(self.name, lb) for lb in labels_list]
        self.batch = batch

    def values(self, ctx: Ctx) -> list:
        if self.batch is not None:
            return self.batch(ctx)
        return [fn(ctx) for fn in self.fns]

    def render(self, ctx: Ctx, out: list, pins: Optional[dict]) -> None:
        if not self.prefixes:
            return
        vals = self.values(ctx)
        out.append(self.header)
        if not pins:
            out.append("\n".join(map(operator.add, self.prefixes, vals)))
            out.append("\n")
            return
        vals = list(vals)
        for idx, value in pins.items():
            vals[idx] = None if value is None else fmt_value(value)
        out.append("".join(p + v + "\n" for p, v in zip(self.prefixes, vals) if v is not None))


def lognormal_cdf(x: float, median: float, sigma: float) -> float:
    return 0.5 * (1.0 + math.erf((math.log(x) - math.log(median)) / (sigma * math.sqrt(2.0))))


class Histogram(Family):
    """Cumulative histograms: each series mixes a 'light' and a 'heavy' log-normal
    distribution weighted by its source's light/heavy request counts."""

    mtype = "histogram"

    def __init__(self, name: str, help_text: str, bounds: list):
        super().__init__(name, help_text)
        self.bounds = list(bounds)
        self.les = [fmt_value(float(b)) for b in self.bounds] + ["+Inf"]
        self.series: list[tuple] = []

    def add(self, labels: dict, counts: Callable[[Ctx], tuple], light: tuple,
            heavy: tuple) -> None:
        """light/heavy: (median, sigma) of the two log-normal latency distributions."""
        self.series_labels.append(labels)
        cdf_l, cdf_h = [], []
        for b in self.bounds:
            cdf_l.append(lognormal_cdf(b, *light))
            cdf_h.append(lognormal_cdf(b, *heavy))
        for cdf in (cdf_l, cdf_h):
            for i in range(len(cdf)):  # non-decreasing and <= 1 despite rounding
                cdf[i] = min(1.0, cdf[i] if i == 0 else max(cdf[i], cdf[i - 1]))
            cdf.append(1.0)
        mean_l = light[0] * math.exp(light[1] ** 2 / 2.0)
        mean_h = heavy[0] * math.exp(heavy[1] ** 2 / 2.0)
        text = label_text(labels)
        sep = "," if text else ""
        bucket_prefixes = [f'{self.name}_bucket{{{text}{sep}le="{le}"}} ' for le in self.les]
        sum_prefix = series_prefix(self.name + "_sum", labels)
        count_prefix = series_prefix(self.name + "_count", labels)
        self.series.append((counts, list(zip(bucket_prefixes, cdf_l, cdf_h)), mean_l, mean_h,
                            sum_prefix, count_prefix))

    def render(self, ctx: Ctx, out: list, pins: Optional[dict]) -> None:
        if not self.series:
            return
        out.append(self.header)
        floor = math.floor
        for counts, buckets, mean_l, mean_h, sum_prefix, count_prefix in self.series:
            n_l, n_h = counts(ctx)
            # The +Inf bucket has cdf 1.0 for both parts: the same expression as _count.
            out.append("".join(f"{p}{floor(n_l * cl + n_h * ch)}\n" for p, cl, ch in buckets))
            out.append(f"{sum_prefix}{fmt_value(n_l * mean_l + n_h * mean_h)}\n")
            out.append(f"{count_prefix}{floor(n_l * 1.0 + n_h * 1.0)}\n")


# ---------------------------------------------------------------------------------------------
# The simulated cluster
# ---------------------------------------------------------------------------------------------

VLLM_TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                     5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
VLLM_TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
                     5.0, 7.5, 10.0, 20.0, 40.0, 80.0]
VLLM_REQUEST_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
                                40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]


def tgi_duration_buckets() -> list:
    """TGI's router: 35 buckets, a geometric sequence from 0.0001 s times 1.5."""
    out, value = [], 0.0001
    for _ in range(35):
        value *= 1.5
        out.append(value)
    return out


GPU_MODEL = "NVIDIA H100 80GB HBM3"
GPU_FB_TOTAL_MIB = 81559
GPU_FB_RESERVED_MIB = 535
DCGM_DRIVER_VERSION = "550.90.07"
NEURON_CORE_PERCENTILES = (("p0", 0.93), ("p1", 0.95), ("p25", 0.98), ("p50", 1.0),
                           ("p75", 1.03), ("p99", 1.45), ("p100", 2.2))
NEURON_ERROR_TYPES = (("generic", 2e-4), ("numerical", 5e-5), ("transient", 1e-4),
                      ("model", 0.0), ("runtime", 2e-5), ("hardware", 0.0))
NEURON_STATUS_TYPES = (("completed", 0.998), ("completed_with_err", 1e-3),
                       ("completed_with_num_err", 2e-4), ("timed_out", 1e-4),
                       ("incorrect_input", 5e-5), ("failed_to_queue", 1e-4))
REQUEST_RATES = {"vllm": 4.0, "triton": 40.0, "tgi": 3.0, "sglang": 5.0}


class Cluster:
    """Nodes, GPUs and pods; the cluster state exists whatever families are served."""

    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        seed = opts.seed
        base_seconds = 0.0 if opts.counter_reset_every else 3600.0
        self.models = [m for m in opts.models.split(",") if m]
        self.gpu_nodes = [f"gpu-node-{i}" for i in range(opts.gpu_nodes)]
        self.neuron_nodes = [f"neuron-node-{i}" for i in range(opts.neuron_nodes)]
        self.pods: list[Pod] = []
        per_app: dict = {}
        for kind in SERVER_KINDS:
            for i in range(opts.pods):
                model = self.models[i % len(self.models)]
                app = f"{kind}-{slug(model)}"
                j = per_app.get(app, 0)
                per_app[app] = j + 1
                self.pods.append(Pod(kind, model, f"{app}-{j}", seed, REQUEST_RATES[kind],
                                     base_seconds, opts.namespace))
        # Running pods take one GPU each, node-major; those that find none stay Pending.
        slots = [(n, g) for n in range(len(self.gpu_nodes)) for g in range(opts.gpus_per_node)]
        self.gpu_owner: dict = {}
        for pod, slot in zip(self.pods, slots):
            pod.node, pod.gpu = self.gpu_nodes[slot[0]], slot[1]
            self.gpu_owner[slot] = pod
        for pod in self.pods[len(slots):]:
            pod.phase = "Pending"
        # Extra Pending vLLM pods (waiting for a GPU): the headroom signal's demand side.
        first = self.models[0]
        for _ in range(opts.pending_pods):
            app = f"vllm-{slug(first)}"
            j = per_app.get(app, 0)
            per_app[app] = j + 1
            pod = Pod("vllm", first, f"{app}-{j}", seed, REQUEST_RATES["vllm"], base_seconds,
                      opts.namespace)
            pod.phase = "Pending"
            self.pods.append(pod)
        # GPU-headroom placeholders (low-priority pause pods), Pending: their own demand.
        for i in range(opts.headroom_pods):
            pod = Pod("pause", first, f"gpu-headroom-{i}", seed, 1.0, base_seconds,
                      opts.namespace, app="gpu-headroom")
            pod.phase = "Pending"
            self.pods.append(pod)
        self.running = [p for p in self.pods if p.phase == "Running"]
        # Finished batch pods still bound to the node of the last running pod: their GPU
        # requests stay in kube-state-metrics but hold nothing.
        last_node = self.running[-1].node if self.running else (
            self.gpu_nodes[0] if self.gpu_nodes else None)
        for i in range(opts.succeeded_pods):
            pod = Pod("batch", first, f"batch-{slug(first)}-{i}", seed, 1.0, base_seconds,
                      opts.namespace, app=f"batch-{slug(first)}")
            pod.phase, pod.node = "Succeeded", last_node
            self.pods.append(pod)
        # The last N running vLLM pods are an older vLLM: only the deprecated names.
        vllm_running = [p for p in self.running if p.kind == "vllm"]
        for pod in vllm_running[max(0, len(vllm_running) - opts.legacy_vllm_pods):]:
            pod.legacy = True
        self.unschedulable = set(opts.unschedulable_nodes)

    def running_of(self, kind: str) -> list:
        return [p for p in self.running if p.kind == kind]


def build_families(cluster: Cluster, opts: argparse.Namespace) -> list:
    families: list[Family] = []
    wanted = opts.only_set
    builders = (("dcgm", build_dcgm), ("neuron", build_neuron), ("vllm", build_vllm),
                ("triton", build_triton), ("tgi", build_tgi), ("sglang", build_sglang),
                ("ksm", build_ksm))
    for key, builder in builders:
        if key in wanted:
            families.extend(builder(cluster, opts))
    return families


def pod_gauge(src: LoadSource, salt: int, fmt: Callable[[float], str],
              fn: Callable[[float, float], float]) -> Callable[[Ctx], str]:
    """A per-pod gauge: fn(load, noise in [-1, 1]) formatted with fmt."""
    offset = (src.noise_offset + salt * 977) & NOISE_MASK

    def value(ctx: Ctx) -> str:
        return fmt(fn(src.load(ctx.t), noise(ctx, offset)))
    return value


def pod_counter(src: LoadSource, per_light: float, per_heavy: float,
                fmt: Callable[[float], str] = fmt_int) -> Callable[[Ctx], str]:
    """A counter growing by per_light / per_heavy per light / heavy request."""
    def value(ctx: Ctx) -> str:
        light, heavy = src.counts(ctx)
        return fmt(light * per_light + heavy * per_heavy)
    return value


def scaled_counts(src: LoadSource, factor: float) -> Callable[[Ctx], tuple]:
    def counts(ctx: Ctx) -> tuple:
        light, heavy = src.counts(ctx)
        return light * factor, heavy * factor
    return counts


# --- DCGM -------------------------------------------------------------------------------------


def build_dcgm(cluster: Cluster, opts: argparse.Namespace) -> list:
    seed = opts.seed
    labels_list: list[dict] = []
    params: list[tuple] = []  # (base, amp, w, phi, noise_amp, noise_offset, fb_base, fb_span)
    for n, node in enumerate(cluster.gpu_nodes):
        exporter_pod = f"nvidia-dcgm-exporter-{stable_hex(seed, 'dcgm', node, n=5)}"
        for g in range(opts.gpus_per_node):
            labels = {
                "gpu": str(g),
                "UUID": "GPU-" + stable_uuid(seed, "gpu", node, g),
                "pci_bus_id": f"00000000:{0x18 + 0x11 * g:02X}:00.0",
                "device": f"nvidia{g}",
                "modelName": GPU_MODEL,
                opts.hostname_label: node,
                "DCGM_FI_DRIVER_VERSION": DCGM_DRIVER_VERSION,
            }
            pod = cluster.gpu_owner.get((n, g))
            if opts.label_style == "exported":
                # What Prometheus stores when it scrapes the dcgm-exporter pod with Kubernetes
                # service discovery: the target's own pod labels, the GPU holder's renamed.
                labels.update(container="nvidia-dcgm-exporter", namespace="gpu-operator",
                              pod=exporter_pod)
                if pod is not None:
                    labels.update(exported_container=pod.kind, exported_namespace=pod.namespace,
                                  exported_pod=pod.name)
            elif pod is not None:
                labels.update(container=pod.kind, namespace=pod.namespace, pod=pod.name)
            labels_list.append(labels)
            rng = stable_rng(seed, "gpu", node, g)
            if pod is not None:
                src = pod.src
                params.append((0.5, 0.5 * src.b, src.w, src.phi, 0.04, rng.randrange(4096),
                               rng.uniform(0.82, 0.88) * GPU_FB_TOTAL_MIB, 0.04 * GPU_FB_TOTAL_MIB))
            else:
                params.append((0.0, 0.0, 1.0, 0.0, 0.02, rng.randrange(4096), 0.0, 0.0))

    def loads(ctx: Ctx) -> list:
        cached = ctx.cache.get("dcgm")
        if cached is None:
            t, it, sin, nz = ctx.t, ctx.it, math.sin, NOISE
            cached = [min(1.0, max(0.0, base + amp * sin(w * t + phi) + na * nz[(off + it) & 4095]))
                      for base, amp, w, phi, na, off, _, _ in params]
            ctx.cache["dcgm"] = cached
        return cached

    def fb_used(ctx: Ctx) -> list:
        cached = ctx.cache.get("dcgm_fb")
        if cached is None:
            cached = [int(p[6] + p[7] * load) for p, load in zip(params, loads(ctx))]
            ctx.cache["dcgm_fb"] = cached
        return cached

    free_base = GPU_FB_TOTAL_MIB - GPU_FB_RESERVED_MIB
    specs = (
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).",
         lambda ctx: [str(int(x * 100.0 + 0.5)) for x in loads(ctx)]),
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).",
         lambda ctx: [str(free_base - u) for u in fb_used(ctx)]),
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).",
         lambda ctx: [str(u) for u in fb_used(ctx)]),
        ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active.",
         lambda ctx: [f"{0.97 * x:.6f}" for x in loads(ctx)]),
        ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "Ratio of cycles the tensor (HMMA) pipe is active.",
         lambda ctx: [f"{0.68 * x:.6f}" for x in loads(ctx)]),
        ("DCGM_FI_PROF_DRAM_ACTIVE",
         "Ratio of cycles the device memory interface is active sending or receiving data.",
         lambda ctx: [f"{0.52 * x:.6f}" for x in loads(ctx)]),
    )
    out = []
    for name, help_text, batch in specs:
        fam = ScalarFamily(name, help_text, "gauge")
        fam.add_batch(labels_list, batch)
        out.append(fam)
    return out


# --- Neuron -----------------------------------------------------------------------------------


def build_neuron(cluster: Cluster, opts: argparse.Namespace) -> list:
    seed = opts.seed
    util = ScalarFamily("neuroncore_utilization_ratio", "NeuronCore utilization ratio", "gauge")
    latency = ScalarFamily("execution_latency_seconds", "Execution latency in seconds", "gauge")
    mem = ScalarFamily("neuron_runtime_memory_used_bytes", "Runtime memory used bytes", "gauge")
    errors = ScalarFamily("execution_errors_total", "Execution errors total", "counter")
    status = ScalarFamily("execution_status_total", "Execution status total", "counter")
    base_seconds = 0.0 if opts.counter_reset_every else 3600.0
    for node in cluster.neuron_nodes:
        rng = stable_rng(seed, "neuron", node)
        src = LoadSource(rng, 60.0, base_seconds)
        instance = {
            "availability_zone": "us-east-1a",
            "instance_id": "i-0" + stable_hex(seed, "instance", node, n=16),
            "instance_name": node,
            "instance_type": opts.neuron_instance_type,
            "region": "us-east-1",
            "runtime_tag": str(rng.randrange(1000, 60000)),
            "subnet_id": "subnet-0" + stable_hex(seed, "subnet", n=16),
        }

        def labeled(extra: dict) -> dict:  # neuron-monitor's labels come out sorted
            return dict(sorted({**instance, **extra}.items()))

        for core in range(opts.neuroncores_per_node):
            util.add(labeled({"neuroncore": str(core)}),
                     pod_gauge(src, 10 + core, fmt_gauge,
                               lambda L, z: clamp(L + 0.05 * z, 0.0, 1.0)))
        for pct, mult in NEURON_CORE_PERCENTILES:  # m=mult binds this iteration's value
            latency.add(labeled({"percentile": pct}),
                        pod_gauge(src, 40, fmt_gauge,
                                  lambda L, z, m=mult: 0.0032 * m * (1.0 + 1.2 * L) *
                                  (1.0 + 0.02 * z)))
        mem.add(labeled({"memory_location": "host"}),
                pod_gauge(src, 60, fmt_int, lambda L, z: 9043968 + 65536 * int(4 + 4 * z)))
        mem.add(labeled({"memory_location": "neuron_device"}),
                pod_gauge(src, 61, fmt_int, lambda L, z: 3541303936 + 1048576 * int(8 * L)))
        for error_type, share in NEURON_ERROR_TYPES:
            scale = opts.neuron_error_scale
            errors.add(labeled({"error_type": error_type}),
                       pod_counter(src, share * 0.5 * scale, share * 1.5 * scale))
        for status_type, share in NEURON_STATUS_TYPES:
            status.add(labeled({"status_type": status_type}), pod_counter(src, share, share))
    return [util, latency, mem, errors, status]


# --- vLLM -------------------------------------------------------------------------------------


def build_vllm(cluster: Cluster, opts: argparse.Namespace) -> list:
    running = ScalarFamily("vllm:num_requests_running",
                           "Number of requests in model execution batches.", "gauge")
    waiting = ScalarFamily("vllm:num_requests_waiting",
                           "Number of requests waiting to be processed.", "gauge")
    kv = ScalarFamily("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
                      "gauge")
    gpu_cache = ScalarFamily(
        "vllm:gpu_cache_usage_perc",
        "GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc "
        "instead.", "gauge")
    prompt = ScalarFamily("vllm:prompt_tokens_total", "Number of prefill tokens processed.",
                          "counter")
    generation = ScalarFamily("vllm:generation_tokens_total",
                              "Number of generation tokens processed.", "counter")
    success = ScalarFamily("vllm:request_success_total",
                           "Count of successfully processed requests.", "counter")
    ttft = Histogram("vllm:time_to_first_token_seconds",
                     "Histogram of time to first token in seconds.", VLLM_TTFT_BUCKETS)
    tpot = Histogram("vllm:time_per_output_token_seconds",
                     "Histogram of time per output token in seconds.DEPRECATED: Use "
                     "vllm:inter_token_latency_seconds instead.", VLLM_TPOT_BUCKETS)
    itl = Histogram("vllm:inter_token_latency_seconds",
                    "Histogram of inter-token latency in seconds.", VLLM_TPOT_BUCKETS)
    e2e = Histogram("vllm:e2e_request_latency_seconds",
                    "Histogram of e2e request latency in seconds.", VLLM_REQUEST_LATENCY_BUCKETS)
    queue = Histogram("vllm:request_queue_time_seconds",
                      "Histogram of time spent in WAITING phase for request.",
                      VLLM_REQUEST_LATENCY_BUCKETS)
    for pod in cluster.running_of("vllm"):
        src, rng = pod.src, pod.rng
        base = {"model_name": pod.model, "engine": "0", "namespace": pod.namespace,
                "pod": pod.name}
        running.add(base, pod_gauge(src, 1, fmt_int,
                                    lambda L, z: max(0, round(4 + 64 * L + 2 * z))))
        waiting.add(base, pod_gauge(src, 2, fmt_int,
                                    lambda L, z: max(0, round(55 * (L - 0.45) + 2 * z))))
        kv_fn = (lambda L, z: clamp(0.1 + 0.95 * (L - 0.1) + 0.02 * z, 0.0, 1.0))
        if not pod.legacy:
            kv.add(base, pod_gauge(src, 3, fmt_ratio, kv_fn))
        gpu_cache.add(base, pod_gauge(src, 3, fmt_ratio, kv_fn))  # same value, old name
        prompt.add(base, pod_counter(src, 480.0, 900.0))
        generation.add(base, pod_counter(src, 160.0, 220.0))
        success.add({**base, "finished_reason": "stop"}, pod_counter(src, 0.9, 0.9))
        success.add({**base, "finished_reason": "length"}, pod_counter(src, 0.1, 0.1))
        s = rng.uniform(0.8, 1.25)  # this model is a bit faster or slower
        counts = src.counts
        ttft.add(base, counts, (0.06 * s, 0.6), (0.7 * s, 0.7))
        tokens = scaled_counts(src, 180.0)
        tpot.add(base, tokens, (0.022 * s, 0.35), (0.08 * s, 0.5))
        if not pod.legacy:
            itl.add(base, tokens, (0.022 * s, 0.35), (0.08 * s, 0.5))
        e2e.add(base, counts, (3.5 * s, 0.5), (14.0 * s, 0.6))
        queue.add(base, counts, (0.02 * s, 1.0), (2.5 * s, 0.9))
    if opts.weird_labels:
        for i, model in enumerate(WEIRD_MODEL_NAMES):
            rng = stable_rng(opts.seed, "weird", i)
            src = LoadSource(rng, 1.0, 0.0)
            waiting.add({"model_name": model, "engine": "0", "namespace": opts.namespace,
                         "pod": f"vllm-weird-{i}"},
                        pod_gauge(src, 2, fmt_int,
                                  lambda L, z: max(0, round(30 * (L - 0.2) + 2 * z))))
    return [running, waiting, kv, gpu_cache, prompt, generation, success, ttft, tpot, itl, e2e,
            queue]


# --- Triton -----------------------------------------------------------------------------------


def build_triton(cluster: Cluster, opts: argparse.Namespace) -> list:
    pending = ScalarFamily("nv_inference_pending_request_count",
                           "Instantaneous number of pending requests awaiting execution "
                           "per-model.", "gauge")
    success = ScalarFamily("nv_inference_request_success",
                           "Number of successful inference requests, all batch sizes", "counter")
    failure = ScalarFamily("nv_inference_request_failure",
                           "Number of failed inference requests, all batch sizes", "counter")
    count = ScalarFamily("nv_inference_count",
                         "Number of inferences performed (does not include cached requests)",
                         "counter")
    execs = ScalarFamily("nv_inference_exec_count",
                         "Number of model executions performed (does not include cached "
                         "requests)", "counter")
    req_us = ScalarFamily("nv_inference_request_duration_us",
                          "Cumulative inference request duration in microseconds (includes "
                          "cached requests)", "counter")
    queue_us = ScalarFamily("nv_inference_queue_duration_us",
                            "Cumulative inference queuing duration in microseconds (includes "
                            "cached requests)", "counter")
    infer_us = ScalarFamily("nv_inference_compute_infer_duration_us",
                            "Cumulative compute inference duration in microseconds (does not "
                            "include cached requests)", "counter")
    for pod in cluster.running_of("triton"):
        src = pod.src
        base = {"model": pod.model, "version": "1", "namespace": pod.namespace, "pod": pod.name}
        pending.add(base, pod_gauge(src, 4, fmt_int,
                                    lambda L, z: max(0, round(90 * (L - 0.4) + 3 * z))))
        success.add(base, pod_counter(src, 0.999, 0.996))
        failure.add(base, pod_counter(src, 0.001, 0.004))
        count.add(base, pod_counter(src, 1.0, 1.0))
        execs.add(base, pod_counter(src, 0.8, 0.35))
        req_us.add(base, pod_counter(src, 18000.0, 260000.0))
        queue_us.add(base, pod_counter(src, 90.0, 150000.0))
        infer_us.add(base, pod_counter(src, 16000.0, 95000.0))
    return [pending, success, failure, count, execs, req_us, queue_us, infer_us]


# --- TGI --------------------------------------------------------------------------------------


def build_tgi(cluster: Cluster, opts: argparse.Namespace) -> list:
    queue = ScalarFamily("tgi_queue_size", "Current queue size", "gauge")
    batch = ScalarFamily("tgi_batch_current_size", "Current batch size", "gauge")
    max_tokens = ScalarFamily("tgi_batch_current_max_tokens",
                              "Maximum tokens for the current batch", "gauge")
    req_count = ScalarFamily("tgi_request_count", "Total number of requests", "counter")
    req_success = ScalarFamily("tgi_request_success", "Number of successful requests",
                               "counter")
    buckets = tgi_duration_buckets()
    duration = Histogram("tgi_request_duration",
                         "Total time spent processing the request (e2e latency)", buckets)
    queue_duration = Histogram("tgi_request_queue_duration", "Time spent in the queue per request",
                               buckets)
    for pod in cluster.running_of("tgi"):
        src, rng = pod.src, pod.rng
        # TGI labels nothing itself; namespace and pod are the scrape target's labels.
        base = {"namespace": pod.namespace, "pod": pod.name}
        queue.add(base, pod_gauge(src, 5, fmt_int,
                                  lambda L, z: max(0, round(40 * (L - 0.45) + 2 * z))))
        batch.add(base, pod_gauge(src, 6, fmt_int,
                                  lambda L, z: max(1, round(2 + 30 * L + z))))
        max_tokens.add(base, pod_gauge(src, 7, fmt_int,
                                       lambda L, z: int(4096 * max(1, round(2 + 30 * L + z)))))
        req_count.add(base, pod_counter(src, 1.0, 1.0))
        req_success.add(base, pod_counter(src, 0.998, 0.99))
        s = rng.uniform(0.8, 1.25)
        duration.add(base, src.counts, (2.8 * s, 0.5), (11.0 * s, 0.6))
        queue_duration.add(base, src.counts, (0.004 * s, 0.9), (1.8 * s, 0.8))
    return [queue, batch, max_tokens, req_count, req_success, duration, queue_duration]


# --- SGLang -----------------------------------------------------------------------------------


def build_sglang(cluster: Cluster, opts: argparse.Namespace) -> list:
    running = ScalarFamily("sglang:num_running_reqs", "The number of running requests.", "gauge")
    queue = ScalarFamily("sglang:num_queue_reqs",
                         "The number of requests in the waiting queue.", "gauge")
    usage = ScalarFamily("sglang:token_usage", "The token usage.", "gauge")
    throughput = ScalarFamily("sglang:gen_throughput", "The generation throughput (token/s).",
                              "gauge")
    hit_rate = ScalarFamily("sglang:cache_hit_rate", "The prefix cache hit rate.", "gauge")
    for pod in cluster.running_of("sglang"):
        src = pod.src
        base = {"model_name": pod.model, "namespace": pod.namespace, "pod": pod.name}
        running.add(base, pod_gauge(src, 8, fmt_int,
                                    lambda L, z: max(0, round(4 + 80 * L + 2 * z))))
        queue.add(base, pod_gauge(src, 9, fmt_int,
                                  lambda L, z: max(0, round(60 * (L - 0.45) + 2 * z))))
        usage.add(base, pod_gauge(src, 11, fmt_ratio,
                                  lambda L, z: clamp(0.05 + 0.95 * (L - 0.08) + 0.02 * z, 0, 1)))
        throughput.add(base, pod_gauge(src, 12, fmt_gauge,
                                       lambda L, z: max(0.0, 400 + 2600 * L + 50 * z)))
        hit_rate.add(base, pod_gauge(src, 13, fmt_ratio,
                                     lambda L, z: clamp(0.45 - 0.2 * L + 0.03 * z, 0, 1)))
    return [running, queue, usage, throughput, hit_rate]


# --- kube-state-metrics -----------------------------------------------------------------------


def const(text: str) -> Callable[[Ctx], str]:
    return lambda ctx: text


def build_ksm(cluster: Cluster, opts: argparse.Namespace) -> list:
    labels_f = ScalarFamily("kube_pod_labels",
                            "Kubernetes labels converted to Prometheus labels.", "gauge")
    phase_f = ScalarFamily("kube_pod_status_phase", "The pods current phase.", "gauge")
    requests_f = ScalarFamily(
        "kube_pod_container_resource_requests",
        "The number of requested request resource by a container. It is recommended to use the "
        "kube_pod_resource_requests metric exposed by kube-scheduler instead, as it is more "
        "precise.", "gauge")
    alloc_f = ScalarFamily(
        "kube_node_status_allocatable",
        "The allocatable for different resources of a node that are available for scheduling.",
        "gauge")
    unschedulable_f = ScalarFamily("kube_node_spec_unschedulable",
                                   "Whether a node can schedule new pods.", "gauge")
    for pod in cluster.pods:
        ident = {"namespace": pod.namespace, "pod": pod.name, "uid": pod.uid}
        labels_f.add({**ident, "label_app": pod.app,
                      "label_app_kubernetes_io_name": pod.app_name}, const("1"))
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            phase_f.add({**ident, "phase": phase}, const("1" if phase == pod.phase else "0"))
        where = {"container": pod.kind}
        if pod.node is not None:
            where["node"] = pod.node
        for resource, unit, value in (("cpu", "core", "4"), ("memory", "byte", "34359738368"),
                                      ("nvidia_com_gpu", "integer", "1")):
            requests_f.add({**ident, **where, "resource": resource, "unit": unit}, const(value))
    for node in cluster.gpu_nodes:
        for resource, unit, value in (("cpu", "core", "191"), ("memory", "byte", "2027224358912"),
                                      ("nvidia_com_gpu", "integer", str(opts.gpus_per_node))):
            alloc_f.add({"node": node, "resource": resource, "unit": unit}, const(value))
    for node in cluster.neuron_nodes:
        for resource, unit, value in (("cpu", "core", "4"), ("memory", "byte", "16009068544"),
                                      ("aws_amazon_com_neuroncore", "integer",
                                       str(opts.neuroncores_per_node))):
            alloc_f.add({"node": node, "resource": resource, "unit": unit}, const(value))
    for node in cluster.gpu_nodes + cluster.neuron_nodes:
        unschedulable_f.add({"node": node}, const("1" if node in cluster.unschedulable else "0"))
    return [labels_f, phase_f, requests_f, alloc_f, unschedulable_f]


# ---------------------------------------------------------------------------------------------
# Exporter state and control
# ---------------------------------------------------------------------------------------------


class ControlError(ValueError):
    pass


def parse_pin_value(value):
    if value is None:
        return None
    if isinstance(value, bool):
        raise ControlError("value must be a number, a numeric string ('NaN', '+Inf') or null")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ControlError("value must be a number, a numeric string ('NaN', '+Inf') or null")


def json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return fmt_value(value)
    return value


class Exporter:
    """Builds the families once; renders them on every scrape. Thread safety: pins, the
    clock and the resolved pin table are guarded by `lock`; rendering works on a snapshot."""

    def __init__(self, opts: argparse.Namespace):
        init_noise(opts.seed)
        self.opts = opts
        self.cluster = Cluster(opts)
        self.families = build_families(self.cluster, opts)
        self.by_name = {f.name: f for f in self.families}
        self.lock = threading.Lock()
        self.clock = Clock()
        self.pins: list[dict] = []  # GUARDED_BY(lock)
        self.resolved: dict = {}  # GUARDED_BY(lock); replaced, never mutated in place

    def series_count(self) -> int:
        n = 0
        for f in self.families:
            n += len(f) * (len(f.les) + 2 if isinstance(f, Histogram) else 1)
        return n

    def render(self) -> str:
        with self.lock:
            t = self.clock.seconds()
            resolved = self.resolved
        ctx = Ctx(t, self.opts.counter_reset_every)
        out: list[str] = []
        for fam in self.families:
            fam.render(ctx, out, resolved.get(fam.name))
        return "".join(out)

    def _match(self, pin: dict) -> list:
        fam = self.by_name[pin["name"]]
        want = pin["labels"].items()
        return [i for i, labels in enumerate(fam.series_labels)
                if all(labels.get(k) == v for k, v in want)]

    def _validate_pin(self, item) -> dict:
        if not isinstance(item, dict):
            raise ControlError("each 'set' entry must be an object")
        unknown = set(item) - {"name", "labels", "value"}
        if unknown:
            raise ControlError(f"unknown key(s) in 'set' entry: {sorted(unknown)}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ControlError("'set' entry needs a string 'name'")
        fam = self.by_name.get(name)
        if fam is None:
            raise ControlError(f"unknown metric {name!r} (not served by this exporter)")
        if fam.mtype != "gauge":
            raise ControlError(f"{name} is a {fam.mtype}: only gauges can be pinned")
        labels = item.get("labels", {})
        if not isinstance(labels, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise ControlError("'labels' must be an object of string values")
        if "value" not in item:
            raise ControlError("'set' entry needs a 'value' (a number, or null to hide)")
        pin = {"name": name, "labels": dict(labels), "value": parse_pin_value(item["value"])}
        if not self._match(pin):
            raise ControlError(f"no {name} series has labels {labels}")
        return pin

    def control(self, body) -> dict:
        """Applies {"clear": bool, "set": [...], "pause": bool} in that order, all or nothing."""
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        unknown = set(body) - {"set", "clear", "pause"}
        if unknown:
            raise ControlError(f"unknown key(s): {sorted(unknown)}; expected set, clear, pause")
        clear = body.get("clear", False)
        if not isinstance(clear, bool):
            raise ControlError("'clear' must be true or false")
        pause = body.get("pause")
        if pause is not None and not isinstance(pause, bool):
            raise ControlError("'pause' must be true or false")
        sets = body.get("set", [])
        if not isinstance(sets, list):
            raise ControlError("'set' must be a list")
        new_pins = [self._validate_pin(item) for item in sets]
        with self.lock:
            pins = [] if clear else list(self.pins)
            for pin in new_pins:  # the same name and labels again: replace
                pins = [p for p in pins
                        if not (p["name"] == pin["name"] and p["labels"] == pin["labels"])]
                pins.append(pin)
            resolved: dict = {}
            for pin in pins:
                table = resolved.setdefault(pin["name"], {})
                for idx in self._match(pin):
                    table[idx] = pin["value"]
            self.pins, self.resolved = pins, resolved
            if pause is not None:
                self.clock.pause(pause)
            return self._state_locked()

    def state(self) -> dict:
        with self.lock:
            return self._state_locked()

    def _state_locked(self) -> dict:
        return {
            "pins": [{"name": p["name"], "labels": p["labels"], "value": json_value(p["value"]),
                      "matched": len(self._match(p))} for p in self.pins],
            "paused": self.clock.paused,
            "time": self.clock.seconds(),
            "families": sorted(self.opts.only_set),
        }


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sextant-synthetic-exporter/1"

    @property
    def exporter(self) -> Exporter:
        return self.server.exporter  # type: ignore[attr-defined]

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, code: int, obj) -> None:
        self._send(code, (json.dumps(obj, indent=1) + "\n").encode(), "application/json")

    def _error(self, code: int, message: str) -> None:
        self._send_json(code, {"error": message})

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                self._send(200, self.exporter.render().encode("utf-8"), CONTENT_TYPE)
            elif path == "/control":
                self._send_json(200, self.exporter.state())
            elif path in ("/", "/healthz"):
                self._send(200, b"sextant synthetic exporter: GET /metrics, GET|POST /control\n",
                           "text/plain; charset=utf-8")
            else:
                self._error(404, f"no such path {path}")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # never take the server down
            self._error(500, f"{type(exc).__name__}: {exc}")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path != "/control":
            self._read_body_quietly()
            self._error(404, f"no such path {path}")
            return
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            self._error(411, "Content-Length required")
            return
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._error(400, "bad Content-Length")
            return
        if n > MAX_CONTROL_BODY:
            self.close_connection = True
            self._error(413, f"body over {MAX_CONTROL_BODY} bytes")
            return
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self._error(400, f"bad JSON: {exc}")
            return
        try:
            self._send_json(200, self.exporter.control(body))
        except ControlError as exc:
            self._error(400, str(exc))
        except Exception as exc:
            self._error(500, f"{type(exc).__name__}: {exc}")

    def _read_body_quietly(self) -> None:
        try:
            n = int(self.headers.get("Content-Length", "0"))
            if 0 < n <= MAX_CONTROL_BODY:
                self.rfile.read(n)
            elif n:
                self.close_connection = True
        except ValueError:
            self.close_connection = True

    def log_message(self, fmt: str, *args) -> None:
        if self.server.verbose:  # type: ignore[attr-defined]
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6


def parse_listen(text: str) -> tuple:
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {text!r}")
    return host, int(port)


def parse_only(text: str) -> frozenset:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in parts if p not in ALL_FAMILIES]
    if bad or not parts:
        raise argparse.ArgumentTypeError(
            f"--only takes a comma list of {','.join(ALL_FAMILIES)}; bad: {bad or text!r}")
    return frozenset(parts)


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Synthetic DCGM/Neuron/vLLM/Triton/TGI/SGLang/kube-state-metrics exporter.")
    p.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0),
                   help="HOST:PORT to serve on; port 0 picks a free one (default 127.0.0.1:0)")
    p.add_argument("--only", type=parse_only, default=frozenset(ALL_FAMILIES),
                   help=f"families to serve, comma-separated (default: {','.join(ALL_FAMILIES)})")
    p.add_argument("--pods", type=non_negative, default=2,
                   help="inference pods per server kind (vllm, triton, tgi, sglang); default 2")
    p.add_argument("--pending-pods", type=non_negative, default=1,
                   help="extra vLLM pods stuck Pending for want of a GPU (default 1)")
    p.add_argument("--headroom-pods", type=non_negative, default=0,
                   help="Pending GPU-headroom placeholder pods gpu-headroom-<i> (app and "
                        "app.kubernetes.io/name gpu-headroom), one GPU each (default 0)")
    p.add_argument("--succeeded-pods", type=non_negative, default=0,
                   help="finished (Succeeded) batch pods still bound to the node of the last "
                        "running pod, with their GPU request (default 0)")
    p.add_argument("--legacy-vllm-pods", type=non_negative, default=0,
                   help="the last N running vLLM pods serve only the older names "
                        "(vllm:gpu_cache_usage_perc, vllm:time_per_output_token_seconds), not "
                        "vllm:kv_cache_usage_perc / vllm:inter_token_latency_seconds (default 0)")
    p.add_argument("--unschedulable-nodes", type=lambda s: [n for n in s.split(",") if n],
                   default=[], metavar="NODE,...",
                   help="nodes kube_node_spec_unschedulable shows as cordoned (1)")
    p.add_argument("--models", default="llama-3-8b,mistral-7b",
                   help="models, assigned to each kind's pods round-robin")
    p.add_argument("--namespace", default="default", help="namespace of the inference pods")
    p.add_argument("--gpu-nodes", type=non_negative, default=2, help="GPU nodes (default 2)")
    p.add_argument("--gpus-per-node", type=non_negative, default=8, help="GPUs per node (8)")
    p.add_argument("--neuron-nodes", type=non_negative, default=1, help="Neuron nodes (1)")
    p.add_argument("--neuroncores-per-node", type=non_negative, default=2,
                   help="NeuronCores per Neuron node (2)")
    p.add_argument("--neuron-instance-type", default="inf2.xlarge")
    p.add_argument("--neuron-error-scale", type=positive_float, default=1.0, metavar="F",
                   help="multiply the rate of execution_errors_total by F (default 1)")
    p.add_argument("--label-style", choices=("pod", "exported"), default="pod",
                   help="DCGM pod mapping: pod/namespace/container, or exported_pod/... beside "
                        "the dcgm-exporter pod's own labels (as Prometheus stores them)")
    p.add_argument("--hostname-label", choices=("Hostname", "hostname"), default="Hostname",
                   help="name of DCGM's host label")
    p.add_argument("--counter-reset-every", type=positive_float, default=None, metavar="SECONDS",
                   help="counters and histograms restart from 0 every SECONDS (a restart)")
    p.add_argument("--weird-labels", action="store_true",
                   help="add vllm:num_requests_waiting series whose model_name holds regex "
                        "metacharacters, quotes, backslashes, newlines and non-ASCII")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    opts = p.parse_args(argv)
    opts.only_set = opts.only
    opts.only = ",".join(sorted(opts.only))
    if not [m for m in opts.models.split(",") if m]:
        p.error("--models needs at least one model")
    return opts


def main(argv: Optional[list] = None) -> int:
    opts = parse_args(argv)
    exporter = Exporter(opts)
    host, port = opts.listen
    server_cls = Server6 if ":" in host else Server
    try:
        server = server_cls((host, port), Handler)
    except OSError as exc:
        print(f"cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    server.exporter = exporter  # type: ignore[attr-defined]
    server.verbose = opts.verbose  # type: ignore[attr-defined]

    def on_term(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on {shown}:{server.server_address[1]}", flush=True)
    print(f"serving {len(exporter.families)} families, {exporter.series_count()} samples per "
          f"scrape ({opts.only})", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
