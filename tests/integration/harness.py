"""Helpers for Sextant's integration tests.

- Pki: a throw-away test PKI made with the `openssl` CLI (a serving CA and certificate, a
  client CA, a front-proxy CA, an unrelated CA and the leaf client certificates the tests
  present).
- SextantProcess: starts build/sextant on 127.0.0.1 with --secure-port 0, reads the chosen
  port from its log, waits for /livez, and always stops it (SIGTERM, then SIGKILL).
- https_request / Client: HTTPS requests with python's ssl + http.client, presenting a chosen
  client certificate and headers.
- Small decoders for the Kubernetes protobuf envelope (protobuf wire format and protoc's
  text format).

Everything listens on 127.0.0.1 only, on ports chosen at run time.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
from typing import Iterable, Mapping, Optional

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_DIR = pathlib.Path(os.environ.get("SEXTANT_SOURCE_DIR", HERE.parent.parent)).resolve()

GROUP_VERSION = "external.metrics.k8s.io/v1beta1"
METRICS_PREFIX = "/apis/external.metrics.k8s.io/v1beta1"


def metric_path(metric: str, selector: Optional[str] = None,
                namespace: str = "default") -> str:
    """The external metric's URL path, with the labelSelector when one is given."""
    path = f"{METRICS_PREFIX}/namespaces/{urllib.parse.quote(namespace)}/{metric}"
    if selector is not None:
        path += "?" + urllib.parse.urlencode({"labelSelector": selector})
    return path


_QUANTITY_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|"
                          r"n|u|m|k|M|G|T|P|E))?")
_SUFFIX = {None: 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9,
           "T": 1e12, "P": 1e15, "E": 1e18, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30,
           "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}


def quantity(text: str) -> float:
    """A Kubernetes Quantity string as a float."""
    match = _QUANTITY_RE.fullmatch(text)
    assert match, f"not a quantity: {text!r}"
    number = float(match.group(1))
    if match.group(2):
        return number * 10 ** int(match.group(2)[1:])
    return number * _SUFFIX[match.group(3)]
PROTOBUF = "application/vnd.kubernetes.protobuf"


def sextant_binary() -> pathlib.Path:
    """The binary under test: $SEXTANT_BINARY, else build/sextant of this source tree."""
    env = os.environ.get("SEXTANT_BINARY")
    return pathlib.Path(env) if env else HERE.parent.parent / "build" / "sextant"


# ---------------------------------------------------------------------------------------------
# Test PKI
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CertPair:
    cert: pathlib.Path
    key: pathlib.Path


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


class Pki:
    """A test PKI in `directory`.

    Attributes (CertPair): server_ca, server (SAN IP:127.0.0.1, DNS:localhost), client_ca,
    front_proxy_ca, other_ca, alice (O=dev, O=ops, by client_ca), front_proxy
    (CN=front-proxy-client, by front_proxy_ca), not_allowed (CN=not-allowed, by
    front_proxy_ca), mallory (by other_ca).
    """

    def __init__(self, directory: pathlib.Path):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.server_ca = self._ca("server-ca")
        self.client_ca = self._ca("client-ca")
        self.front_proxy_ca = self._ca("front-proxy-ca")
        self.other_ca = self._ca("other-ca")
        self.server = self._leaf("server", "/CN=127.0.0.1", self.server_ca,
                                 "extendedKeyUsage=serverAuth\n"
                                 "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        client_ext = "extendedKeyUsage=clientAuth\n"
        self.alice = self._leaf("alice", "/O=dev/O=ops/CN=alice", self.client_ca, client_ext)
        self.front_proxy = self._leaf("front-proxy-client", "/CN=front-proxy-client",
                                      self.front_proxy_ca, client_ext)
        self.not_allowed = self._leaf("not-allowed", "/CN=not-allowed", self.front_proxy_ca,
                                      client_ext)
        self.mallory = self._leaf("mallory", "/O=dev/CN=mallory", self.other_ca, client_ext)

    def _ca(self, name: str) -> CertPair:
        pair = CertPair(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "2", "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", str(pair.key), "-out", str(pair.cert), cwd=self.dir)
        return pair

    def _leaf(self, name: str, subject: str, ca: CertPair, extensions: str) -> CertPair:
        pair = CertPair(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        csr = self.dir / f"{name}.csr"
        ext = self.dir / f"{name}.ext"
        ext.write_text("basicConstraints=CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n" + extensions)
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-subj", subject, "-keyout", str(pair.key), "-out", str(csr),
                 cwd=self.dir)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
                 "-set_serial", str(int(time.time() * 1000) % (1 << 62)), "-days", "2",
                 "-extfile", str(ext), "-out", str(pair.cert), cwd=self.dir)
        return pair


# ---------------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------------

_SERVING_RE = re.compile(r"serving securely on (\S+):(\d+)")


class SextantProcess:
    """build/sextant on 127.0.0.1 with a run-time port. Use as a context manager, or call
    start() and stop() (stop() is idempotent and always leaves no process behind)."""

    def __init__(self, args: Iterable[str], log_path: pathlib.Path, cwd: pathlib.Path,
                 ca_file: Optional[pathlib.Path] = None):
        self.args = list(args)
        self.log_path = pathlib.Path(log_path)
        self.cwd = pathlib.Path(cwd)
        self.ca_file = ca_file  # trusted for the serving certificate; None: trust anything
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self._log = None

    def command(self) -> list[str]:
        return [str(sextant_binary()), "--secure-port", "0", "--bind-address", "127.0.0.1",
                *self.args]

    def start(self, timeout: float = 20.0) -> "SextantProcess":
        binary = sextant_binary()
        if not binary.exists():
            raise RuntimeError(f"{binary} does not exist: build it first (hack/build.sh)")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), cwd=self.cwd, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        try:
            while self.port is None:
                match = _SERVING_RE.search(self.log())
                if match:
                    self.port = int(match.group(2))
                    break
                if self.proc.poll() is not None:
                    raise RuntimeError(f"sextant exited with {self.proc.returncode} before "
                                       f"serving; log:\n{self.log()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sextant did not log its port; log:\n{self.log()}")
                time.sleep(0.02)
            while True:
                try:
                    if self.request("GET", "/livez", timeout=2).status == 200:
                        return self
                except OSError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"/livez never answered 200; log:\n{self.log()}")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, grace: float = 10.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            code = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def __enter__(self) -> "SextantProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def request(self, method: str, path: str, *, cert: Optional[CertPair] = None,
                headers: Optional[Mapping[str, str]] = None, timeout: float = 10.0,
                body: Optional[bytes] = None) -> "Response":
        assert self.port is not None
        return https_request(self.port, method, path, cert=cert, headers=headers,
                             ca_file=self.ca_file, timeout=timeout, body=body)


# ---------------------------------------------------------------------------------------------
# HTTPS client
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]  # lowercased names
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self):
        return json.loads(self.body)


def client_context(cert: Optional[CertPair] = None, ca_file: Optional[pathlib.Path] = None,
                   server_hostname_check: bool = False) -> ssl.SSLContext:
    """A TLS client context presenting `cert` (if any). With `ca_file` the server certificate
    is verified against it; otherwise it is not verified."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
        ctx.check_hostname = server_hostname_check
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    return ctx


def connection(port: int, *, cert: Optional[CertPair] = None,
               ca_file: Optional[pathlib.Path] = None,
               timeout: float = 10.0) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                       context=client_context(cert, ca_file))


def send(conn: http.client.HTTPConnection, method: str, path: str,
         headers: Optional[Mapping[str, str]] = None, body: Optional[bytes] = None) -> Response:
    conn.request(method, path, body=body, headers=dict(headers or {}))
    raw = conn.getresponse()
    data = raw.read()
    return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)


def https_request(port: int, method: str, path: str, *, cert: Optional[CertPair] = None,
                  headers: Optional[Mapping[str, str]] = None,
                  ca_file: Optional[pathlib.Path] = None, timeout: float = 10.0,
                  body: Optional[bytes] = None) -> Response:
    """One request on a fresh connection (closed afterwards)."""
    conn = connection(port, cert=cert, ca_file=ca_file, timeout=timeout)
    try:
        return send(conn, method, path, headers, body)
    finally:
        conn.close()


def wait_port_closed(port: int, timeout: float) -> bool:
    """True once a TCP connect to 127.0.0.1:port is refused (within `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------------------------------------
# Kubernetes protobuf
# ---------------------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def wire_fields(data: bytes) -> list[tuple[int, int, object]]:
    """The top-level fields of a protobuf message: (field number, wire type, value), value
    being an int for varint/fixed fields and bytes for length-delimited ones."""
    fields = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 1:
            value, pos = int.from_bytes(data[pos:pos + 8], "little"), pos + 8
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
            if pos > len(data):
                raise ValueError("truncated length-delimited field")
        elif wire_type == 5:
            value, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        fields.append((number, wire_type, value))
    return fields


def protoc_decode(message_type: str, proto_file: str, data: bytes) -> dict:
    """`protoc --decode` of `data` as `message_type` (defined in `proto_file`, relative to the
    source tree), parsed from protoc's text format into nested dicts (see parse_text_format)."""
    result = subprocess.run(["protoc", f"--decode={message_type}", "-I", str(SOURCE_DIR),
                             proto_file], input=data, capture_output=True, cwd=SOURCE_DIR)
    if result.returncode != 0:
        raise RuntimeError(f"protoc --decode={message_type} failed: "
                           f"{result.stderr.decode(errors='replace')}")
    return parse_text_format(result.stdout.decode())


_TOKEN_RE = re.compile(r'\s*(?:(?P<close>\})|(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*'
                       r'(?:(?P<open>\{)|:\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s}]+)))')


def _unquote(text: str):
    if text.startswith('"'):
        # protoc escapes C-style (octal for non-printables); decode bytes-wise.
        raw = text[1:-1].encode("latin-1").decode("unicode_escape").encode("latin-1")
        return raw.decode("utf-8", errors="replace")
    try:
        return int(text)
    except ValueError:
        return text


def parse_text_format(text: str) -> dict:
    """Protobuf text format → dict: every field maps to a list of its values (sub-messages
    are dicts), since any field may repeat."""
    root: dict = {}
    stack = [root]
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            raise ValueError(f"cannot parse protoc output at {pos}: {text[pos:pos + 40]!r}")
        pos = match.end()
        if match.group("close"):
            stack.pop()
        elif match.group("open"):
            child: dict = {}
            stack[-1].setdefault(match.group("name"), []).append(child)
            stack.append(child)
        else:
            stack[-1].setdefault(match.group("name"), []).append(_unquote(match.group("value")))
    if len(stack) != 1:
        raise ValueError("unbalanced braces in protoc output")
    return root


def decode_k8s_protobuf(body: bytes, message_type: str, proto_file: str) -> tuple[dict, dict]:
    """Splits a Kubernetes protobuf body ("k8s\\0" + runtime.Unknown) and decodes it with
    protoc: returns (the Unknown envelope, the inner object)."""
    if not body.startswith(b"k8s\x00"):
        raise ValueError(f"no k8s protobuf magic: {body[:16]!r}")
    envelope = body[4:]
    unknown = protoc_decode("k8s.io.apimachinery.pkg.runtime.Unknown",
                            "apiserver/proto/k8s_runtime.proto", envelope)
    raws = [value for number, wire, value in wire_fields(envelope) if number == 2 and wire == 2]
    if len(raws) != 1:
        raise ValueError(f"runtime.Unknown has {len(raws)} raw fields")
    return unknown, protoc_decode(message_type, proto_file, raws[0])


# ---------------------------------------------------------------------------------------------
# Prometheus text exposition
# ---------------------------------------------------------------------------------------------

_SAMPLE_RE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+'
                        r'(?P<value>\S+)')
_LABEL_RE = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a Prometheus text exposition: (name, labels, value)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE_RE.match(line)
        if not match:
            raise ValueError(f"not an exposition line: {line!r}")
        labels = {m.group("key"): m.group("value")
                  for m in _LABEL_RE.finditer(match.group("labels") or "")}
        samples.append((match.group("name"), labels, float(match.group("value"))))
    return samples
