#!/usr/bin/env bash
# Installs the Debian 12 packages utpost needs to build, test and run, if any are missing.
# Uses apt-get as root, sudo apt-get otherwise. Quiet when everything is there already.
#
#   tools/install-deps.sh          what make run and make test need
#   tools/install-deps.sh bench    that, and what only make bench needs: PostgreSQL, the
#                                  benchmark's peer (its server, run as a throwaway cluster
#                                  by bench/run.sh), and libpq to build utpost_bench_pg.
#                                  Debian's postgresql package creates and, where it can,
#                                  starts a cluster "main"; the benchmark does not use it.
set -euo pipefail

mode=${1:-}
if [[ $# -gt 1 || ( -n $mode && $mode != bench ) ]]; then
  echo "usage: $0 [bench]" >&2
  exit 2
fi

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
if [[ $mode == bench ]]; then
  packages+=(
    postgresql  # the PostgreSQL peer in make bench (initdb, postgres, pg_ctl, pg_isready)
    libpq-dev   # libpq, which utpost_bench_pg (bench/pg_peer.cc) is built with
  )
fi

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
