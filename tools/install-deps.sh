#!/usr/bin/env bash
# Installs the Debian 12 packages utpost needs to build, test and run, if any are missing.
# Uses apt-get as root, sudo apt-get otherwise. Quiet when everything is there already.
set -euo pipefail

packages=(
  build-essential cmake pkg-config make git python3 openssl
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libssl-dev libabsl-dev librocksdb-dev prometheus-cpp-dev
  libspdlog-dev libcli11-dev libyaml-cpp-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang-format zlib1g-dev
  clang libclang-rt-14-dev
  libqpdf-dev libhpdf-dev
  qpdf          # the qpdf command: tests read the report's PDF page size and write PDF seeds
  prometheus    # promtool checks /metrics, the alert rules and dashboards; the e2e test runs it
  chromium      # renders the stats report in a test (headless)
  python3-yaml  # tools/check-helm.py and tools/run-chart-topology.py parse the Helm chart's rendered manifests
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# buf (the proto linter) comes from npm; a machine with its own Node.js keeps it.
command -v npm >/dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "not root and no sudo: install ${missing[*]} by hand" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
