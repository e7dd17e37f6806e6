"""Start/stop helpers for the synthetic exporter and a real Prometheus, plus a strict parser of
the Prometheus text exposition format (0.0.4) and a promtool wrapper. Reusable by any
integration test.

- start_exporter(args) -> (proc, port): hack/exporter/sextant_exporter.py on 127.0.0.1, port
  chosen at run time (it prints "listening on 127.0.0.1:PORT").
- start_prometheus(scrape_targets, scrape_interval="1s", extra_args=()) -> (proc, port, datadir):
  Debian's /usr/bin/prometheus with a temporary config and TSDB, on a free loopback port,
  returned once /-/ready answers 200.
- stop(proc): SIGTERM, then SIGKILL; removes the temporary directory start_prometheus made.
- wait_for_series(port, expr, timeout): polls the instant-query API until `expr` returns
  something; returns the result vector.

Everything binds 127.0.0.1 only. Whatever a helper starts, stop() ends; a helper that fails
half-way stops what it started before raising.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Iterable, Optional

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_DIR = pathlib.Path(os.environ.get("SEXTANT_SOURCE_DIR", HERE.parent.parent)).resolve()
EXPORTER = SOURCE_DIR / "hack" / "exporter" / "sextant_exporter.py"
PROMETHEUS = os.environ.get("SEXTANT_PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("SEXTANT_PROMTOOL", "/usr/bin/promtool")

_LISTENING_RE = re.compile(r"listening on (?:\[[^\]]*\]|[^:\s]+):(\d+)")
_OWNED_DIRS: dict[int, str] = {}  # pid -> temporary directory stop() removes


def free_port() -> int:
    """A loopback port that was free a moment ago (the caller binds it right away)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Optional[str], limit: int = 4000) -> str:
    if not path:
        return ""
    try:
        return pathlib.Path(path).read_text(errors="replace")[-limit:]
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def stop(proc: Optional[subprocess.Popen], timeout: float = 10.0) -> Optional[int]:
    """Stops a process started by a helper here: SIGTERM, SIGKILL after `timeout` seconds.
    Idempotent. Removes the temporary directory a helper made for it. Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            stream.close()
    owned = _OWNED_DIRS.pop(proc.pid, None)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)
    return proc.returncode


def start_exporter(args: Iterable[str] = (), timeout: float = 60.0,
                   python: Optional[str] = None) -> tuple[subprocess.Popen, int]:
    """Starts the synthetic exporter on 127.0.0.1:0 with extra `args`; returns (proc, port)
    once it printed its port. Its stderr goes to proc.log_path (a temporary file)."""
    logdir = tempfile.mkdtemp(prefix="sextant-exporter-")
    log_path = os.path.join(logdir, "exporter.log")
    cmd = [python or sys.executable, str(EXPORTER), "--listen", "127.0.0.1:0", *args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=log)
    _OWNED_DIRS[proc.pid] = logdir
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        line = _read_line(proc, timeout)
        match = _LISTENING_RE.search(line)
        if not match:
            raise RuntimeError(f"exporter printed {line!r}, not its port; log:\n"
                               f"{_tail(log_path)}")
        return proc, int(match.group(1))
    except BaseException:
        stop(proc)
        raise


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"exporter did not print its port in {timeout}s; log:\n"
                                   f"{_tail(getattr(proc, 'log_path', None))}")
            if sel.select(timeout=min(left, 0.5)):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"exporter exited with {proc.wait()}; log:\n"
                                       f"{_tail(getattr(proc, 'log_path', None))}")
                buf += chunk
    return buf.decode(errors="replace").splitlines()[0]


def prometheus_config(scrape_targets: Iterable, scrape_interval: str = "1s",
                      scrape_timeout: Optional[str] = None, job: str = "synthetic") -> str:
    targets = [t if isinstance(t, str) else f"127.0.0.1:{int(t)}" for t in scrape_targets]
    return (
        "global:\n"
        f"  scrape_interval: {scrape_interval}\n"
        f"  scrape_timeout: {scrape_timeout or scrape_interval}\n"
        f"  evaluation_interval: {scrape_interval}\n"
        "scrape_configs:\n"
        f"  - job_name: {job}\n"
        "    static_configs:\n"
        f"      - targets: {json.dumps(targets)}\n")


def start_prometheus(scrape_targets: Iterable, scrape_interval: str = "1s",
                     extra_args: Iterable[str] = (), timeout: float = 60.0,
                     scrape_timeout: Optional[str] = None
                     ) -> tuple[subprocess.Popen, int, str]:
    """Starts a real Prometheus scraping `scrape_targets` ("host:port" strings or bare ports on
    127.0.0.1) in job "synthetic" every `scrape_interval`; returns (proc, port, datadir) once
    /-/ready is 200. datadir holds prometheus.yml, prometheus.log and the TSDB (data/); stop()
    removes it."""
    datadir = tempfile.mkdtemp(prefix="sextant-prometheus-")
    config = os.path.join(datadir, "prometheus.yml")
    with open(config, "w") as f:
        f.write(prometheus_config(list(scrape_targets), scrape_interval, scrape_timeout))
    log_path = os.path.join(datadir, "prometheus.log")
    last_error = ""
    for _attempt in range(3):  # a port taken between free_port() and bind: try another
        port = free_port()
        cmd = [PROMETHEUS, f"--config.file={config}",
               f"--storage.tsdb.path={os.path.join(datadir, 'data')}",
               f"--web.listen-address=127.0.0.1:{port}", *extra_args]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    cwd=datadir)
        proc.log_path = log_path  # type: ignore[attr-defined]
        try:
            if _wait_ready(proc, port, timeout):
                _OWNED_DIRS[proc.pid] = datadir
                return proc, port, datadir
        except BaseException:
            stop(proc)
            shutil.rmtree(datadir, ignore_errors=True)
            raise
        stop(proc)
        last_error = _tail(log_path)
        if "address already in use" not in last_error:
            break
    shutil.rmtree(datadir, ignore_errors=True)
    raise RuntimeError(f"prometheus did not become ready; log:\n{last_error}")


def _wait_ready(proc: subprocess.Popen, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            status, _ = http_get(f"http://127.0.0.1:{port}/-/ready", timeout=2)
            if status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus not ready after {timeout}s; log:\n"
                       f"{_tail(getattr(proc, 'log_path', None))}")


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def http_post(url: str, body: bytes, timeout: float = 30.0,
              content_type: str = "application/json") -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def scrape(port: int, timeout: float = 60.0) -> str:
    status, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=timeout)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}: {body[:500]!r}")
    return body.decode("utf-8")


def control(port: int, obj) -> tuple[int, dict]:
    """POST /control on the exporter; returns (status, decoded JSON answer)."""
    status, body = http_post(f"http://127.0.0.1:{port}/control", json.dumps(obj).encode())
    return status, json.loads(body)


def query(port: int, expr: str, timeout: float = 10.0) -> list:
    """Prometheus instant query; returns the result vector (raises on an API error)."""
    url = (f"http://127.0.0.1:{port}/api/v1/query?"
           + urllib.parse.urlencode({"query": expr}))
    status, body = http_get(url, timeout=timeout)
    answer = json.loads(body)
    if status != 200 or answer.get("status") != "success":
        raise RuntimeError(f"query {expr!r} failed ({status}): {answer}")
    return answer["data"]["result"]


def wait_for_series(port: int, expr: str, timeout: float = 30.0,
                    predicate: Optional[Callable[[list], bool]] = None) -> list:
    """Polls `expr` until it returns a non-empty vector (that satisfies `predicate`, if
    given); returns it. Raises TimeoutError with the last answer otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = query(port, expr)
            if last and (predicate is None or predicate(last)):
                return last
        except (RuntimeError, OSError) as err:
            last = err
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expr!r}: nothing (matching) after {timeout}s; last: {last}")
        time.sleep(0.25)


# ---------------------------------------------------------------------------------------------
# The text exposition format
# ---------------------------------------------------------------------------------------------

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


class ExpositionError(ValueError):
    pass


class Exposition:
    """A parsed exposition. samples: [(name, labels dict, value)] in order; types and helps by
    family name; family_of(sample name) -> family name."""

    def __init__(self):
        self.samples: list[tuple[str, dict, float]] = []
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        self.sample_family: list[str] = []

    def family_of(self, name: str) -> str:
        if name in self.types and self.types[name] not in _SUFFIXES:
            return name
        for family_type, suffixes in _SUFFIXES.items():
            for suffix in suffixes:
                base = name[: -len(suffix)]
                if name.endswith(suffix) and self.types.get(base) == family_type:
                    return base
        return name

    def series(self, name: str) -> list[tuple[dict, float]]:
        return [(labels, value) for n, labels, value in self.samples if n == name]

    def by_key(self) -> dict:
        """{(name, sorted label items): value}"""
        return {(n, tuple(sorted(labels.items()))): v for n, labels, v in self.samples}

    def names(self) -> set:
        return {n for n, _, _ in self.samples}


def _unescape(text: str, allowed: str, where: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise ExpositionError(f"{where}: dangling backslash")
            nxt = text[i + 1]
            if nxt == "n":
                out.append("\n")
            elif nxt in allowed:
                out.append(nxt)
            else:
                raise ExpositionError(f"{where}: invalid escape \\{nxt}")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _parse_value(text: str, where: str) -> float:
    if text in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(text)
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ExpositionError(f"{where}: bad value {text!r}")
    return float(text)


def _parse_labels(line: str, i: int, where: str) -> tuple[dict, int]:
    """Parses from just after '{' to just after '}'; returns (labels, index)."""
    labels: dict[str, str] = {}
    n = len(line)
    while True:
        while i < n and line[i] == " ":
            i += 1
        if i < n and line[i] == "}":
            return labels, i + 1
        m = _LABEL_NAME_RE.match(line, i)
        if not m:
            raise ExpositionError(f"{where}: bad label name at column {i}")
        key = m.group(0)
        i = m.end()
        if line[i:i + 2] != '="':
            raise ExpositionError(f"{where}: expected =\" after label {key}")
        i += 2
        start = i
        while i < n and line[i] != '"':
            i += 2 if line[i] == "\\" else 1
        if i >= n:
            raise ExpositionError(f"{where}: unterminated value of label {key}")
        if key in labels:
            raise ExpositionError(f"{where}: label {key} twice")
        labels[key] = _unescape(line[start:i], '\\"', where)
        i += 1
        if i < n and line[i] == ",":
            i += 1
        elif i < n and line[i] == "}":
            return labels, i + 1
        else:
            raise ExpositionError(f"{where}: expected , or }} after label {key}")


def parse_exposition(text: str) -> Exposition:
    """Strict 0.0.4 parser: escapes, HELP/TYPE once per family and before its samples,
    samples of a family contiguous, no duplicate series, valid names. Raises ExpositionError."""
    exp = Exposition()
    seen: set = set()
    done_families: set = set()
    current: Optional[str] = None
    if text and not text.endswith("\n"):
        raise ExpositionError("the exposition does not end with a newline")
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {lineno}"
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not _NAME_RE.fullmatch(name):
                    raise ExpositionError(f"{where}: bad metric name {name!r}")
                rest = parts[3] if len(parts) > 3 else ""
                if name in done_families:
                    raise ExpositionError(f"{where}: {parts[1]} of {name} after its samples")
                if parts[1] == "HELP":
                    if name in exp.helps:
                        raise ExpositionError(f"{where}: second HELP for {name}")
                    exp.helps[name] = _unescape(rest, "\\", where)
                else:
                    if name in exp.types:
                        raise ExpositionError(f"{where}: second TYPE for {name}")
                    if rest not in _TYPES:
                        raise ExpositionError(f"{where}: unknown type {rest!r}")
                    exp.types[name] = rest
            continue
        m = _NAME_RE.match(line)
        if not m:
            raise ExpositionError(f"{where}: bad metric name")
        name, i = m.group(0), m.end()
        labels: dict = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i + 1, where)
        if i >= len(line) or line[i] != " ":
            raise ExpositionError(f"{where}: expected a space before the value")
        fields = line[i:].split()
        if not 1 <= len(fields) <= 2:
            raise ExpositionError(f"{where}: expected a value and an optional timestamp")
        value = _parse_value(fields[0], where)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise ExpositionError(f"{where}: bad timestamp {fields[1]!r}")
        family = exp.family_of(name)
        if family != current:
            if family in done_families:
                raise ExpositionError(f"{where}: samples of {family} are not contiguous")
            if current is not None:
                done_families.add(current)
            current = family
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ExpositionError(f"{where}: duplicate series {name}{labels}")
        seen.add(key)
        exp.samples.append((name, labels, value))
        exp.sample_family.append(family)
    return exp


def promtool_check(text: str, timeout: float = 120.0) -> tuple[int, str]:
    """`promtool check metrics` on `text`: (exit code, combined output). Exit codes of
    promtool 2.42: 0 clean, 3 lint problems only (naming advice), 1 a parse error."""
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                            capture_output=True, timeout=timeout)
    return result.returncode, (result.stdout + result.stderr).decode(errors="replace")


def is_finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))
