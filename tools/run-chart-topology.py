#!/usr/bin/env python3
"""Starts the Microservices topology of the Helm chart helm/utpost as local processes, one per
pod, from the rendered manifests themselves, and checks that letters flow end to end.

The chart is rendered with helm/utpost/ci/topology-values.yaml: two ledger shards (Oslo
kommune on shard 0, every other organisation on the default shard 1), registry, router,
courier, print, and mailbox-sim as the mailbox and print provider. Every pod of every
StatefulSet and Deployment runs as its own process, at the replicas the values give (each
ledger shard, two routers, two couriers, ...): nine processes, no replica left out.

Each pod gets a directory that stands in for its container's root file system:
- every volume is laid out at its mountPath: the ConfigMap (utpost.yaml), the Secrets in the
  kubelet's layout (files behind a ..data symlink, with the volume's defaultMode), filled from
  a dev PKI made once by `utpost --target=ledger,mailbox-sim` on a scratch directory as an
  operator would fill them from theirs (server certificate -> tls.crt, tls.key, ca.crt;
  component certificates; kek-*.key; the print provider's certificate and the simulated
  providers' keys); emptyDirs and PersistentVolumeClaims are empty directories;
- the container's command and args run unchanged except for what one machine needs, which is
  also all that utpost.yaml may differ in from the ConfigMap (checked): the path prefixes
  /etc/utpost and /var/lib/utpost move into the pod directory; every Service, headless-Service
  and pod DNS name with its port, and each 0.0.0.0:<containerPort> listen address, becomes
  127.0.0.1:<free port> (one map for all pods, so an address means the same process
  everywhere; a Service that selects several pods stands for its first, e.g. the ledger
  Service for shard 0); $(VAR) in args expands from the container's env as the kubelet does
  it ($(POD_NAME): the pod's name).

Then, in order, failing with a clear message if any step does not hold:
- every process's health port (config health.listen, what the chart's gRPC probes ask)
  answers grpc.health.v1.Health/Check SERVING (a minimal plaintext HTTP/2 client below);
- the registry, empty without dev_pki, gets the dev providers and recipients with
  `utpostctl registry import`, as Oslo kommune (config.registry.administrators);
- Oslo kommune at its shard and Bergen kommune through the ledger Service (shard 0, the wrong
  one: utpostctl follows the redirect) each send, with `utpostctl send`, a letter to a
  digital mailbox (15076500565), a person reserved against digital mail (02028234530) and an
  organisation inbox (921837003); within 60 s each is DELIVERED_DIGITALLY or READ in the
  mailbox, PRINTED, and DELIVERED_DIGITALLY or READ in the organisation inbox;
- the redirect: Oslo kommune's `utpostctl list` at shard 1 shows its letters, which only
  shard 0 holds, and each shard's /metrics counts the FAILED_PRECONDITION answers it gave;
- SIGTERM to every process at once: each exits 0 within drainTimeoutSeconds.
On a failure the tail of every process's log is printed. Processes are killed and the
temporary directory removed whatever happens.

Not reproduced: the pods' uid 10001 and fsGroup, the read-only root file system, resource
limits, the image's environment (the processes inherit this script's, plus the container's
env), and the network between pods (everything is on 127.0.0.1).

Binaries from the build directory: services/utpost/utpost and clients/cli/utpostctl. helm
as tools/check-helm.py installs it (tools/helmlib.py). Needs python3-yaml.

Usage: run-chart-topology.py [repository root] [build directory (default: <root>/build)]
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import yaml
except ImportError:
    print("run-chart-topology: the Python yaml module is missing: install python3-yaml "
          "(apt-get install python3-yaml)", file=sys.stderr)
    sys.exit(1)

# tools/helmlib.py beside this file; no __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helmlib import (NAMESPACE, RELEASE, HelmError, deep_merge, get, helm_binary,  # noqa: E402
                     template)

VALUES_FILE = "topology-values.yaml"
# The prefixes of the paths in the pods that move into a pod's directory.
POD_PATH_PREFIXES = ("/etc/utpost", "/var/lib/utpost")

OSLO = "NO958935420"
BERGEN = "NO964338531"
MAILBOX, RESERVED, NO_MAILBOX, ORG_INBOX = "15076500565", "02028234530", "17059121030", "921837003"
# The dev providers and recipients (services/registry/dev_seed.h), as `registry import` reads them.
PROVIDERS = [("dev", "utpost dev mailbox", "high"),
             ("dev-substantial", "utpost dev mailbox (substantial only)", "substantial"),
             ("dev-print", "utpost dev print", "high")]
RECIPIENTS = [
    {"kind": "person", "id": MAILBOX, "mailbox_provider": "dev", "mailbox_address": "kari.nordmann@dev",
     "postal_name": "Kari Nordmann", "postal_lines": ["Storgata 1"], "postal_code": "0155",
     "postal_city": "Oslo"},
    {"kind": "person", "id": RESERVED, "reserved": True, "postal_name": "Ola Nordmann",
     "postal_lines": ["Kongens gate 2"], "postal_code": "0153", "postal_city": "Oslo"},
    {"kind": "person", "id": NO_MAILBOX, "postal_name": "Per Hansen", "postal_lines": ["Bryggen 3"],
     "postal_code": "5003", "postal_city": "Bergen"},
    {"kind": "organisation", "id": ORG_INBOX, "mailbox_provider": "dev",
     "mailbox_address": "post@921837003.dev"},
]
LETTER_WAIT_SECONDS = 60
START_WAIT_SECONDS = 30
LOG_TAIL_LINES = 40


class Failure(Exception):
    pass


def fail(message):
    raise Failure(message)


def say(message):
    print(f"run-chart-topology: {message}", flush=True)


def free_port(taken):
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- gRPC health over plaintext HTTP/2 -------------------------------------------------------

def _frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _literal(name, value):
    # HPACK: literal header field without indexing, new name, no Huffman coding (RFC 7541 6.2.2).
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


HEALTH_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def grpc_health(port, timeout=1.0):
    """What grpc.health.v1.Health/Check answers for the service "" on 127.0.0.1:port in
    plaintext, as the kubelet's gRPC probe asks: "SERVING", "NOT_SERVING", ..., or None when
    nothing (or no health status) answers."""
    headers = b"".join(_literal(n, v) for n, v in (
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/grpc.health.v1.Health/Check"),
        (b":authority", f"127.0.0.1:{port}".encode()), (b"content-type", b"application/grpc"),
        (b"te", b"trailers")))
    request = b"\x00\x00\x00\x00\x00"  # an uncompressed, empty HealthCheckRequest
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0, b"")
                      + _frame(1, 0x4, 1, headers) + _frame(0, 0x1, 1, request))
            buffer = b""
            while True:
                while len(buffer) < 9 or len(buffer) < 9 + int.from_bytes(buffer[:3], "big"):
                    chunk = s.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    buffer += chunk
                length = int.from_bytes(buffer[:3], "big")
                kind, flags = buffer[3], buffer[4]
                stream = int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
                payload, buffer = buffer[9:9 + length], buffer[9 + length:]
                if kind == 4 and not flags & 0x1:
                    s.sendall(_frame(4, 0x1, 0, b""))  # SETTINGS ack
                elif kind == 0 and stream == 1:
                    data += payload
                if kind in (3, 7) or (kind in (0, 1) and stream == 1 and flags & 0x1):
                    break  # RST_STREAM, GOAWAY, or the end of the response
    except OSError:
        return None
    if len(data) < 5:
        return None
    message = data[5:5 + int.from_bytes(data[1:5], "big")]
    # HealthCheckResponse: field 1 (status) a varint; absent is 0, UNKNOWN.
    status = message[1] if len(message) >= 2 and message[0] == 0x08 else 0
    return HEALTH_STATUS.get(status, str(status))


# --- pods ----------------------------------------------------------------------------------

class Pod:
    """One pod of a rendered workload, as a local process."""

    def __init__(self, workload, name, template, service_name):
        self.workload = workload            # e.g. StatefulSet/utpost-ledger
        self.name = name                    # e.g. utpost-ledger-1
        self.spec = template["spec"]
        self.labels = get(template, "metadata.labels", {}) or {}
        self.component = self.labels.get("app.kubernetes.io/component", "")
        self.service_name = service_name    # the StatefulSet's serviceName, else None
        containers = self.spec.get("containers") or []
        if len(containers) != 1 or self.spec.get("initContainers"):
            fail(f"{name}: expected one container and no init containers")
        self.container = containers[0]
        self.claims = set()
        self.root = None
        self.ports = {}        # container port name -> local port
        self.container_ports = {p["name"]: p["containerPort"] for p in self.container.get("ports", [])}
        self.process = None
        self.log = None
        self.args = None

    def path(self, pod_path):
        return os.path.join(self.root, pod_path.lstrip("/"))

    def running(self):
        return self.process is not None and self.process.poll() is None


def pods_of(docs):
    pods = []
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind in ("Job", "CronJob", "DaemonSet", "ReplicaSet", "Pod"):
            fail(f"{kind}/{name}: this test runs StatefulSets and Deployments only")
        if kind not in ("StatefulSet", "Deployment"):
            continue
        replicas = d["spec"].get("replicas", 1)
        for i in range(replicas):
            pod = Pod(f"{kind}/{name}", f"{name}-{i}", d["spec"]["template"],
                      d["spec"].get("serviceName") if kind == "StatefulSet" else None)
            pod.claims = {c["metadata"]["name"] for c in d["spec"].get("volumeClaimTemplates", []) or []}
            pods.append(pod)
    if not pods:
        fail("the chart rendered no workload")
    return pods


def address_map(docs, pods, cluster_domain):
    """host:port as the pods name each other -> 127.0.0.1:<local port>."""
    addresses = {}
    for svc in (d for d in docs if d["kind"] == "Service"):
        name, ns = svc["metadata"]["name"], svc["metadata"].get("namespace", NAMESPACE)
        selected = [p for p in pods if matches(svc["spec"].get("selector", {}), p.labels)]
        if not selected:
            fail(f"Service {name} selects no pod")
        suffixes = ["", f".{ns}", f".{ns}.svc", f".{ns}.svc.{cluster_domain}"]
        headless = svc["spec"].get("clusterIP") == "None"
        for sp in svc["spec"]["ports"]:
            target = sp.get("targetPort", sp["port"])

            def local(pod):
                if isinstance(target, int):
                    names = [n for n, p in pod.container_ports.items() if p == target]
                    if not names:
                        fail(f"Service {name} port {sp['port']}: {pod.name} has no container port {target}")
                    return pod.ports[names[0]]
                if target not in pod.ports:
                    fail(f"Service {name} port {sp['port']}: {pod.name} has no container port {target!r}")
                return pod.ports[target]

            if not headless:
                for s in suffixes:
                    addresses[f"{name}{s}:{sp['port']}"] = f"127.0.0.1:{local(selected[0])}"
            for pod in selected:
                if headless and pod.service_name == name:
                    for s in suffixes:
                        addresses[f"{pod.name}.{name}{s}:{sp['port']}"] = f"127.0.0.1:{local(pod)}"
    return addresses


class Rewriter:
    """The only changes a pod's config and args get: paths into the pod directory, Service and
    listen addresses to 127.0.0.1."""

    def __init__(self, pod, addresses):
        self.root = pod.root.rstrip("/")
        mapping = dict(addresses)
        for port_name, container_port in pod.container_ports.items():
            mapping[f"0.0.0.0:{container_port}"] = f"127.0.0.1:{pod.ports[port_name]}"
        self.mapping = mapping
        keys = sorted(mapping, key=len, reverse=True)
        self.address_re = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, keys)) + r")(?!\d)")
        prefixes = "|".join(re.escape(p) for p in POD_PATH_PREFIXES)
        self.path_re = re.compile(r"(?:(?<=[\s\"'=])|^)(?=(?:" + prefixes + r")(?:[/\s\"'-]|$))", re.M)

    def __call__(self, text):
        text = self.address_re.sub(lambda m: self.mapping[m.group(1)], text)
        return self.path_re.sub(lambda m: self.root, text)

    def leftovers(self, value):
        """Strings in a rewritten config that still name something of the cluster."""
        found = []
        if isinstance(value, dict):
            for v in value.values():
                found += self.leftovers(v)
        elif isinstance(value, list):
            for v in value:
                found += self.leftovers(v)
        elif isinstance(value, str):
            if (".svc" in value or "0.0.0.0" in value
                    or (value.startswith("/") and not value.startswith(self.root + "/"))):
                found.append(value)
        return found


def map_leaves(value, fn):
    if isinstance(value, dict):
        return {k: map_leaves(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [map_leaves(v, fn) for v in value]
    if isinstance(value, str):
        return fn(value)
    return value


def write_volume(directory, files, mode):
    """Files as the kubelet writes a ConfigMap or Secret volume: the data in a timestamped
    directory, ..data pointing at it, and each top-level name a symlink through ..data."""
    os.makedirs(directory, exist_ok=True)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.000000000", time.gmtime())
    for rel, (content, file_mode) in files.items():
        path = os.path.join(directory, stamp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, file_mode if file_mode is not None else mode)
    os.symlink(stamp, os.path.join(directory, "..data"))
    for top in sorted({rel.split("/", 1)[0] for rel in files}):
        os.symlink(os.path.join("..data", top), os.path.join(directory, top))


def item_files(where, source, data):
    """{path: (bytes, mode)} of a configMap or secret volume source over `data` (key -> bytes)."""
    items = source.get("items")
    if not items:
        return {k: (v, None) for k, v in data.items()}
    out = {}
    for item in items:
        if item["key"] not in data:
            fail(f"{where}: key {item['key']!r} is not in it (it has {sorted(data)})")
        out[item["path"]] = (data[item["key"]], item.get("mode"))
    return out


def lay_out(pod, config_maps, secrets):
    """The pod's volumes under its directory."""
    volumes = {v["name"]: v for v in pod.spec.get("volumes", []) or []}
    for m in pod.container.get("volumeMounts", []) or []:
        where = f"{pod.name}: volume {m['name']} at {m['mountPath']}"
        if m.get("subPath") or m.get("subPathExpr"):
            fail(f"{where}: subPath is not supported here")
        directory = pod.path(m["mountPath"])
        vol = volumes.get(m["name"])
        if vol is None:
            if m["name"] not in pod.claims:
                fail(f"{where}: neither a volume nor a claim")
            os.makedirs(directory, exist_ok=True)
        elif "emptyDir" in vol:
            os.makedirs(directory, exist_ok=True)
        elif "configMap" in vol:
            name = vol["configMap"]["name"]
            if name not in config_maps:
                fail(f"{where}: ConfigMap {name} is neither rendered nor made by this test")
            write_volume(directory, item_files(f"{where}: ConfigMap {name}", vol["configMap"],
                                               config_maps[name]),
                         vol["configMap"].get("defaultMode", 0o644))
        elif "secret" in vol:
            name = vol["secret"]["secretName"]
            if name not in secrets:
                fail(f"{where}: Secret {name} is not one this test makes from the dev PKI "
                     f"({sorted(secrets)})")
            write_volume(directory, item_files(f"{where}: Secret {name}", vol["secret"], secrets[name]),
                         vol["secret"].get("defaultMode", 0o644))
        else:
            fail(f"{where}: volume type {sorted(k for k in vol if k != 'name')} is not supported here")


def expand(arg, env):
    """$(VAR) as Kubernetes expands it in args: defined variables only; $$ is a $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), arg)


def container_env(pod):
    env = {}
    for e in pod.container.get("env", []) or []:
        if "value" in e:
            env[e["name"]] = expand(str(e["value"]), env)
        elif get(e, "valueFrom.fieldRef.fieldPath") == "metadata.name":
            env[e["name"]] = pod.name
        elif get(e, "valueFrom.fieldRef.fieldPath") == "metadata.namespace":
            env[e["name"]] = NAMESPACE
        else:
            fail(f"{pod.name}: env {e['name']} comes from {e.get('valueFrom')}, not supported here")
    if pod.container.get("envFrom"):
        fail(f"{pod.name}: envFrom is not supported here")
    return env


# --- the dev PKI as Secrets ----------------------------------------------------------------

def make_dev_pki(utpost, directory):
    """A dev PKI, the key-encryption key and the dev providers' key pairs, as a dev utpost
    makes them on first start (dev_pki is on by default): <directory>/pki, keys."""
    log_path = directory + ".log"
    with open(log_path, "wb") as log:
        p = subprocess.Popen([utpost, "--target=ledger,mailbox-sim", "--data-dir", directory,
                              "--listen", "127.0.0.1:0", "--log-level", "warn"],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_WAIT_SECONDS
        # utpostctl.yaml is written once the server listens, after the PKI, key and providers.
        while not os.path.exists(os.path.join(directory, "utpostctl.yaml")):
            if p.poll() is not None or time.monotonic() > deadline:
                with open(log_path, errors="replace") as f:
                    fail(f"making the dev PKI: utpost {'exited' if p.poll() is not None else 'hangs'}:\n{f.read()}")
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=20) != 0:
            with open(log_path, errors="replace") as f:
                fail(f"making the dev PKI: utpost exited {p.returncode}:\n{f.read()}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def secrets_from_pki(values, data):
    """The Secrets the values name, filled from the dev PKI in `data` (name -> key -> bytes)."""
    def read(*parts):
        path = os.path.join(data, *parts)
        if not os.path.exists(path):
            fail(f"the dev PKI has no {os.path.relpath(path, data)}")
        with open(path, "rb") as f:
            return f.read()

    secrets = {}

    def add(name, key, content):
        if not name:
            return
        secrets.setdefault(name, {})[key] = content

    if values["tls"]["certManager"]["enabled"]:
        fail("tls.certManager.enabled: this test makes existing Secrets, not cert-manager's")
    server = values["tls"]["serverSecret"]
    add(server, "tls.crt", read("pki", "server.pem"))
    add(server, "tls.key", read("pki", "server.key"))
    add(server, "ca.crt", read("pki", "ca.pem"))
    for component, name in values["tls"]["componentSecrets"].items():
        add(name, "tls.crt", read("pki", "components", component, "client.pem"))
        add(name, "tls.key", read("pki", "components", component, "client.key"))
        add(name, "ca.crt", read("pki", "components", component, "ca.pem"))
    keks = sorted(glob.glob(os.path.join(data, "keys", "kek-*.key")))
    if not keks:
        fail("the dev PKI has no keys/kek-*.key")
    for path in keks:
        add(values["kek"]["existingSecret"], os.path.basename(path), read("keys", os.path.basename(path)))
    provider = values["print"]["provider"]
    add(provider["certificateSecret"], provider["certificateKey"],
        read("pki", "providers", provider["id"], "cert.pem"))
    for pid in values["mailboxSim"]["providers"]:
        add(values["mailboxSim"]["providersSecret"], f"{pid}.key.pem", read("pki", "providers", pid, "key.pem"))
    return secrets


# --- the run -------------------------------------------------------------------------------

class Topology:
    def __init__(self, root, build, tmp):
        self.root = root
        self.build = build
        self.tmp = tmp
        self.utpost = os.path.join(build, "services", "utpost", "utpost")
        self.utpostctl = os.path.join(build, "clients", "cli", "utpostctl")
        self.pods = []
        self.dev = os.path.join(tmp, "dev-pki")

    def ctl(self, org, address, *args, check=True):
        """utpostctl as `org` (its dev client certificate) at `address` (the cluster's name)."""
        local = self.addresses.get(address)
        if local is None:
            fail(f"utpostctl: {address} is no address of the release")
        client = os.path.join(self.dev, "pki", "clients", org)
        config = os.path.join(self.tmp, f"utpostctl-{org}-{local.replace(':', '-')}.yaml")
        if not os.path.exists(config):
            with open(config, "w") as f:
                yaml.safe_dump({"address": local, "ca": os.path.join(client, "ca.pem"),
                                "cert": os.path.join(client, "client.pem"),
                                "key": os.path.join(client, "client.key")}, f)
        command = [self.utpostctl, "--config", config, "--timeout", "10", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            fail(f"utpostctl as {org} at {address} ({local}) {' '.join(args)} exited "
                 f"{result.returncode}:\n{result.stdout}{result.stderr}")
        return result

    def render(self):
        try:
            helm = helm_binary(self.build)
        except HelmError as e:
            fail(str(e))
        chart = os.path.join(self.root, "helm", "utpost")
        values_file = os.path.join(chart, "ci", VALUES_FILE)
        rendered = template(helm, chart, [values_file])
        if rendered.returncode != 0:
            fail(f"helm template failed:\n{rendered.stderr}")
        with open(os.path.join(chart, "values.yaml")) as f:
            values = yaml.safe_load(f)
        with open(values_file) as f:
            values = deep_merge(values, yaml.safe_load(f))
        docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
        return values, docs

    def start(self, values, docs):
        taken = set()
        self.pods = pods_of(docs)
        for pod in self.pods:
            pod.root = os.path.join(self.tmp, "pods", pod.name)
            pod.ports = {n: free_port(taken) for n in pod.container_ports}
        self.addresses = address_map(docs, self.pods, values["clusterDomain"])
        say("dev PKI: utpost --target=ledger,mailbox-sim on a scratch directory")
        make_dev_pki(self.utpost, self.dev)
        secrets = secrets_from_pki(values, self.dev)
        config_maps = {d["metadata"]["name"]: {k: v.encode() for k, v in (d.get("data") or {}).items()}
                       for d in docs if d["kind"] == "ConfigMap"}
        for pod in self.pods:
            rewrite = Rewriter(pod, self.addresses)
            # utpost.yaml of each ConfigMap a pod mounts: only the allowed rewrites.
            pod_config_maps = dict(config_maps)
            for name, data in config_maps.items():
                if "utpost.yaml" in data:
                    original = data["utpost.yaml"].decode()
                    text = rewrite(original)
                    got = yaml.safe_load(text)
                    if got != map_leaves(yaml.safe_load(original), rewrite):
                        fail(f"{pod.name}: the rewritten utpost.yaml differs from the ConfigMap in "
                             "more than paths and addresses")
                    left = rewrite.leftovers(got)
                    if left:
                        fail(f"{pod.name}: utpost.yaml still names the cluster after the rewrite: {left}")
                    pod_config_maps[name] = dict(data, **{"utpost.yaml": text.encode()})
            lay_out(pod, pod_config_maps, secrets)
            command = pod.container.get("command") or []
            if command != ["utpost"]:
                fail(f"{pod.name}: command is {command}, expected [utpost]")
            env = container_env(pod)
            pod.args = [rewrite(expand(a, env)) for a in pod.container.get("args", []) or []]
            pod.log = os.path.join(self.tmp, f"{pod.name}.log")
            with open(pod.log, "wb") as log:
                pod.process = subprocess.Popen([self.utpost] + pod.args, cwd=pod.root,
                                               env=dict(os.environ, **env), stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        say(f"started {len(self.pods)} processes: " + ", ".join(p.name for p in self.pods))

    def wait_serving(self):
        deadline = time.monotonic() + START_WAIT_SECONDS
        waiting = list(self.pods)
        while waiting:
            for pod in list(waiting):
                if not pod.running():
                    fail(f"{pod.name} exited with {pod.process.returncode} before it served")
                if "grpc-health" not in pod.ports:
                    fail(f"{pod.name}: no container port grpc-health")
                if grpc_health(pod.ports["grpc-health"]) == "SERVING":
                    waiting.remove(pod)
            if waiting and time.monotonic() > deadline:
                fail("not SERVING on the health port within "
                     f"{START_WAIT_SECONDS} s: {', '.join(p.name for p in waiting)}")
            time.sleep(0.1)

    def shard_address(self, config, index):
        return config["shards"][index]["address"]

    def run_letters(self, values, config):
        fullname = f"{RELEASE}-utpost" if RELEASE != "utpost" else "utpost"
        grpc = values["ports"]["grpc"]
        registry = f"{fullname}-registry.{NAMESPACE}.svc:{grpc}"
        ledger_service = f"{fullname}-ledger.{NAMESPACE}.svc:{grpc}"
        shards = config.get("shards") or []
        if len(shards) != 2 or OSLO not in shards[0]["organisations"] or not shards[1]["default"]:
            fail(f"expected two shards, Oslo kommune's first and the default second: {shards}")
        shard0, shard1 = shards[0]["address"], shards[1]["address"]
        if self.addresses[ledger_service] != self.addresses[shard0]:
            fail(f"the ledger Service stands for {self.addresses[ledger_service]}, not shard 0")

        # The registry: providers (their certificates from the dev PKI) and recipients.
        rows = [{"kind": "provider", "id": pid, "provider_name": name, "endpoint": "mailbox-sim",
                 "certificate": os.path.join(self.dev, "pki", "providers", pid, "cert.pem"),
                 "max_security_level": level} for pid, name, level in PROVIDERS] + RECIPIENTS
        import_file = os.path.join(self.tmp, "registry.jsonl")
        with open(import_file, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        out = self.ctl(OSLO, registry, "registry", "import", import_file).stdout
        say(f"registry import: {out.strip().splitlines()[-1] if out.strip() else '(no output)'}")

        pdf = os.path.join(self.tmp, "letter.pdf")
        subprocess.run([sys.executable, os.path.join(self.root, "tools", "make-example-pdf.py"), pdf,
                        "Vedtak"], check=True)
        letters = {}  # id -> (org, recipient, where to ask)
        for org, address in ((OSLO, shard0), (BERGEN, ledger_service)):
            for to in (MAILBOX, RESERVED, ORG_INBOX):
                result = self.ctl(org, address, "send", "--to", to, "--title", f"{org} til {to}",
                                  "--file", pdf)
                letter_id = result.stdout.strip().split()[-1] if result.stdout.strip() else ""
                if not letter_id:
                    fail(f"utpostctl send as {org} to {to} printed no letter id")
                letters[letter_id] = (org, to, shard0 if org == OSLO else shard1)
        say(f"sent {len(letters)} letters: Oslo kommune at shard 0, Bergen kommune through the "
            "ledger Service (shard 0, redirected to shard 1)")

        def ended(to, letter):
            status, channel = letter.get("status", ""), letter.get("channel", "")
            if to == MAILBOX:
                return (status in ("LETTER_STATUS_DELIVERED_DIGITALLY", "LETTER_STATUS_READ")
                        and channel == "CHANNEL_DIGITAL_MAILBOX")
            if to == RESERVED:
                return status == "LETTER_STATUS_PRINTED"
            # The simulator reads inbox letters too (read_delay 1s): READ also means delivered.
            return (status in ("LETTER_STATUS_DELIVERED_DIGITALLY", "LETTER_STATUS_READ")
                    and channel == "CHANNEL_ORGANISATION_INBOX")

        started = time.monotonic()
        waiting = dict(letters)
        last = {}
        while waiting:
            for letter_id, (org, to, address) in list(waiting.items()):
                got = json.loads(self.ctl(org, address, "-o", "json", "get", letter_id).stdout)
                last[letter_id] = got.get("letter", {})
                if ended(to, last[letter_id]):
                    del waiting[letter_id]
            if not waiting:
                break
            if time.monotonic() - started > LETTER_WAIT_SECONDS:
                fail(f"{len(waiting)} letters did not reach their end within {LETTER_WAIT_SECONDS} s:\n"
                     + "\n".join(f"  {i} from {o} to {t}: {last[i].get('status')} "
                                 f"{last[i].get('channel', '')}" for i, (o, t, _) in waiting.items()))
            time.sleep(0.3)
        say(f"every letter reached its end in {time.monotonic() - started:.1f} s: mailbox, print "
            "(PRINTED), organisation inbox, from both shards")

        # The redirect: Oslo's letters live on shard 0 only; asked at shard 1, utpostctl follows.
        listed = json.loads(self.ctl(OSLO, shard1, "-o", "json", "list").stdout)
        ids = {l.get("letter_id") for l in listed.get("letters", [])}
        oslo = {i for i, (o, _, _) in letters.items() if o == OSLO}
        if not oslo <= ids:
            fail(f"Oslo kommune's list at shard 1 lacks its letters {sorted(oslo - ids)}")
        for index, method in ((0, "SendLetter"), (1, "ListLetters")):
            count = self.wrong_shard_count(self.pod_of(shards[index]["name"]), method)
            if count < 1:
                fail(f"{shards[index]['name']} answered no {method} with FAILED_PRECONDITION "
                     "(the wrong shard's redirect)")
        say("wrong shard: Bergen kommune's sends at shard 0 and Oslo kommune's list at shard 1 "
            "were redirected (FAILED_PRECONDITION on each shard's /metrics) and followed")

    def pod_of(self, name):
        for pod in self.pods:
            if pod.name == name:
                return pod
        fail(f"no pod {name}")

    def wrong_shard_count(self, pod, method):
        url = f"http://127.0.0.1:{pod.ports['http-metrics']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        total = 0
        for line in text.splitlines():
            if (line.startswith("utpost_grpc_server_handled_total{") and 'code="FAILED_PRECONDITION"' in line
                    and f'method="{method}"' in line and 'service="utpost.v1.LetterService"' in line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self, drain):
        """SIGTERM to every process at once, as when the release goes; each must exit 0 within
        drainTimeoutSeconds."""
        started = time.monotonic()
        for pod in self.pods:
            pod.process.send_signal(signal.SIGTERM)
        exited = {}  # pod name -> seconds after SIGTERM
        while len(exited) < len(self.pods) and time.monotonic() - started < drain:
            for pod in self.pods:
                if pod.name not in exited and pod.process.poll() is not None:
                    exited[pod.name] = time.monotonic() - started
            time.sleep(0.02)
        problems = [f"{pod.name} still runs {drain} s after SIGTERM (drainTimeoutSeconds)"
                    for pod in self.pods if pod.name not in exited]
        problems += [f"{pod.name} exited {pod.process.returncode} after SIGTERM"
                     for pod in self.pods if pod.name in exited and pod.process.returncode != 0]
        if problems:
            fail("; ".join(problems))
        last = max(exited, key=exited.get)
        say(f"SIGTERM: every process exited 0 within {exited[last]:.1f} s, the last {last} "
            f"(drainTimeoutSeconds {drain})")

    def print_logs(self):
        for pod in self.pods:
            if not pod.log or not os.path.exists(pod.log):
                continue
            with open(pod.log, errors="replace") as f:
                lines = f.read().splitlines()
            args = " ".join(pod.args or [])
            print(f"--- {pod.name} (utpost {args}), last {LOG_TAIL_LINES} lines of its log:", file=sys.stderr)
            for line in lines[-LOG_TAIL_LINES:]:
                print(f"    {line}", file=sys.stderr)

    def kill_leftovers(self):
        for pod in self.pods:
            if pod.running():
                pod.process.kill()
                pod.process.wait()


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.abspath(root)
    build = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "build"))
    for binary in ("services/utpost/utpost", "clients/cli/utpostctl"):
        if not os.access(os.path.join(build, binary), os.X_OK):
            print(f"run-chart-topology: {os.path.join(build, binary)} is missing: build first",
                  file=sys.stderr)
            sys.exit(1)

    def terminated(signum, _frame):
        raise Failure(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, terminated)
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="utpost-topology-")
    topology = Topology(root, build, tmp)
    ok = False
    try:
        values, docs = topology.render()
        config_map = next((d for d in docs if d["kind"] == "ConfigMap" and "utpost.yaml" in (d.get("data") or {})),
                          None)
        if config_map is None:
            fail("no ConfigMap with utpost.yaml rendered")
        config = yaml.safe_load(config_map["data"]["utpost.yaml"])
        topology.start(values, docs)
        topology.wait_serving()
        say("every process answers SERVING on its health port")
        topology.run_letters(values, config)
        topology.stop(int(values["drainTimeoutSeconds"]))
        ok = True
    except Failure as e:
        print(f"run-chart-topology: {e}", file=sys.stderr)
        topology.print_logs()
    except KeyboardInterrupt:
        print("run-chart-topology: interrupted", file=sys.stderr)
    finally:
        topology.kill_leftovers()
        shutil.rmtree(tmp, ignore_errors=True)
    if not ok:
        sys.exit(1)
    say(f"passed ({len(topology.pods)} processes from the rendered chart, "
        f"{time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
