"""Checks of the Kubernetes manifests (manifests/), the Dockerfile and
hack/sync-requestheader-ca.sh, with the real tools that consume them.

- Every kustomization under manifests/ is rendered with `kubectl kustomize`; every YAML
  document of every file under manifests/ is parsed.
- References between the rendered objects: Service selector -> pod labels, Service
  targetPorts -> container ports -> --secure-port / --grpc-port (https 443 -> 6443, grpc
  9443 -> 9443), APIService -> Service (name, namespace, port 443),
  (Cluster)RoleBindings -> the Deployment's ServiceAccount, probes -> ports, volume mounts ->
  volumes -> ConfigMaps/Secrets, and every file a flag names -> a file some volume projects.
  The gRPC port (KEDA) is TLS with the serving pair and, outside the quickstart, requires
  client certificates from the serving Secret's CA; the cert-manager overlay issues one for
  KEDA from the same CA, and the KEDA example's TriggerAuthentication presents it.
- The container's flags are ones `sextant --help` lists; the ConfigMap's config.yaml passes
  `sextant validate`.
- The Deployment's container is run as a local process: its rendered args, with the
  container's paths mapped onto a temporary directory holding what the volumes would
  (config.yaml from the rendered ConfigMap, a test front-proxy CA, a serving pair), against a
  real Prometheus scraping the synthetic exporter. /livez and /readyz answer as the kubelet
  asks them, and every metric an example HPA or ScaledObject names is answered, in the
  example's namespace and with its selector, to a request made as the aggregator makes it
  (front-proxy certificate + X-Remote-* headers); catalog names only when the binary serves
  the catalog (a binary without it answers 404, and they are skipped). The gRPC port the
  args open answers a real KEDA client (GetMetricSpec and GetMetrics for the KEDA example's
  trigger) with the client certificate KEDA would present, and refuses one without it.
- The Dockerfile's packages exist in Debian's archive (`apt-cache policy`; skipped when the
  apt lists are empty), and its build-time check (every library the binary links comes from
  a runtime package) passes on the binary under test.
- hack/sync-requestheader-ca.sh runs against a stand-in kubectl (no control plane can run
  here) that records what it is asked to do.

Uses Debian's /usr/bin/python3 (python3-yaml, pytest); everything it starts binds 127.0.0.1
on ports chosen at run time and is stopped.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse

import grpc
import pytest
import yaml

import prom_harness as ph
from harness import Pki, SextantProcess, sextant_binary

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_DIR = pathlib.Path(os.environ.get("SEXTANT_SOURCE_DIR", HERE.parent.parent)).resolve()
MANIFESTS = SOURCE_DIR / "manifests"
EXAMPLES = MANIFESTS / "examples"
DOCKERFILE = SOURCE_DIR / "Dockerfile"
SYNC_SCRIPT = SOURCE_DIR / "hack" / "sync-requestheader-ca.sh"
KUBECTL = shutil.which("kubectl")

# External metric names of Sextant's built-in catalog (served without configuration; the
# README's catalog section). The examples use them without a rule in the base config.
CATALOG_NAMES = {
    "gpu-utilization", "gpu-tensor-active", "gpu-engine-active", "gpu-dram-active",
    "gpu-memory-used-ratio", "neuroncore-utilization", "neuron-execution-latency-p99",
    "neuron-errors-per-second", "vllm-requests-waiting", "vllm-requests-running",
    "vllm-kv-cache-usage", "vllm-ttft-p95", "vllm-e2e-latency-p95",
    "vllm-inter-token-latency-p95", "triton-pending-requests", "triton-queue-time-per-request",
    "tgi-queue-size", "tgi-batch-size", "tgi-request-latency-p95", "sglang-queue-requests",
    "sglang-token-usage", "gpu-pending-demand", "gpu-headroom-deficit",
}

# Examples whose scale target is the user's own Deployment (not in the file).
EXTERNAL_TARGETS = {"hpa-vllm-requests-waiting.yaml", "hpa-gpu-tensor-active.yaml"}

# Where the examples live (their metrics are asked for in this namespace).
EXAMPLE_NAMESPACE = "inference"

NAMESPACED_KINDS = {
    "ServiceAccount", "Deployment", "Service", "ConfigMap", "Secret", "Role", "RoleBinding",
    "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication",
    "Issuer", "Certificate",
}
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "APIService", "PriorityClass"}

# Objects the manifests refer to that the cluster (or the operator, per manifests/README.md)
# provides: kube-apiserver's roles, the HPA controller's identity, the serving Secret of the
# base (README step 1; the cert-manager overlay creates it).
SYSTEM_CLUSTER_ROLES = {"system:auth-delegator"}
SYSTEM_ROLES = {("kube-system", "extension-apiserver-authentication-reader")}
OPERATOR_SECRETS = {("sextant", "sextant-serving-cert")}


# ---------------------------------------------------------------------------------------------
# Rendering and lookup helpers
# ---------------------------------------------------------------------------------------------


def kustomization_dirs() -> list[pathlib.Path]:
    return sorted(p.parent for p in MANIFESTS.rglob("kustomization.yaml"))


def rel(path: pathlib.Path) -> str:
    return str(path.relative_to(SOURCE_DIR))


def render(directory: pathlib.Path) -> list[dict]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {directory}:\n{result.stderr}"
    docs = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    assert docs, f"{directory} renders nothing"
    return docs


_RENDERED: dict[str, list[dict]] = {}


def rendered(directory: pathlib.Path) -> list[dict]:
    key = str(directory)
    if key not in _RENDERED:
        _RENDERED[key] = render(directory)
    return _RENDERED[key]


def find(objects: list[dict], kind: str, name: str | None = None,
         namespace: str | None = None) -> list[dict]:
    out = []
    for o in objects:
        meta = o.get("metadata", {})
        if o.get("kind") != kind:
            continue
        if name is not None and meta.get("name") != name:
            continue
        if namespace is not None and meta.get("namespace") != namespace:
            continue
        out.append(o)
    return out


def one(objects: list[dict], kind: str, name: str | None = None,
        namespace: str | None = None) -> dict:
    found = find(objects, kind, name, namespace)
    assert len(found) == 1, f"want exactly one {kind} {namespace}/{name}, found {len(found)}"
    return found[0]


def sextant_deployment(objects: list[dict]) -> dict:
    return one(objects, "Deployment", "sextant", "sextant")


def sextant_container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "sextant")


def parse_args(args: list[str]) -> list[tuple[str, str | None]]:
    """`--name=value` pairs (the manifests' style: the overlays patch args by value)."""
    out = []
    for arg in args:
        match = re.fullmatch(r"--([a-z0-9][a-z0-9-]*)(?:=(.*))?", arg, re.S)
        assert match, f"container arg {arg!r} is not --name=value"
        out.append((match.group(1), match.group(2)))
    return out


def arg_value(container: dict, name: str) -> str | None:
    values = [v for n, v in parse_args(container.get("args", [])) if n == name]
    return values[-1] if values else None


def selector_matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def port_resolves(port, container_ports: list[dict]) -> bool:
    if isinstance(port, int):
        return any(p["containerPort"] == port for p in container_ports)
    return any(p.get("name") == port for p in container_ports)


def help_flags() -> set[str]:
    binary = sextant_binary()
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: build it first (hack/build.sh)")
    result = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    flags = set(re.findall(r"^\s+--([a-z0-9-]+)", result.stdout, re.M))
    assert "secure-port" in flags and "config" in flags, result.stdout
    return flags


def projected_files(pod_spec: dict, volume: dict) -> list[tuple[str, str, str, str, bool]]:
    """(path inside the volume, source kind, source name, key, optional) for the files a
    configMap/secret/projected volume holds when its sources list `items`."""
    out = []

    def add(kind: str, source: dict, name_key: str):
        name = source[name_key]
        items = source.get("items")
        assert items, (f"volume {volume['name']}: {kind} {name} without items (the tests "
                       "resolve files through items)")
        for item in items:
            out.append((item["path"], kind, name, item["key"], bool(source.get("optional"))))

    if "configMap" in volume:
        add("ConfigMap", volume["configMap"], "name")
    elif "secret" in volume:
        add("Secret", volume["secret"], "secretName")
    elif "projected" in volume:
        for source in volume["projected"]["sources"]:
            if "configMap" in source:
                add("ConfigMap", source["configMap"], "name")
            elif "secret" in source:
                add("Secret", source["secret"], "name")
            else:
                pytest.fail(f"volume {volume['name']}: unexpected projected source {source}")
    return out


def file_behind(pod_spec: dict, container: dict, path: str):
    """The (volume, mount, file tuple or None) a container path falls in; file is None for
    a directory volume such as emptyDir."""
    mounts = sorted(container.get("volumeMounts", []), key=lambda m: -len(m["mountPath"]))
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    for mount in mounts:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            volume = volumes[mount["name"]]
            inner = path[len(prefix):]
            if "emptyDir" in volume:
                return volume, mount, None
            for entry in projected_files(pod_spec, volume):
                if entry[0] == inner:
                    return volume, mount, entry
            pytest.fail(f"{path}: volume {volume['name']} (at {mount['mountPath']}) holds no "
                        f"file {inner}")
    pytest.fail(f"{path} is on no mounted volume (the root filesystem is read-only)")


def keda_client_certificate(objects: list[dict]) -> dict:
    found = [o for o in find(objects, "Certificate") if o["metadata"]["name"] == "sextant-keda-client"]
    assert len(found) == 1, "the cert-manager overlay issues Certificate sextant-keda-client"
    return found[0]


def example_files() -> list[pathlib.Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def example_objects() -> list[tuple[pathlib.Path, dict]]:
    out = []
    for path in example_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                out.append((path, doc))
    return out


def selector_string(sel: dict) -> str:
    """A metav1.LabelSelector as the HPA controller sends it (labels.Selector.String())."""
    assert set(sel) <= {"matchLabels", "matchExpressions"}, sel
    parts = [f"{k}={v}" for k, v in sel.get("matchLabels", {}).items()]
    for expr in sel.get("matchExpressions", []):
        key, op = expr["key"], expr["operator"]
        if op in ("In", "NotIn"):
            parts.append(f"{key} {op.lower()} ({','.join(sorted(expr['values']))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            pytest.fail(f"selector operator {op}")
    return ",".join(parts)


def example_metric_requests() -> list[tuple[str, str, str, str]]:
    """(source, namespace, metric, labelSelector) for every external metric the examples'
    HPAs and KEDA triggers name."""
    out = []
    for path, obj in example_objects():
        ns = obj.get("metadata", {}).get("namespace", "")
        where = f"{path.name}: {obj['kind']} {obj['metadata']['name']}"
        if obj["kind"] == "HorizontalPodAutoscaler":
            for metric in obj["spec"].get("metrics", []):
                if metric["type"] != "External":
                    continue
                m = metric["external"]["metric"]
                out.append((where, ns, m["name"], selector_string(m.get("selector", {}))))
        elif obj["kind"] == "ScaledObject":
            for trigger in obj["spec"]["triggers"]:
                if trigger["type"] in ("external", "external-push"):
                    md = trigger["metadata"]
                    out.append((where, ns, md["metric"], md.get("selector", "")))
    assert out, "the examples name no external metric"
    return out


# ---------------------------------------------------------------------------------------------
# 1. Every file parses; every kustomization renders; nothing is orphaned
# ---------------------------------------------------------------------------------------------


def all_yaml_files() -> list[pathlib.Path]:
    return sorted(list(MANIFESTS.rglob("*.yaml")) + list(MANIFESTS.rglob("*.yml")))


def referenced_files(kdir: pathlib.Path) -> set[pathlib.Path]:
    k = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    out = set()
    for entry in k.get("resources", []):
        out.add((kdir / entry).resolve())
    for patch in k.get("patches", []) + k.get("patchesStrategicMerge", []):
        path = patch.get("path") if isinstance(patch, dict) else patch
        if path:
            out.add((kdir / path).resolve())
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        for f in gen.get("files", []):
            out.add((kdir / f.split("=", 1)[-1]).resolve())
    return out


def test_manifest_tree_has_base_overlays_and_examples():
    dirs = {rel(d) for d in kustomization_dirs()}
    assert {"manifests", "manifests/base", "manifests/overlays/quickstart",
            "manifests/overlays/cert-manager"} <= dirs, dirs
    names = {p.name for p in example_files()}
    assert {"hpa-vllm-requests-waiting.yaml", "hpa-gpu-tensor-active.yaml",
            "keda-scaledobject-external-push.yaml", "karpenter-headroom.yaml"} <= names, names
    for doc in ("README.md", "examples/README.md"):
        assert (MANIFESTS / doc).is_file(), doc


@pytest.mark.parametrize("path", all_yaml_files(), ids=rel)
def test_every_yaml_document_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{rel(path)} holds no document"
    for doc in docs:
        if path.name == "kustomization.yaml":
            assert doc["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
            assert doc["kind"] == "Kustomization"
            assert "namespace" not in doc, (
                "a kustomize `namespace:` would move the kube-system RoleBinding")
        elif path == MANIFESTS / "base" / "config.yaml":
            assert isinstance(doc, dict) and "externalRules" in doc
        elif isinstance(doc, list):  # a JSON 6902 patch
            for op in doc:
                assert op["op"] in {"add", "remove", "replace", "move", "copy", "test"}, op
                assert op["path"].startswith("/"), op
        else:
            assert doc.get("apiVersion") and doc.get("kind"), f"{rel(path)}: {doc}"
            assert doc.get("metadata", {}).get("name"), f"{rel(path)}: {doc}"


@pytest.mark.parametrize("kdir", kustomization_dirs(), ids=rel)
def test_kustomization_renders_complete_objects(kdir):
    seen = set()
    for obj in rendered(kdir):
        kind = obj.get("kind")
        meta = obj.get("metadata", {})
        assert obj.get("apiVersion") and kind and meta.get("name"), obj
        assert kind in NAMESPACED_KINDS | CLUSTER_KINDS, f"unknown kind {kind}: classify it"
        if kind in NAMESPACED_KINDS:
            assert meta.get("namespace"), f"{kind} {meta['name']} names no namespace"
        else:
            assert "namespace" not in meta, f"cluster-scoped {kind} {meta['name']} has one"
        key = (kind, meta.get("namespace"), meta["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        assert meta.get("labels", {}).get("app.kubernetes.io/name") == "sextant", key


def test_every_manifest_file_is_used():
    used = set()
    for kdir in kustomization_dirs():
        for path in referenced_files(kdir):
            assert path.exists(), f"{rel(kdir)}/kustomization.yaml names missing {path}"
            used.add(path)
    for path in all_yaml_files():
        if path.name == "kustomization.yaml" or EXAMPLES in path.parents:
            continue
        assert path.resolve() in used, f"{rel(path)} is referenced by no kustomization"


# ---------------------------------------------------------------------------------------------
# 2. References between the rendered objects
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flags() -> set[str]:
    return help_flags()


@pytest.mark.parametrize("kdir", kustomization_dirs(), ids=rel)
def test_service_selects_the_pods_and_its_ports_resolve(kdir):
    objects = rendered(kdir)
    dep = sextant_deployment(objects)
    svc = one(objects, "Service", "sextant", "sextant")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert selector_matches(dep["spec"]["selector"]["matchLabels"], pod_labels)
    assert svc["spec"]["selector"] and selector_matches(svc["spec"]["selector"], pod_labels)
    pdb = one(objects, "PodDisruptionBudget", namespace="sextant")
    assert selector_matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"]["minAvailable"] == 1
    container_ports = sextant_container(dep)["ports"]
    by_name = {p["name"]: p for p in svc["spec"]["ports"]}
    for port in svc["spec"]["ports"]:
        assert port_resolves(port["targetPort"], container_ports), port
    assert by_name["https"]["port"] == 443 and by_name["https"]["targetPort"] == "https"
    assert by_name["grpc"]["port"] == 9443 and by_name["grpc"]["targetPort"] == "grpc"
    declared = {p["name"]: p["containerPort"] for p in container_ports}
    assert declared == {"https": 6443, "grpc": 9443}
    # Service port -> targetPort (a name) -> containerPort -> the flag that opens it.
    c = sextant_container(dep)
    assert arg_value(c, "secure-port") == str(declared[by_name["https"]["targetPort"]])
    assert arg_value(c, "grpc-port") == str(declared[by_name["grpc"]["targetPort"]])
    for port in svc["spec"]["ports"]:
        assert port.get("protocol", "TCP") == "TCP", port
    for spread in dep["spec"]["template"]["spec"].get("topologySpreadConstraints", []):
        assert selector_matches(spread["labelSelector"]["matchLabels"], pod_labels)


@pytest.mark.parametrize("kdir", kustomization_dirs(), ids=rel)
def test_apiservice_points_at_the_service(kdir):
    objects = rendered(kdir)
    api = one(objects, "APIService", "v1beta1.external.metrics.k8s.io")
    spec = api["spec"]
    assert (spec["group"], spec["version"]) == ("external.metrics.k8s.io", "v1beta1")
    assert spec["groupPriorityMinimum"] == 100 and spec["versionPriority"] == 100
    ref = spec["service"]
    svc = one(objects, "Service", ref["name"], ref["namespace"])
    assert ref["port"] == 443
    assert 443 in {p["port"] for p in svc["spec"]["ports"]}
    assert not (spec.get("insecureSkipTLSVerify") and spec.get("caBundle")), (
        "kube-apiserver rejects insecureSkipTLSVerify together with caBundle")
    quickstart = kdir.name == "quickstart"
    assert spec["insecureSkipTLSVerify"] is quickstart, (
        "certificate verification is skipped in overlays/quickstart only")
    if kdir.name == "cert-manager":
        inject = api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        ns, name = inject.split("/")
        cert = one(objects, "Certificate", name, ns)
        svc_dns = f"{ref['name']}.{ref['namespace']}.svc"
        assert svc_dns in cert["spec"]["dnsNames"]
        assert "server auth" in cert["spec"]["usages"]
        issuer = one(objects, "Issuer", cert["spec"]["issuerRef"]["name"], ns)
        ca_cert = one(objects, "Certificate", issuer["spec"]["ca"]["secretName"], ns)
        assert ca_cert["spec"]["isCA"] is True
        one(objects, "Issuer", ca_cert["spec"]["issuerRef"]["name"], ns)
        # KEDA's gRPC client certificate comes from the same CA Issuer, so the serving
        # Secret's ca.crt (--grpc-client-ca-file) verifies it.
        client = keda_client_certificate(objects)
        assert client["metadata"]["namespace"] == ns
        assert client["spec"]["issuerRef"] == cert["spec"]["issuerRef"]
        assert "client auth" in client["spec"]["usages"]
        assert "server auth" not in client["spec"]["usages"]


@pytest.mark.parametrize("kdir", kustomization_dirs(), ids=rel)
def test_rbac_binds_the_deployments_service_account(kdir):
    objects = rendered(kdir)
    dep = sextant_deployment(objects)
    ns = dep["metadata"]["namespace"]
    sa_name = dep["spec"]["template"]["spec"]["serviceAccountName"]
    one(objects, "ServiceAccount", sa_name, ns)
    one(objects, "Namespace", ns)

    def binds_sa(binding, name, namespace):
        return any(s["kind"] == "ServiceAccount" and s["name"] == name
                   and s.get("namespace") == namespace for s in binding["subjects"])

    for binding in find(objects, "RoleBinding") + find(objects, "ClusterRoleBinding"):
        ref = binding["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io"
        if ref["kind"] == "ClusterRole":
            assert find(objects, "ClusterRole", ref["name"]) or ref["name"] in SYSTEM_CLUSTER_ROLES
        else:
            bns = binding["metadata"]["namespace"]
            assert find(objects, "Role", ref["name"], bns) or (bns, ref["name"]) in SYSTEM_ROLES
        for s in binding["subjects"]:
            if s["kind"] == "ServiceAccount" and s.get("namespace") == ns:
                assert s["name"] == sa_name, f"{binding['metadata']['name']} binds {s}"

    delegator = one(objects, "ClusterRoleBinding", "sextant:system:auth-delegator")
    assert delegator["roleRef"]["name"] == "system:auth-delegator"
    assert binds_sa(delegator, sa_name, ns)
    reader = one(objects, "RoleBinding", namespace="kube-system")
    assert reader["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                 "name": "extension-apiserver-authentication-reader"}
    assert binds_sa(reader, sa_name, ns)
    role = one(objects, "ClusterRole", "sextant-external-metrics-reader")
    assert role["rules"] == [{"apiGroups": ["external.metrics.k8s.io"], "resources": ["*"],
                              "verbs": ["get", "list", "watch"]}]
    hpa_bindings = [b for b in find(objects, "ClusterRoleBinding")
                    if b["roleRef"]["name"] == "sextant-external-metrics-reader"]
    assert len(hpa_bindings) == 1
    assert binds_sa(hpa_bindings[0], "horizontal-pod-autoscaler", "kube-system")


@pytest.mark.parametrize("kdir", kustomization_dirs(), ids=rel)
def test_pod_is_hardened_and_probed(kdir):
    dep = sextant_deployment(rendered(kdir))
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    c = sextant_container(dep)
    assert c["image"].split(":")[0].split("/")[-1] == "sextant"
    psc, csc = pod["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 65532
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    assert csc["runAsNonRoot"] is True and csc["runAsUser"] == 65532
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"]["drop"] == ["ALL"] and not csc["capabilities"].get("add")
    assert csc["seccompProfile"]["type"] == "RuntimeDefault"
    assert not csc.get("privileged")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    for volume in pod["volumes"]:  # Pod Security "restricted" volume types
        assert set(volume) - {"name"} <= {"configMap", "secret", "projected", "emptyDir"}, volume
    res = c["resources"]
    assert res["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert res["limits"] == {"cpu": "1", "memory": "512Mi"}
    for probe_name, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = c[probe_name]["httpGet"]
        assert (get["scheme"], get["path"]) == ("HTTPS", path)
        assert port_resolves(get["port"], c["ports"]), f"{probe_name} port {get['port']}"
    ns = one(rendered(kdir), "Namespace", dep["metadata"]["namespace"])
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("kdir", kustomization_dirs(), ids=rel)
def test_container_flags_exist(kdir, flags):
    c = sextant_container(sextant_deployment(rendered(kdir)))
    assert not c.get("command"), "the image's ENTRYPOINT is the binary"
    names = [n for n, _ in parse_args(c["args"])]
    unknown = set(names) - flags
    assert not unknown, f"flags `sextant --help` does not list: {sorted(unknown)}"
    assert len(names) == len(set(names)), f"a flag given twice: {names}"
    # Required wiring.
    assert arg_value(c, "config") == "/etc/sextant/config.yaml"
    assert arg_value(c, "requestheader-client-ca-file") == "/etc/sextant/pki/requestheader-ca.crt"
    assert arg_value(c, "requestheader-allowed-names") == "front-proxy-client"
    assert arg_value(c, "prometheus-url")
    quickstart = kdir.name == "quickstart"
    assert (arg_value(c, "tls-cert-file") is None) is quickstart
    assert (arg_value(c, "tls-private-key-file") is None) is quickstart
    # KEDA's gRPC port: on, TLS with the serving pair (no separate gRPC pair), never
    # plaintext; client certificates required wherever a CA is mounted (all but quickstart).
    assert arg_value(c, "grpc-port") == "9443"
    assert "grpc-insecure" not in names
    assert arg_value(c, "grpc-tls-cert-file") is None
    assert arg_value(c, "grpc-tls-private-key-file") is None
    assert (arg_value(c, "grpc-client-ca-file") is None) is quickstart


@pytest.mark.parametrize("kdir", kustomization_dirs(), ids=rel)
def test_volumes_and_files_resolve(kdir):
    objects = rendered(kdir)
    dep = sextant_deployment(objects)
    ns = dep["metadata"]["namespace"]
    pod = dep["spec"]["template"]["spec"]
    c = sextant_container(dep)
    volume_names = [v["name"] for v in pod["volumes"]]
    assert len(volume_names) == len(set(volume_names))
    mounted = {m["name"] for m in c["volumeMounts"]}
    assert mounted <= set(volume_names), f"mounts without a volume: {mounted - set(volume_names)}"
    assert set(volume_names) <= mounted, "a volume nobody mounts"
    certificates = {(o["metadata"]["namespace"], o["spec"]["secretName"])
                    for o in find(objects, "Certificate")}
    for volume in pod["volumes"]:
        for path, kind, name, key, optional in projected_files(pod, volume):
            if kind == "ConfigMap":
                cm = one(objects, "ConfigMap", name, ns)
                assert optional or key in cm.get("data", {}), f"ConfigMap {name} lacks {key}"
            else:
                if kdir.name == "cert-manager":
                    assert (ns, name) in certificates, f"no Certificate makes Secret {name}"
                else:
                    assert (ns, name) in OPERATOR_SECRETS | certificates, name
                assert kdir.name != "quickstart", "the quickstart needs no Secret"
    # Every file a flag names is a file some volume holds; --cert-dir is writable.
    behind = {}
    for flag in ("config", "requestheader-client-ca-file", "tls-cert-file",
                 "tls-private-key-file", "grpc-client-ca-file", "grpc-tls-cert-file",
                 "grpc-tls-private-key-file"):
        value = arg_value(c, flag)
        if value is not None:
            volume, mount, entry = file_behind(pod, c, value)
            assert entry is not None, f"--{flag}={value} is on an emptyDir"
            behind[flag] = entry
    # The gRPC client CA is the serving Secret's own ca.crt: the CA that signed tls.crt (a
    # cert-manager CA Issuer writes it; README step 1 puts it there for your own CA).
    if "grpc-client-ca-file" in behind:
        _, kind, name, key, optional = behind["grpc-client-ca-file"]
        assert (kind, key, optional) == ("Secret", "ca.crt", False)
        assert name == behind["tls-cert-file"][2]
    volume, mount, entry = file_behind(pod, c, arg_value(c, "cert-dir") + "/apiserver.crt")
    assert "emptyDir" in volume and not mount.get("readOnly"), "--cert-dir must be writable"
    # The placeholder holds no data, so `kubectl apply -k` never erases the synced CA.
    placeholder = one(objects, "ConfigMap", "sextant-requestheader-ca", ns)
    assert not placeholder.get("data")


def test_quickstart_is_the_only_difference():
    """The quickstart overlay changes exactly: TLS flags, the Secret source, the APIService."""
    base = rendered(MANIFESTS / "base")
    quick = rendered(MANIFESTS / "overlays" / "quickstart")
    b_args = sextant_container(sextant_deployment(base))["args"]
    q_args = sextant_container(sextant_deployment(quick))["args"]
    removed = [a for a in b_args if a not in q_args]
    assert [a.split("=")[0] for a in removed] == ["--tls-cert-file", "--tls-private-key-file",
                                                  "--grpc-client-ca-file"]
    assert [a for a in q_args if a not in b_args] == []


def test_no_rendering_moves_the_kube_system_binding():
    for kdir in kustomization_dirs():
        bindings = find(rendered(kdir), "RoleBinding", namespace="kube-system")
        names = {b["metadata"]["name"] for b in bindings}
        assert names == {"sextant:extension-apiserver-authentication-reader"}, rel(kdir)


# ---------------------------------------------------------------------------------------------
# 3. The configuration and the metrics the examples use
# ---------------------------------------------------------------------------------------------


def rendered_config(objects: list[dict]) -> str:
    dep = sextant_deployment(objects)
    pod = dep["spec"]["template"]["spec"]
    volume, _, entry = file_behind(pod, sextant_container(dep), "/etc/sextant/config.yaml")
    _, kind, name, key, _ = entry
    return one(objects, kind, name, "sextant")["data"][key]


def run_validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(sextant_binary()), "validate", *args], capture_output=True,
                          text=True, timeout=120)


def test_configmap_config_validates(tmp_path):
    text = rendered_config(rendered(MANIFESTS / "base"))
    assert text == (MANIFESTS / "base" / "config.yaml").read_text()
    config = tmp_path / "config.yaml"
    config.write_text(text)
    result = run_validate("--config", str(config), "--namespace", EXAMPLE_NAMESPACE,
                          "--selector", "model_name=llama-3-8b")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": valid;" in result.stdout


def test_config_catalog_section_is_valid(tmp_path):
    """base/config.yaml's commented `catalog:` section, uncommented, shows the catalog's
    defaults (enabled, nvidia.com/gpu) and is valid config."""
    text = (MANIFESTS / "base" / "config.yaml").read_text()
    match = re.search(r"^#catalog:\n(?:#.*\n?)*", text, re.M)
    assert match, "config.yaml shows no commented catalog: section"
    block = "\n".join(line[1:] for line in match.group(0).splitlines())
    catalog = yaml.safe_load(block)["catalog"]
    assert catalog["enabled"] is True
    assert catalog["gpuHeadroom"]["resource"] == "nvidia.com/gpu"
    assert isinstance(catalog["gpuHeadroom"]["buffer"], int)
    assert set(catalog["disabled"]) <= CATALOG_NAMES
    assert "catalog" not in yaml.safe_load(text), "the section stays commented out"
    config = tmp_path / "catalog.yaml"
    config.write_text(block)
    result = run_validate("--config", str(config))
    assert result.returncode == 0, block + result.stdout + result.stderr


def test_examples_readme_static_nodepool():
    """examples/README.md's static NodePool section: the NodePool has replicas, and the
    scaler's RBAC grants what `kubectl scale` needs on that NodePool's scale subresource and
    reads external metrics through the base's ClusterRole."""
    text = (EXAMPLES / "README.md").read_text()
    docs = [d for b in re.findall(r"```yaml\n(.*?)```", text, re.S)
            for d in yaml.safe_load_all(b) if d is not None]
    pool = next(d for d in docs if d.get("kind") == "NodePool")
    assert pool["apiVersion"] == "karpenter.sh/v1"
    assert isinstance(pool["spec"]["replicas"], int)
    assert set(pool["spec"].get("limits", {})) <= {"nodes"}, "static NodePools: limits.nodes only"
    assert "weight" not in pool["spec"]
    name = pool["metadata"]["name"]
    role = next(d for d in docs if d.get("kind") == "ClusterRole")
    scale = next(r for r in role["rules"] if r["resources"] == ["nodepools/scale"])
    assert scale["apiGroups"] == ["karpenter.sh"] and scale["resourceNames"] == [name]
    assert {"get", "update", "patch"} <= set(scale["verbs"])
    job = next(d for d in docs if d.get("kind") == "CronJob")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["NODEPOOL"] == name
    sa = pod["serviceAccountName"]
    bound = {d["roleRef"]["name"] for d in docs
             if d.get("kind") in ("RoleBinding", "ClusterRoleBinding")
             and any(s["name"] == sa for s in d["subjects"])}
    base_roles = {o["metadata"]["name"] for o in find(rendered(MANIFESTS / "base"), "ClusterRole")}
    assert bound == {role["metadata"]["name"], "sextant-external-metrics-reader"}
    assert "sextant-external-metrics-reader" in base_roles


def test_examples_readme_signal_validates(tmp_path):
    """The customization example in examples/README.md (a signal replacing a catalog entry
    under the same name) is valid config and names only catalog entries."""
    text = (EXAMPLES / "README.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "signals:" in b]
    assert blocks, "examples/README.md shows no signals block"
    for block in blocks:
        config = tmp_path / "signals.yaml"
        config.write_text(block)
        result = run_validate("--config", str(config))
        assert result.returncode == 0, block + result.stderr
        names = {s["name"] for s in yaml.safe_load(block)["signals"]}
        assert names <= CATALOG_NAMES


def test_examples_reference_each_other_consistently():
    objects = example_objects()
    base = rendered(MANIFESTS / "base")
    svc = one(base, "Service", "sextant", "sextant")
    grpc = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "grpc")
    scaler_address = f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc:{grpc}"
    client_secret = keda_client_certificate(
        rendered(MANIFESTS / "overlays" / "cert-manager"))["spec"]["secretName"]
    by_file: dict[pathlib.Path, list[dict]] = {}
    for path, obj in objects:
        by_file.setdefault(path, []).append(obj)
        meta = obj["metadata"]
        assert obj["apiVersion"] and obj["kind"] and meta["name"], obj
        if obj["kind"] in NAMESPACED_KINDS:
            assert meta.get("namespace") == EXAMPLE_NAMESPACE, f"{path.name}: {meta}"
    for path, objs in by_file.items():
        for obj in objs:
            if obj["kind"] in ("HorizontalPodAutoscaler", "ScaledObject"):
                ref = obj["spec"]["scaleTargetRef"]
                assert ref.get("kind", "Deployment") == "Deployment"
                if obj["kind"] == "HorizontalPodAutoscaler":
                    assert obj["apiVersion"] == "autoscaling/v2"
                    assert 1 <= obj["spec"]["minReplicas"] <= obj["spec"]["maxReplicas"]
                # The plain HPA examples scale your own Deployment; the others bring theirs.
                if path.name not in EXTERNAL_TARGETS:
                    one(objs, "Deployment", ref["name"], EXAMPLE_NAMESPACE)
            if obj["kind"] == "ScaledObject":
                assert obj["spec"]["minReplicaCount"] == 0
                for trigger in obj["spec"]["triggers"]:
                    md = trigger["metadata"]
                    assert trigger["type"] == "external-push"
                    assert md["scalerAddress"] == scaler_address
                    assert all(isinstance(v, str) for v in md.values()), "KEDA metadata: strings"
                    float(md["target"]), float(md["activationTarget"])
                    assert md.get("unsafeSsl", "false") == "false"
                    # The gRPC port wants TLS and a client certificate: a TriggerAuthentication
                    # in the same file hands KEDA the CA and the client pair, from the Secret
                    # the cert-manager overlay's client Certificate writes.
                    auth = one(objs, "TriggerAuthentication",
                               trigger["authenticationRef"]["name"], EXAMPLE_NAMESPACE)
                    refs = {r["parameter"]: (r["name"], r["key"])
                            for r in auth["spec"]["secretTargetRef"]}
                    assert refs == {"caCert": (client_secret, "ca.crt"),
                                    "tlsClientCert": (client_secret, "tls.crt"),
                                    "tlsClientKey": (client_secret, "tls.key")}, refs
            if obj["kind"] == "Deployment":
                labels = obj["spec"]["template"]["metadata"]["labels"]
                assert selector_matches(obj["spec"]["selector"]["matchLabels"], labels)
                spec = obj["spec"]["template"]["spec"]
                for c in spec["containers"]:
                    for probe in ("readinessProbe", "livenessProbe"):
                        if probe in c:
                            assert port_resolves(c[probe]["httpGet"]["port"], c.get("ports", []))
                pc = spec.get("priorityClassName")
                if pc:
                    priority = one(objs, "PriorityClass", pc)
                    assert -10 <= priority["value"] < 0, "below every pod, not expendable"
                    assert priority.get("preemptionPolicy") == "Never"
                    gpus = spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
                    assert int(gpus) >= 1
    # The headroom placeholder is what the headroom HPA scales.
    karpenter = by_file[EXAMPLES / "karpenter-headroom.yaml"]
    hpa = one(karpenter, "HorizontalPodAutoscaler")
    placeholder = one(karpenter, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    assert placeholder["spec"]["template"]["spec"]["priorityClassName"]
    metric = hpa["spec"]["metrics"][0]["external"]
    assert metric["metric"]["name"] == "gpu-headroom-deficit"
    assert metric["target"] == {"type": "AverageValue", "averageValue": "1"}
    # The deficit's selector leaves the placeholder's own Pending pods out (through
    # kube_pod_labels): it names the placeholder pods' label with NotIn.
    pod_labels = placeholder["spec"]["template"]["metadata"]["labels"]
    exprs = metric["metric"]["selector"]["matchExpressions"]
    assert {"key": "app.kubernetes.io/name", "operator": "NotIn",
            "values": [pod_labels["app.kubernetes.io/name"]]} in exprs
    gpus = placeholder["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpus["nvidia.com/gpu"] == 1, "one placeholder pod per GPU of deficit (AverageValue 1)"


# ---------------------------------------------------------------------------------------------
# 4. The Deployment's container, run as a local process
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend():
    """A real Prometheus scraping the synthetic exporter, whose pods are in the examples'
    namespace; yields the Prometheus port once vLLM and DCGM series are in."""
    if not os.path.exists(ph.PROMETHEUS):
        pytest.skip(f"{ph.PROMETHEUS} is not installed")
    exporter = prometheus = None
    try:
        exporter, exporter_port = ph.start_exporter(
            ["--namespace", EXAMPLE_NAMESPACE, "--models", "llama-3-8b,mistral-7b"],
            python="/usr/bin/python3")
        prometheus, prom_port, _ = ph.start_prometheus([exporter_port])
        ph.wait_for_series(prom_port, 'vllm:num_requests_waiting{namespace="%s"}'
                           % EXAMPLE_NAMESPACE, timeout=60)
        ph.wait_for_series(prom_port, "DCGM_FI_DEV_GPU_UTIL", timeout=60)
        yield prom_port
    finally:
        ph.stop(prometheus)
        ph.stop(exporter)


_CONFIG_SERVED: dict[int, set[str]] = {}


def config_served_names(prom_port: int) -> set[str]:
    """Names the base config.yaml's rules and signals serve, by series discovery
    (`sextant validate` against the real Prometheus)."""
    if prom_port not in _CONFIG_SERVED:
        fd, name = tempfile.mkstemp(prefix="sextant-config-", suffix=".yaml")
        os.close(fd)
        config = pathlib.Path(name)
        config.write_text(rendered_config(rendered(MANIFESTS / "base")))
        try:
            result = run_validate("--config", str(config), "--prometheus-url",
                                  f"http://127.0.0.1:{prom_port}", "--namespace",
                                  EXAMPLE_NAMESPACE)
        finally:
            config.unlink()
        assert result.returncode == 0, result.stdout + result.stderr
        _CONFIG_SERVED[prom_port] = set(
            re.findall(r"^\s*(?:metric|signal) (\S+)", result.stdout, re.M))
    return _CONFIG_SERVED[prom_port]


def test_examples_use_metrics_the_config_serves(backend):
    """Series discovery (`sextant validate` against the real Prometheus) finds every metric
    the examples name, except catalog names."""
    served = config_served_names(backend)
    assert {"vllm-prompt-tokens-per-second", "vllm-requests-waiting-p90"} <= served, served
    for where, _, metric, _ in example_metric_requests():
        assert metric in served | CATALOG_NAMES, (
            f"{where} names {metric}: neither served by manifests/base/config.yaml nor a "
            f"catalog name; served: {sorted(served)}")


def materialize(objects: list[dict], root: pathlib.Path, pki: Pki) -> dict[str, pathlib.Path]:
    """Writes what the Deployment's volumes would hold under `root`; returns the container
    mount path -> local directory map."""
    dep = sextant_deployment(objects)
    ns = dep["metadata"]["namespace"]
    pod = dep["spec"]["template"]["spec"]
    c = sextant_container(dep)
    volumes = {v["name"]: v for v in pod["volumes"]}
    # What Secret sextant-serving-cert holds: the serving pair and the CA that signed it.
    secrets = {"tls.crt": pki.server.cert.read_text(), "tls.key": pki.server.key.read_text(),
               "ca.crt": pki.server_ca.cert.read_text()}
    out = {}
    for mount in c["volumeMounts"]:
        local = root / mount["mountPath"].lstrip("/")
        local.mkdir(parents=True, exist_ok=True)
        out[mount["mountPath"]] = local
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            continue
        for path, kind, name, key, optional in projected_files(pod, volume):
            if kind == "ConfigMap" and name == "sextant-requestheader-ca":
                content = pki.front_proxy_ca.cert.read_text()  # what the sync script copies
            elif kind == "ConfigMap":
                content = one(objects, "ConfigMap", name, ns)["data"][key]
            else:
                content = secrets[key]
            target = local / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        for p in sorted(local.rglob("*"), reverse=True):  # read-only, as mounted
            p.chmod(0o555 if p.is_dir() else 0o444)
    return out


def local_args(container: dict, mounts: dict[str, pathlib.Path], prom_port: int,
               grpc_port: int) -> list[str]:
    """The container's args, runnable here: --secure-port 0 (SextantProcess reads the port
    from the log), --grpc-port a free local port, Prometheus the local one, and every path
    under a mount mapped onto the local copy of that volume. Every file must then exist."""
    out = []
    for name, value in parse_args(container["args"]):
        if name == "secure-port":
            value = "0"
        elif name == "grpc-port":
            value = str(grpc_port)
        elif name == "prometheus-url":
            value = f"http://127.0.0.1:{prom_port}"
        elif value is not None:
            for mount_path, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
                if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                    value = str(local) + value[len(mount_path.rstrip("/")):]
                    break
        out.append(f"--{name}" if value is None else f"--{name}={value}")
    return out


def wait_ready(proc: SextantProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = proc.request("GET", "/readyz", timeout=5).status
        if status == 200:
            return
        assert time.monotonic() < deadline, f"/readyz stayed {status}; log:\n{proc.log()}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def keda_pb(tmp_path_factory):
    """Python stubs of server/proto/externalscaler.proto (KEDA's external scaler API)."""
    out = tmp_path_factory.mktemp("keda-stubs")
    proto_dir = SOURCE_DIR / "server" / "proto"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}",
                    f"--python_out={out}", f"--grpc_python_out={out}",
                    str(proto_dir / "externalscaler.proto")], check=True)
    sys.path.insert(0, str(out))
    try:
        return (importlib.import_module("externalscaler_pb2"),
                importlib.import_module("externalscaler_pb2_grpc"))
    finally:
        sys.path.remove(str(out))


def keda_trigger() -> tuple[str, dict]:
    """(namespace, metadata) of the KEDA example's trigger, as KEDA passes them."""
    for path, obj in example_objects():
        if obj["kind"] == "ScaledObject":
            return obj["metadata"]["namespace"], dict(obj["spec"]["triggers"][0]["metadata"])
    pytest.fail("no ScaledObject among the examples")


def check_grpc_port(proc: SextantProcess, port: int, pb, root_ca: bytes,
                    client_pair, client_ca_required: bool) -> None:
    """KEDA's calls on the port the args open: GetMetricSpec and GetMetrics for the example
    trigger, over TLS verified against `root_ca` (as `caCert`), presenting `client_pair`
    (tlsClientCert/tlsClientKey) when given; without a client certificate the call must fail
    when one is required."""
    msgs, svc = pb
    deadline = time.monotonic() + 15
    while "KEDA external scaler (gRPC) on" not in proc.log():
        assert time.monotonic() < deadline, f"gRPC listener not up; log:\n{proc.log()}"
        time.sleep(0.05)
    ns, md = keda_trigger()
    ref = msgs.ScaledObjectRef(name="vllm-llama-3-8b", namespace=ns, scalerMetadata=md)
    options = [("grpc.ssl_target_name_override", "localhost")]

    def channel(pair):
        creds = grpc.ssl_channel_credentials(
            root_certificates=root_ca,
            private_key=pair.key.read_bytes() if pair else None,
            certificate_chain=pair.cert.read_bytes() if pair else None)
        return grpc.secure_channel(f"127.0.0.1:{port}", creds, options=options)

    with channel(client_pair) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        stub = svc.ExternalScalerStub(ch)
        spec = stub.GetMetricSpec(ref, timeout=10)
        assert [s.metricName for s in spec.metricSpecs] == [md["metric"]]
        assert spec.metricSpecs[0].targetSizeFloat == float(md["target"])
        deadline = time.monotonic() + 30
        while True:
            got = stub.GetMetrics(msgs.GetMetricsRequest(scaledObjectRef=ref,
                                                         metricName=md["metric"]), timeout=10)
            if got.metricValues and got.metricValues[0].metricValueFloat > 0:
                break
            assert time.monotonic() < deadline, f"GetMetrics: {got}"
            time.sleep(0.5)
    if client_ca_required:
        with channel(None) as ch:
            with pytest.raises(grpc.RpcError) as err:
                svc.ExternalScalerStub(ch).GetMetricSpec(ref, timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value


@pytest.mark.parametrize("kdir_name", ["base", "overlays/quickstart"])
def test_deployment_args_serve_the_examples(tmp_path, backend, keda_pb, kdir_name):
    objects = rendered(MANIFESTS / kdir_name)
    c = sextant_container(sextant_deployment(objects))
    pki = Pki(tmp_path / "pki")
    root = tmp_path / "root"
    mounts = materialize(objects, root, pki)
    grpc_port = ph.free_port()
    args = local_args(c, mounts, backend, grpc_port)
    try:
        proc = SextantProcess(args, tmp_path / "sextant.log", cwd=root,
                              ca_file=pki.server_ca.cert if kdir_name == "base" else None)
        with proc:
            # KEDA over gRPC. Base: the serving pair, and a client certificate from the
            # serving CA (what the cert-manager overlay's sextant-keda-client holds).
            # Quickstart: the self-signed pair from --cert-dir, no client certificate.
            if kdir_name == "base":
                keda = pki._leaf("keda", "/CN=keda", pki.server_ca,
                                 "extendedKeyUsage=clientAuth\n")
                check_grpc_port(proc, grpc_port, keda_pb, pki.server_ca.cert.read_bytes(),
                                keda, client_ca_required=True)
            else:
                cert_dir = pathlib.Path(arg_value(c, "cert-dir"))
                self_signed = mounts["/tmp"] / cert_dir.relative_to("/tmp") / "apiserver.crt"
                check_grpc_port(proc, grpc_port, keda_pb, self_signed.read_bytes(), None,
                                client_ca_required=False)
            # The kubelet's probes: HTTPS, no client certificate.
            for probe in ("livenessProbe", "readinessProbe"):
                path = c[probe]["httpGet"]["path"]
                if probe == "readinessProbe":
                    wait_ready(proc)
                assert proc.request("GET", path).status == 200, path
            if kdir_name == "overlays/quickstart":
                cert_dir = pathlib.Path(arg_value(c, "cert-dir"))
                assert (mounts["/tmp"] / cert_dir.relative_to("/tmp") / "apiserver.crt").exists()
            # The aggregator: front-proxy client certificate plus identity headers.
            headers = {"X-Remote-User": "system:serviceaccount:kube-system:"
                                        "horizontal-pod-autoscaler",
                       "X-Remote-Group": "system:serviceaccounts"}
            # Rules and signals of config.yaml answer with the selector's labels; catalog
            # entries with one item without labels. Every example must answer with items.
            configured = config_served_names(backend)
            asked = 0
            for where, ns, metric, selector in example_metric_requests():
                query = urllib.parse.urlencode({"labelSelector": selector}) if selector else ""
                path = (f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}"
                        + (f"?{query}" if query else ""))
                deadline = time.monotonic() + 30
                while True:
                    resp = proc.request("GET", path, cert=pki.front_proxy, headers=headers)
                    items = resp.json().get("items") if resp.status == 200 else None
                    if items:
                        break
                    assert time.monotonic() < deadline, (
                        f"{where}: {path} -> {resp.status} {resp.body[:300]!r}")
                    time.sleep(0.5)
                for item in items:
                    assert item["metricName"] == metric
                    if metric in configured:
                        for pair in filter(None, selector.split(",")):
                            k, v = pair.split("=")
                            assert item["metricLabels"].get(k) == v, item
                    else:
                        assert len(items) == 1 and not item.get("metricLabels"), items
                asked += 1
            assert asked >= 2
    finally:
        for p in root.rglob("*"):  # let pytest clean up the read-only tree
            p.chmod(0o755 if p.is_dir() else 0o644)


# ---------------------------------------------------------------------------------------------
# 5. The documentation's snippets
# ---------------------------------------------------------------------------------------------


def test_readme_overlay_example_renders(tmp_path):
    """manifests/README.md's own overlay (image, Prometheus URL patch) and its "With KEDA"
    patch render against the real manifests."""
    text = (MANIFESTS / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    overlay = next(b for b in blocks if b.startswith("# deploy/sextant/kustomization.yaml"))
    (tmp_path / "manifests").symlink_to(MANIFESTS)
    work = tmp_path / "deploy" / "sextant"
    work.mkdir(parents=True)
    (work / "kustomization.yaml").write_text(overlay)
    objects = render(work)
    c = sextant_container(sextant_deployment(objects))
    assert c["image"] == "registry.example.com/platform/sextant:v0.1.0"
    assert arg_value(c, "prometheus-url") == "http://thanos-query.monitoring.svc:10902"

    keda = next(b for b in blocks if "$patch: delete" in b)
    keda_dir = tmp_path / "keda"
    keda_dir.mkdir()
    (keda_dir / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - ../manifests/base\n" + keda.split("\n", 1)[1])
    objects = render(keda_dir)
    assert not find(objects, "APIService")
    one(objects, "Deployment", "sextant", "sextant")


# ---------------------------------------------------------------------------------------------
# 6. The Dockerfile
# ---------------------------------------------------------------------------------------------


def dockerfile_text() -> str:
    return DOCKERFILE.read_text()


def runtime_packages() -> list[str]:
    match = re.search(r'^ARG RUNTIME_PACKAGES="([^"]+)"', dockerfile_text(), re.M)
    assert match, "Dockerfile: no ARG RUNTIME_PACKAGES=\"...\" default"
    return match.group(1).split()


def builder_packages() -> list[str]:
    text = dockerfile_text()
    match = re.search(r"apt-get install -y --no-install-recommends \\\n(.*?)\n &&", text, re.S)
    assert match, "Dockerfile: builder's apt-get install not found"
    return match.group(1).replace("\\", " ").split()


def apt_lists_present() -> bool:
    lists = pathlib.Path("/var/lib/apt/lists")
    return any(lists.glob("*_Packages")) or any(lists.glob("*_Packages.*"))


def test_dockerfile_shape():
    text = dockerfile_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", text, re.M)
    assert stages == [("debian:${DEBIAN_RELEASE}", "builder"),
                      ("debian:${DEBIAN_RELEASE}-slim", "runtime")], stages
    assert re.search(r"^ARG DEBIAN_RELEASE=bookworm$", text, re.M)
    assert "-DSEXTANT_BUILD_TESTS=OFF" in text
    assert re.search(r"^USER 65532:65532$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/sextant"\]$', text, re.M)
    dep = sextant_deployment(rendered(MANIFESTS / "base"))
    ports = {p["containerPort"] for p in sextant_container(dep)["ports"]}
    exposed = {int(p) for p in re.search(r"^EXPOSE (.*)$", text, re.M).group(1).split()}
    assert exposed == ports
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532
    ignore = (SOURCE_DIR / ".dockerignore").read_text().split()
    assert "build/" in ignore and ".git/" in ignore


def test_dockerfile_builder_packages_are_install_deps_build_part():
    install = (SOURCE_DIR / "hack" / "install-deps.sh").read_text()
    listed = set(re.search(r"PACKAGES=\((.*?)\)", install, re.S).group(1).split())
    extra = set(builder_packages()) - listed
    assert not extra, f"builder installs packages hack/install-deps.sh does not: {extra}"


def test_dockerfile_packages_exist_in_debian():
    if not shutil.which("apt-cache") or not apt_lists_present():
        pytest.skip("no apt lists here (run apt-get update)")
    packages = runtime_packages() + builder_packages()
    result = subprocess.run(["apt-cache", "policy", *packages], capture_output=True, text=True,
                            timeout=120)
    found = {}
    current = None
    for line in result.stdout.splitlines():
        if not line.startswith(" ") and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:"):
            found[current] = line.split(":", 1)[1].strip()
    missing = [p for p in packages if found.get(p, "(none)") == "(none)"]
    assert not missing, f"not in the apt archive: {missing}\n{result.stdout}"


def test_dockerfile_runtime_packages_cover_the_binary():
    """The Dockerfile's own build-time check, run here on the binary under test."""
    if not shutil.which("dpkg") or not shutil.which("ldd"):
        pytest.skip("needs dpkg and ldd (Debian)")
    text = dockerfile_text()
    start = text.index("RUN set -eu; \\\n    bin=/out/usr/local/bin/sextant")
    end = text.index("\n\n", start)
    script = text[start + len("RUN "):end].replace("\\\n", "")
    script = script.replace("bin=/out/usr/local/bin/sextant", f"bin={sextant_binary()}")
    env = {**os.environ, "RUNTIME_PACKAGES": " ".join(runtime_packages())}
    result = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # And the check does catch a missing package.
    env["RUNTIME_PACKAGES"] = " ".join(p for p in runtime_packages() if p != "libyaml-cpp0.7")
    result = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and "libyaml-cpp0.7" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# 7. hack/sync-requestheader-ca.sh against a stand-in kubectl
# ---------------------------------------------------------------------------------------------

FAKE_KUBECTL = r'''#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
rec = {"args": args}
state = json.load(open(os.environ["FAKE_STATE"]))
def done(code=0, out=""):
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(rec) + "\n")
    sys.stdout.write(out)
    sys.exit(code)
if args[:2] == ["get", "configmap"] and "extension-apiserver-authentication" in args:
    field = [a for a in args if a.startswith("jsonpath=")][0].split(".data.")[1].rstrip("}")
    done(0, state["source"].get(field, ""))
if args[:2] == ["get", "configmap"]:
    done(0 if state["configmap_exists"] else 1)
if args[:2] == ["get", "deployment"]:
    done(0 if state["deployment_exists"] else 1)
if args[:2] == ["patch", "configmap"]:
    rec["patch"] = json.loads(args[args.index("-p") + 1])
    done()
if args[:2] == ["create", "configmap"]:
    spec = [a for a in args if a.startswith("--from-file=")][0].split("=", 1)[1]
    key, path = spec.split("=", 1)
    rec["created"] = {key: open(path).read()}
    done()
if args[0] in ("label", "rollout"):
    done()
done(3)
'''


def run_sync(tmp_path: pathlib.Path, state: dict, *args: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "state.json").write_text(json.dumps(state))
    log = tmp_path / "kubectl.log"
    log.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "FAKE_STATE": str(tmp_path / "state.json"), "FAKE_LOG": str(log)}
    result = subprocess.run(["bash", str(SYNC_SCRIPT), *args], env=env, capture_output=True,
                            text=True, timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return result, calls


def sync_state(pki: Pki, **overrides) -> dict:
    state = {"source": {"requestheader-client-ca-file": pki.front_proxy_ca.cert.read_text(),
                        "requestheader-allowed-names": '["front-proxy-client"]',
                        "requestheader-username-headers": '["X-Remote-User"]'},
             "configmap_exists": True, "deployment_exists": True}
    state.update(overrides)
    return state


@pytest.fixture(scope="module")
def sync_pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("sync-pki"))


def test_sync_script_patches_the_placeholder(tmp_path, sync_pki):
    base = rendered(MANIFESTS / "base")
    dep = sextant_deployment(base)
    pod = dep["spec"]["template"]["spec"]
    _, _, (_, _, cm_name, key, _) = file_behind(pod, sextant_container(dep),
                                                "/etc/sextant/pki/requestheader-ca.crt")
    result, calls = run_sync(tmp_path, sync_state(sync_pki))
    assert result.returncode == 0, result.stderr
    patch = [c for c in calls if c["args"][:2] == ["patch", "configmap"]]
    assert len(patch) == 1
    assert patch[0]["args"][2:5] == ["-n", "sextant", cm_name]
    ca = sync_pki.front_proxy_ca.cert.read_text()
    assert patch[0]["patch"] == {"data": {key: ca.rstrip("\n") + "\n"}}
    restart = ["rollout", "restart", "-n", "sextant", "deployment/sextant"]
    assert restart in [c["args"] for c in calls]
    assert "front-proxy-client" in result.stdout
    assert not any(c["args"][0] == "apply" for c in calls), "never kubectl apply"


def test_sync_script_creates_a_missing_configmap(tmp_path, sync_pki):
    result, calls = run_sync(tmp_path, sync_state(sync_pki, configmap_exists=False,
                                                  deployment_exists=False), "--no-restart")
    assert result.returncode == 0, result.stderr
    created = [c for c in calls if c["args"][:2] == ["create", "configmap"]]
    assert len(created) == 1 and "--save-config" not in created[0]["args"]
    ca = sync_pki.front_proxy_ca.cert.read_text()
    assert created[0]["created"] == {"requestheader-ca.crt": ca.rstrip("\n") + "\n"}
    assert not any(c["args"][0] == "rollout" for c in calls)


def test_sync_script_refuses_a_cluster_without_aggregation(tmp_path, sync_pki):
    state = sync_state(sync_pki)
    state["source"]["requestheader-client-ca-file"] = ""
    result, calls = run_sync(tmp_path, state)
    assert result.returncode == 1
    assert "aggregation layer" in result.stderr
    assert not any(c["args"][0] in ("patch", "create", "rollout") for c in calls)
