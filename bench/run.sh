#!/usr/bin/env bash
# Runs the SendLetter benchmarks and the lease-cost benchmark with binaries already built in
# BUILD_DIR (it builds nothing; `make bench` builds a Release tree, then calls this) and
# writes bench/results.md.
#
#   bench/run.sh BUILD_DIR
#
# Two scenarios, each at concurrency 16: (a) 64 KiB documents, (b) 1 MiB documents. Each runs
#   utpost             the real server, fresh data directory, driven by utpost_loadgen
#   transport ceiling  utpost_bench_ceilings echo-server: same gRPC, mTLS and threading,
#                      no work; driven by the same utpost_loadgen command
#   disk ceiling       utpost_bench_ceilings disk: appends + fdatasync on the same filesystem
#   PostgreSQL peer    what a municipality would otherwise run: a throwaway PostgreSQL
#                      cluster (initdb in the bench directory, so on the same disk; started
#                      on 127.0.0.1 and a free port, see start_pg), driven by utpost_bench_pg:
#                      the same documents, one autocommit INSERT per letter over libpq. As
#                      root, initdb, postgres and pg_ctl run as the user postgres (PostgreSQL
#                      refuses root). Skipped, with a note in the table, when PostgreSQL's
#                      server or utpost_bench_pg (built only where libpq is found) is missing.
# Then utpost_bench_lease, once: LeaseTasks of 1000 tasks on an empty queue and after 10^6
# tasks were queued, leased and finished (BENCH_LEASE_FINISHED, default 1000000).
# Then the registry import: utpost --target=registry on a fresh data directory, and
# utpost_registry_import streaming 10^6 rows into it (BENCH_REGISTRY_ROWS to change).
# Then routing, with 4 KiB and with 64 KiB documents: `utpost --target=ledger,registry` and
# `utpost --target=router` in two processes on one fresh data directory (the router reaches
# the other two over mTLS on loopback), and utpost_bench_routing: the SendLetter closed loop
# over the seeded registry's recipient cases, and the time from each letter's acknowledgement
# to its ROUTED/FAILED event on a WatchLetterEvents stream. Then a catch-up run (4 KiB): the
# same load for 5 s with no router, then the router alone works the backlog off; its rate is
# the router's capacity beside the send path's rate without a router.
# Then delivery, with 64 KiB documents (BENCH_ONLY=delivery runs it alone):
#   send path   `utpost --target=ledger` on a fresh data directory, driven by utpost_loadgen:
#               SendLetter acknowledgements/s with nothing behind the ledger, the reference;
#   delivery    `utpost --target=ledger,registry,router,mailbox-sim` and `utpost
#               --target=courier` in two processes on one fresh data directory (the courier
#               reaches the ledger, the registry and the simulator over mTLS on loopback; the
#               simulator answers at once and nobody reads, see delivery_config below), and
#               utpost_bench_routing --until handed-over --recipients mailbox: every letter to
#               the seeded recipient with a digital mailbox, letters/s reaching
#               DELIVERED_DIGITALLY and the time from acknowledgement to that event;
#   drain       the same two processes, but the courier starts only after BENCH_BACKLOG
#               letters were accepted and routed; the rate at which it delivers them, and the
#               peak RSS (VmHWM, reset when the courier starts) of the courier and of the
#               ledger's process while it does, with their RSS sampled every second.
#
# Environment:
#   BENCH_SECONDS  measured seconds per run (default 15; each run adds 2 s of warm-up)
#   BENCH_DIR      parent of the temporary directories (default ./build-bench/tmp). All runs
#                  write there, so utpost and the disk ceiling use the same disk.
#   BENCH_ONLY     unset: everything, and bench/results.md is rewritten. "send": the two
#                  SendLetter scenarios alone (utpost, the ceilings and the PostgreSQL peer
#                  at 64 KiB and 1 MiB; about 3 minutes at BENCH_SECONDS=15); "routing": the
#                  routing scenario alone (about 40 s at BENCH_SECONDS=15); "delivery": the
#                  delivery scenario alone (a few minutes, most of it the drain); "forms": the
#                  forms scenario alone. Only that section of bench/results.md is replaced
#                  (added if missing), the rest kept.
#   BENCH_PG_BIN   the PostgreSQL peer's load generator (default BUILD_DIR/bench/utpost_bench_pg)
#   BENCH_FILL     letters of 64 KiB stored before the "store filled" run of the SendLetter
#                  scenario (default 100000, about 6.4 GB; 0 skips that run)
#   BENCH_BACKLOG        letters in the drain's backlog (default 100000)
#   BENCH_BACKLOG_BYTES  their document size (default 65536)
#
# Every server started here is stopped (SIGTERM, then SIGKILL after 60 s; PostgreSQL with
# `pg_ctl stop -m fast`) and every temporary directory removed, also on failure or Ctrl-C.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build_arg=$1
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build_arg" && pwd)
seconds=${BENCH_SECONDS:-15}
only=${BENCH_ONLY:-}
if [[ -n $only && $only != send && $only != routing && $only != delivery && $only != forms ]]
then
  echo "run.sh: BENCH_ONLY=$only: the scenarios that run alone are 'send', 'routing'," \
    "'delivery' and 'forms'" >&2
  exit 2
fi
backlog=${BENCH_BACKLOG:-100000}
fill=${BENCH_FILL:-100000}
# Extra arguments of the next run_loadgen_against's load generator.
loadgen_extra=()
backlog_bytes=${BENCH_BACKLOG_BYTES:-65536}
bench_dir=${BENCH_DIR:-$(pwd)/build-bench/tmp}
concurrency=16

utpost_bin=$build/services/utpost/utpost
loadgen_bin=$build/bench/utpost_loadgen
ceilings_bin=$build/bench/utpost_bench_ceilings
lease_bin=$build/bench/utpost_bench_lease
lease_finished=${BENCH_LEASE_FINISHED:-1000000}
registry_import_bin=$build/bench/utpost_registry_import
registry_rows=${BENCH_REGISTRY_ROWS:-1000000}
routing_bin=$build/bench/utpost_bench_routing
forms_bin=$build/bench/utpost_bench_forms
pg_peer_bin=${BENCH_PG_BIN:-$build/bench/utpost_bench_pg}
needed=("$utpost_bin")
if [[ $only != send ]]; then
  needed+=("$routing_bin")
fi
if [[ -z $only || $only == forms ]]; then
  needed+=("$forms_bin")
fi
if [[ $only != routing ]]; then
  needed+=("$loadgen_bin")
fi
if [[ -z $only || $only == send ]]; then
  needed+=("$ceilings_bin")
fi
if [[ -z $only ]]; then
  needed+=("$lease_bin" "$registry_import_bin")
fi
for bin in "${needed[@]}"; do
  if [[ ! -x $bin ]]; then
    echo "run.sh: $bin is missing; build the targets utpost utpost_loadgen" \
      "utpost_bench_ceilings utpost_bench_lease utpost_registry_import utpost_bench_routing" \
      "first (make bench does)" >&2
    exit 2
  fi
done

mkdir -p "$bench_dir"
work=$(mktemp -d "$bench_dir/run.XXXXXX")
results=$work/results.jsonl
send_commands=$work/send_commands.txt
lease_results=$work/lease.jsonl
commands=$work/commands.txt
routing_results=$work/routing.jsonl
routing_commands=$work/routing_commands.txt
delivery_results=$work/delivery.jsonl
delivery_commands=$work/delivery_commands.txt
forms_results=$work/forms.jsonl
forms_commands=$work/forms_commands.txt
: >"$forms_results"
: >"$forms_commands"
: >"$results"
: >"$send_commands"
: >"$lease_results"
: >"$commands"
: >"$routing_results"
: >"$routing_commands"
: >"$delivery_results"
: >"$delivery_commands"
# record appends to this file.
record_file=$commands
# The background servers: server_pid (every scenario), router_pid (routing, the router's
# own process), courier_pid (delivery, the courier's own process) and sim_pid (the drain,
# mailbox-sim's own process).
server_pid=""
router_pid=""
courier_pid=""
sim_pid=""
# A load generator running in the background (the catch-up run, the drain), killed on exit.
bench_pid=""
# The RSS sampler of the drain, killed on exit.
sampler_pid=""

# stop_process PID: SIGTERM (utpost drains), SIGKILL if it is still there after 60 s.
# Returns the process's exit status.
stop_process() {
  local pid=$1 rc=0 tenths=0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((tenths < 600)); do
    sleep 0.1
    tenths=$((tenths + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run.sh: process $pid did not stop within 60 s of SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# Stops the background server, then forgets it. Returns its exit status.
stop_server() {
  [[ -n $server_pid ]] || return 0
  local pid=$server_pid
  server_pid=""
  stop_process "$pid"
}

# Stops the background router, then forgets it. Returns its exit status.
stop_router() {
  [[ -n $router_pid ]] || return 0
  local pid=$router_pid
  router_pid=""
  stop_process "$pid"
}

# Stops the background courier, then forgets it. Returns its exit status.
stop_courier() {
  [[ -n $courier_pid ]] || return 0
  local pid=$courier_pid
  courier_pid=""
  stop_process "$pid"
}

# Stops the background mailbox-sim, then forgets it. Returns its exit status.
stop_sim() {
  [[ -n $sim_pid ]] || return 0
  local pid=$sim_pid
  sim_pid=""
  stop_process "$pid"
}

# The PostgreSQL peer's cluster: pg_dir is its temporary directory (data in pg_dir/data, its
# Unix socket and logs in pg_dir) while it exists, pg_port and pg_pid (the postmaster) while
# it runs. pg_bindir holds initdb, postgres, pg_ctl and pg_isready; pg_as runs them as the
# user postgres when this script runs as root (PostgreSQL refuses to run as root), directly
# otherwise. pg_skip says why the peer cannot run here ("" when it can).
pg_dir=""
pg_port=""
pg_pid=""
pg_bindir=""
pg_as=()
pg_skip=""

# find_pg_bindir: prints the directory with PostgreSQL's server programs: pg_config --bindir,
# else Debian's /usr/lib/postgresql/<major>/bin (not on PATH; the newest major), else where
# initdb is on PATH. Fails if there is none.
find_pg_bindir() {
  local dir candidates=()
  if command -v pg_config >/dev/null 2>&1; then
    candidates+=("$(pg_config --bindir 2>/dev/null || true)")
  fi
  while IFS= read -r dir; do
    candidates+=("$dir")
  done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr)
  if command -v initdb >/dev/null 2>&1; then
    candidates+=("$(dirname "$(command -v initdb)")")
  fi
  for dir in "${candidates[@]}"; do
    if [[ -n $dir && -x $dir/initdb && -x $dir/postgres && -x $dir/pg_ctl && -x $dir/pg_isready ]]
    then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# pg_run COMMAND...: runs COMMAND as PostgreSQL's user (see pg_as), from / so that no
# working directory it cannot enter is in its way.
pg_run() {
  (cd / && "${pg_as[@]}" "$@")
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop_pg: stops the peer's cluster (pg_ctl stop -m fast, then -m immediate if that fails),
# then removes its directory and forgets it. Returns 1 if the fast stop failed.
stop_pg() {
  [[ -n $pg_dir ]] || return 0
  local dir=$pg_dir rc=0
  pg_dir=""
  pg_pid=""
  if [[ -f $dir/data/postmaster.pid ]]; then
    if ! pg_run "$pg_bindir/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >"$dir/stop.log" 2>&1
    then
      rc=1
      echo "run.sh: PostgreSQL did not stop with pg_ctl stop -m fast:" >&2
      cat "$dir/stop.log" >&2
      tail -n 20 "$dir/server.log" >&2 || true
      pg_run "$pg_bindir/pg_ctl" stop -D "$dir/data" -m immediate -w -t 60 >/dev/null 2>&1 || true
    fi
  fi
  rm -rf "$dir"
  return "$rc"
}

cleanup() {
  if [[ -n $sampler_pid ]]; then
    kill -TERM "$sampler_pid" 2>/dev/null || true
    wait "$sampler_pid" 2>/dev/null || true
  fi
  if [[ -n $bench_pid ]]; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  stop_courier || true
  stop_sim || true
  stop_router || true
  stop_server || true
  stop_pg || true
  rm -rf "$work"
  rmdir "$bench_dir" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The PostgreSQL peer: whether it can run here (else its rows say why not).
pg_version=""
if [[ -z $only || $only == send ]]; then
  if [[ ! -x $pg_peer_bin ]]; then
    echo "run.sh: $pg_peer_bin is missing" >&2
    pg_skip="utpost_bench_pg is missing (it is built only where libpq is found: install"
    pg_skip+=" libpq-dev, or run tools/install-deps.sh bench, then configure and build again)"
  elif ! pg_bindir=$(find_pg_bindir); then
    pg_skip="PostgreSQL is not installed (no initdb, postgres, pg_ctl and pg_isready found;"
    pg_skip+=" tools/install-deps.sh bench installs it)"
  elif [[ $(id -u) -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
    pg_skip="running as root, and there is no user postgres to run PostgreSQL as"
  else
    if [[ $(id -u) -eq 0 ]]; then
      pg_as=(runuser -u postgres --)
    fi
    pg_version=$("$pg_bindir/postgres" --version)
  fi
  if [[ -n $pg_skip ]]; then
    echo "run.sh: the PostgreSQL peer will be skipped: $pg_skip" >&2
  fi
fi

# start_process PID_VAR CLIENT_CONFIG LOG COMMAND...: starts COMMAND in the background,
# stores its pid in the variable named PID_VAR (server_pid, router_pid, courier_pid or
# sim_pid, which cleanup stops), and waits until it has written CLIENT_CONFIG (its last line, "key:", is written
# last): DATA_DIR/utpostctl.yaml for a process that runs the ledger,
# DATA_DIR/utpostctl-<targets>.yaml for one that does not (e.g. utpostctl-router.yaml).
start_process() {
  local pid_var=$1 client_config=$2 log=$3
  shift 3
  "$@" >"$log" 2>&1 &
  local pid=$!
  printf -v "$pid_var" '%s' "$pid"
  local tenths=0
  until grep -qs '^key:' "$client_config"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: $1 exited before serving:" >&2
      cat "$log" >&2
      printf -v "$pid_var" '%s' ""
      return 1
    fi
    if ((tenths >= 600)); then
      echo "run.sh: $1 did not write $client_config within 60 s" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
    tenths=$((tenths + 1))
  done
}

# start_server CLIENT_CONFIG LOG COMMAND...: start_process for the server.
start_server() {
  start_process server_pid "$@"
}

# record [--background] COMMAND...: notes a command for results.md, shell-quoted, with the
# temporary directory written as $tmp and paths relative to the project root.
record() {
  local suffix=""
  if [[ $1 == --background ]]; then
    suffix="&"
    shift
  fi
  local line
  line="$(printf '%q ' "$@")"
  line="${line% }${suffix:+ $suffix}"
  line=${line//\\,/,}
  line=${line//$work/\$tmp}
  echo "${line//$root\//}" >>"$record_file"
}

# run_loadgen_against LABEL NAME DOCUMENT_BYTES SERVER_COMMAND...: one server, one load run.
run_loadgen_against() {
  local label=$1 name=$2 bytes=$3
  shift 3
  local dir
  dir=$(mktemp -d "$work/$name.XXXXXX")
  local server=("$@" --data-dir "$dir/data" --listen 127.0.0.1:0)
  record --background "${server[@]}"
  start_server "$dir/data/utpostctl.yaml" "$dir/server.log" "${server[@]}"
  local loadgen=("$loadgen_bin" --config "$dir/data/utpostctl.yaml" --concurrency "$concurrency"
    --document-bytes "$bytes" --duration "$seconds" --warmup 2 --server-pid "$server_pid"
    --label "$label" "${loadgen_extra[@]}")
  record "${loadgen[@]}"
  "${loadgen[@]}" >>"$results"
  if ! stop_server; then
    echo "run.sh: $label did not stop cleanly:" >&2
    tail -n 20 "$dir/server.log" >&2
    exit 1
  fi
  rm -rf "$dir"
}

run_disk() {
  local bytes=$1 name=$2
  local dir
  dir=$(mktemp -d "$work/$name.XXXXXX")
  local disk=("$ceilings_bin" disk --dir "$dir" --concurrency "$concurrency"
    --document-bytes "$bytes" --duration "$seconds" --warmup 2 --label "disk ceiling")
  record "${disk[@]}"
  "${disk[@]}" >>"$results"
  # The same appends leaving their pages in the page cache: what buffered writes cost when
  # the cache grows instead of reusing pages (context for the row above, not a ceiling).
  disk=("$ceilings_bin" disk --dir "$dir" --concurrency "$concurrency"
    --document-bytes "$bytes" --duration "$seconds" --warmup 2 --keep-pages
    --label "disk, pages kept")
  record "${disk[@]}"
  "${disk[@]}" >>"$results"
  rm -rf "$dir"
}

# start_pg NAME: a fresh PostgreSQL cluster in a new directory under $work (the bench
# directory, so on the same disk as utpost's data and the disk ceiling's file), serving on
# 127.0.0.1 at a free port with its Unix socket in that directory; sets pg_dir, pg_port and
# pg_pid. Settings, on the command line so that results.md shows them: fsync,
# synchronous_commit and full_page_writes on (PostgreSQL's defaults, named so that nobody
# wonders), shared_buffers 128MB (the default: the documents are written once and never read
# back here, so a larger cache would only hold pages nobody asks for; a municipality's
# server shares its memory with other work), max_connections 32 (16 workers, the set-up
# connection, room for pg_isready); everything else at initdb's defaults (max_wal_size 1GB,
# checkpoint_timeout 5min, wal_level replica, autovacuum on). Trust authentication: a
# throwaway cluster reachable only on loopback.
start_pg() {
  local name=$1
  pg_dir=$(cd "$(mktemp -d "$work/$name.XXXXXX")" && pwd)
  if ((${#pg_as[@]} > 0)); then
    # The user postgres owns the cluster's directory and must reach it through $work.
    chmod 711 "$work"
    chown postgres: "$pg_dir"
    if ! pg_run test -w "$pg_dir"; then
      echo "run.sh: the user postgres cannot write to $pg_dir; set BENCH_DIR to a directory" \
        "whose parents it can enter" >&2
      exit 1
    fi
  fi
  pg_port=$(free_port)
  local initdb=("$pg_bindir/initdb" -D "$pg_dir/data" -U postgres --auth=trust --no-locale
    -E UTF8 --no-instructions)
  record "${pg_as[@]}" "${initdb[@]}"
  if ! pg_run "${initdb[@]}" >"$pg_dir/initdb.log" 2>&1; then
    echo "run.sh: initdb failed:" >&2
    cat "$pg_dir/initdb.log" >&2
    exit 1
  fi
  local settings="-c listen_addresses=127.0.0.1 -c port=$pg_port"
  settings+=" -c unix_socket_directories=$pg_dir -c max_connections=32"
  settings+=" -c shared_buffers=128MB -c fsync=on -c synchronous_commit=on"
  settings+=" -c full_page_writes=on"
  local start=("$pg_bindir/pg_ctl" start -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60
    -o "$settings")
  record "${pg_as[@]}" "${start[@]}"
  if ! pg_run "${start[@]}" >"$pg_dir/start.log" 2>&1; then
    echo "run.sh: PostgreSQL did not start:" >&2
    cat "$pg_dir/start.log" "$pg_dir/server.log" >&2 || true
    exit 1
  fi
  local tenths=0
  until "$pg_bindir/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; do
    if ((tenths >= 600)); then
      echo "run.sh: PostgreSQL did not accept connections on 127.0.0.1:$pg_port within 60 s" >&2
      tail -n 20 "$pg_dir/server.log" >&2
      exit 1
    fi
    sleep 0.1
    tenths=$((tenths + 1))
  done
  pg_pid=$(head -n 1 "$pg_dir/data/postmaster.pid")
}

# run_pg DOCUMENT_BYTES NAME: the PostgreSQL peer: a fresh cluster, one utpost_bench_pg run
# against it, the cluster stopped and removed. When the peer cannot run here, a row that
# says why.
run_pg() {
  local bytes=$1 name=$2
  if [[ -n $pg_skip ]]; then
    python3 -c 'import json, sys
print(json.dumps({"label": "PostgreSQL peer", "document_bytes": int(sys.argv[1]),
                  "skipped": sys.argv[2]}))' "$bytes" "$pg_skip" >>"$results"
    return 0
  fi
  start_pg "$name"
  local peer=("$pg_peer_bin" --conninfo "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres"
    --concurrency "$concurrency" --document-bytes "$bytes" --duration "$seconds" --warmup 2
    --server-pid "$pg_pid" --label "PostgreSQL peer")
  record "${peer[@]}"
  "${peer[@]}" >>"$results"
  local stop=("$pg_bindir/pg_ctl" stop -D "$pg_dir/data" -m fast -w -t 60)
  record "${pg_as[@]}" "${stop[@]}"
  if ! stop_pg; then
    exit 1
  fi
}

# start_routing_ledger DIR: utpost --target=ledger,registry on DIR/data (log DIR/ledger.log);
# sets ledger_address to where it serves.
start_routing_ledger() {
  local dir=$1 data=$1/data
  local ledger=("$utpost_bin" "--target=ledger,registry" --log-level warn --data-dir "$data"
    --listen 127.0.0.1:0)
  record --background "${ledger[@]}"
  start_server "$data/utpostctl.yaml" "$dir/ledger.log" "${ledger[@]}"
  ledger_address=$(sed -n 's/^address: //p' "$data/utpostctl.yaml")
}

# start_routing_router DIR: utpost --target=router on the same data directory, reaching the
# ledger and the registry at ledger_address over mTLS (log DIR/router.log).
start_routing_router() {
  local dir=$1 data=$1/data
  local router=("$utpost_bin" --target=router --log-level warn --data-dir "$data"
    --listen 127.0.0.1:0 --component-address "ledger=$ledger_address"
    --component-address "registry=$ledger_address")
  record --background "${router[@]}"
  start_process router_pid "$data/utpostctl-router.yaml" "$dir/router.log" "${router[@]}"
}

# stop_routing DIR: stops the router, then the ledger, each cleanly or the run fails; removes
# DIR.
stop_routing() {
  local dir=$1
  if ! stop_router; then
    echo "run.sh: the router did not stop cleanly:" >&2
    tail -n 20 "$dir/router.log" >&2
    exit 1
  fi
  if ! stop_server; then
    echo "run.sh: the ledger did not stop cleanly:" >&2
    tail -n 20 "$dir/ledger.log" >&2
    exit 1
  fi
  rm -rf "$dir"
}

# run_routing LABEL NAME DOCUMENT_BYTES: the ledger and registry in one process, the router
# in another, on one fresh data directory; one utpost_bench_routing run against them.
run_routing() {
  local label=$1 name=$2 bytes=$3
  local dir
  dir=$(mktemp -d "$work/$name.XXXXXX")
  local data=$dir/data
  start_routing_ledger "$dir"
  start_routing_router "$dir"
  local bench=("$routing_bin" --config "$data/utpostctl.yaml"
    --concurrency "$concurrency" --document-bytes "$bytes" --duration "$seconds" --warmup 2
    --drain-timeout 60 --ledger-pid "$server_pid" --router-pid "$router_pid" --label "$label")
  record "${bench[@]}"
  "${bench[@]}" >>"$routing_results"
  stop_routing "$dir"
}

# run_routing_catch_up NAME DOCUMENT_BYTES LOAD_SECONDS: as run_routing, but the router
# starts only when the load has ended, so it works off the whole backlog alone.
run_routing_catch_up() {
  local name=$1 bytes=$2 load=$3
  local dir
  dir=$(mktemp -d "$work/$name.XXXXXX")
  local data=$dir/data
  start_routing_ledger "$dir"
  local bench=("$routing_bin" --config "$data/utpostctl.yaml"
    --concurrency "$concurrency" --document-bytes "$bytes" --duration "$load" --warmup 2
    --drain-timeout 60 --ledger-pid "$server_pid" --load-ended-file "$dir/load-ended"
    --label catch-up)
  record --background "${bench[@]}"
  "${bench[@]}" >>"$routing_results" &
  bench_pid=$!
  local tenths=0
  until [[ -e $dir/load-ended ]]; do
    if ! kill -0 "$bench_pid" 2>/dev/null || ((tenths >= 10 * (load + 60))); then
      echo "run.sh: the catch-up load did not end" >&2
      exit 1
    fi
    sleep 0.1
    tenths=$((tenths + 1))
  done
  start_routing_router "$dir"
  local pid=$bench_pid
  bench_pid=""
  wait "$pid"
  stop_routing "$dir"
}

# The configurations of the delivery runs. In both, mailbox-sim on its dev providers answers
# at once (no delay, no failures) and its recipients read nothing, so no READ receipt
# competes with the deliveries; it takes as many Deliver streams at once as the courier
# sends to one provider (its default of 4 is below the courier's default share of 16).
# delivery_defaults_config leaves everything else at its default; delivery_config (the
# delivery run and the drain) lets the courier keep 64 deliveries in flight (instead of 32,
# 16 per provider) and the ledger serve 64 ReadDocuments streams (instead of 16); its
# TaskService's 32 threads are the default. With the defaults, the 16 deliveries in flight
# to one provider bound delivery at about 60 % of the rate.
delivery_defaults_config=$work/delivery-defaults.yaml
cat >"$delivery_defaults_config" <<'YAML'
mailbox_sim:
  delay: 0s
  fail_share: 0
  read_share: 0
  max_streams: 16
YAML
delivery_config=$work/delivery.yaml
cat >"$delivery_config" <<'YAML'
ledger:
  task_worker_threads: 32
  max_document_reads: 64
courier:
  max_in_flight: 64
  max_in_flight_per_provider: 64
  batch_size: 64
mailbox_sim:
  delay: 0s
  fail_share: 0
  read_share: 0
  max_streams: 64
YAML

# start_delivery_stack DIR CONFIG [separate-sim]: utpost
# --target=ledger,registry,router,mailbox-sim on DIR/data (log DIR/ledger.log); sets
# delivery_address to where it serves, and sim_address to where mailbox-sim does. With
# separate-sim, mailbox-sim runs in a process of its own (log DIR/sim.log) beside
# --target=ledger,registry,router, so that each one's memory can be told apart.
start_delivery_stack() {
  local dir=$1 data=$1/data config=$2 separate=${3:-}
  local targets=ledger,registry,router,mailbox-sim
  [[ -z $separate ]] || targets=ledger,registry,router
  local stack=("$utpost_bin" "--target=$targets" -c "$config"
    --log-level warn --data-dir "$data" --listen 127.0.0.1:0)
  record --background "${stack[@]}"
  start_server "$data/utpostctl.yaml" "$dir/ledger.log" "${stack[@]}"
  delivery_address=$(sed -n 's/^address: //p' "$data/utpostctl.yaml")
  sim_address=$delivery_address
  if [[ -n $separate ]]; then
    local sim=("$utpost_bin" --target=mailbox-sim -c "$config" --log-level warn
      --data-dir "$data" --listen 127.0.0.1:0)
    record --background "${sim[@]}"
    start_process sim_pid "$data/utpostctl-mailbox-sim.yaml" "$dir/sim.log" "${sim[@]}"
    sim_address=$(sed -n 's/^address: //p' "$data/utpostctl-mailbox-sim.yaml")
  fi
}

# start_courier DIR CONFIG: utpost --target=courier on the same data directory, reaching
# the ledger, the registry and mailbox-sim at delivery_address over mTLS (log
# DIR/courier.log).
start_courier() {
  local dir=$1 data=$1/data config=$2
  local courier=("$utpost_bin" --target=courier -c "$config" --log-level warn
    --data-dir "$data" --listen 127.0.0.1:0 --component-address "ledger=$delivery_address"
    --component-address "registry=$delivery_address"
    --component-address "mailbox-sim=$sim_address")
  record --background "${courier[@]}"
  start_process courier_pid "$data/utpostctl-courier.yaml" "$dir/courier.log" "${courier[@]}"
}

# stop_delivery DIR: stops the courier, then the rest, each cleanly or the run fails;
# removes DIR.
stop_delivery() {
  local dir=$1
  if ! stop_courier; then
    echo "run.sh: the courier did not stop cleanly:" >&2
    tail -n 20 "$dir/courier.log" >&2
    exit 1
  fi
  if ! stop_sim; then
    echo "run.sh: mailbox-sim did not stop cleanly:" >&2
    tail -n 20 "$dir/sim.log" >&2
    exit 1
  fi
  if ! stop_server; then
    echo "run.sh: the ledger's process did not stop cleanly:" >&2
    tail -n 20 "$dir/ledger.log" >&2
    exit 1
  fi
  rm -rf "$dir"
}

# run_send_path BYTES: the reference, `utpost --target=ledger` alone under utpost_loadgen.
run_send_path() {
  local bytes=$1
  local dir
  dir=$(mktemp -d "$work/send-path.XXXXXX")
  local server=("$utpost_bin" --target=ledger --log-level warn --data-dir "$dir/data"
    --listen 127.0.0.1:0)
  record --background "${server[@]}"
  start_server "$dir/data/utpostctl.yaml" "$dir/server.log" "${server[@]}"
  local loadgen=("$loadgen_bin" --config "$dir/data/utpostctl.yaml" --concurrency "$concurrency"
    --document-bytes "$bytes" --duration "$seconds" --warmup 2 --server-pid "$server_pid"
    --label "send path")
  record "${loadgen[@]}"
  "${loadgen[@]}" >>"$delivery_results"
  if ! stop_server; then
    echo "run.sh: the send path's server did not stop cleanly:" >&2
    tail -n 20 "$dir/server.log" >&2
    exit 1
  fi
  rm -rf "$dir"
}

# run_delivery LABEL CONFIG BYTES: the whole stack; letters/s to DELIVERED_DIGITALLY.
run_delivery() {
  local label=$1 config=$2 bytes=$3
  local dir
  dir=$(mktemp -d "$work/delivery.XXXXXX")
  local data=$dir/data
  start_delivery_stack "$dir" "$config"
  start_courier "$dir" "$config"
  local bench=("$routing_bin" --config "$data/utpostctl.yaml" --until handed-over
    --recipients mailbox --concurrency "$concurrency" --document-bytes "$bytes"
    --duration "$seconds" --warmup 2 --drain-timeout 120 --ledger-pid "$server_pid"
    --courier-pid "$courier_pid" --label "$label")
  record "${bench[@]}"
  "${bench[@]}" >>"$delivery_results"
  stop_delivery "$dir"
}

# sample_rss OUT PID...: every second, appends "seconds-since-epoch VmRSS-KiB..." of each
# PID to OUT ("-" for a process that is gone), until killed.
sample_rss() {
  local out=$1
  shift
  while true; do
    local line pid rss
    line=$(date +%s.%N)
    for pid in "$@"; do
      rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
      line+=" ${rss:--}"
    done
    echo "$line" >>"$out"
    sleep 1
  done
}

# vm_hwm_mib PID: the peak RSS (VmHWM) of PID in MiB, or null.
# cpu_seconds PID: the CPU time (user + system) PID has used so far, in seconds.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
    "/proc/$1/stat" 2>/dev/null || echo null
}

vm_hwm_mib() {
  local kib
  kib=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null)
  if [[ -n $kib ]]; then
    awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }'
  else
    echo null
  fi
}

# run_drain LETTERS BYTES: LETTERS letters accepted and routed with no courier running; then
# the courier alone delivers them. The drain's rate and the courier's and the ledger
# process's peak RSS while it runs.
run_drain() {
  local letters=$1 bytes=$2
  local dir
  dir=$(mktemp -d "$work/drain.XXXXXX")
  local data=$dir/data
  start_delivery_stack "$dir" "$delivery_config" separate-sim
  local bench=("$routing_bin" --config "$data/utpostctl.yaml" --until handed-over
    --recipients mailbox --concurrency "$concurrency" --document-bytes "$bytes"
    --letters "$letters" --duration 3600 --warmup 0 --drain-timeout 3600
    --ledger-pid "$server_pid" --load-ended-file "$dir/load-ended" --label drain)
  record --background "${bench[@]}"
  "${bench[@]}" >"$dir/drain.json" &
  bench_pid=$!
  until [[ -e $dir/load-ended ]]; do
    if ! kill -0 "$bench_pid" 2>/dev/null; then
      echo "run.sh: the drain's load ended without loading its backlog" >&2
      exit 1
    fi
    sleep 1
  done
  local load_hwm sim_load_hwm
  load_hwm=$(vm_hwm_mib "$server_pid")
  sim_load_hwm=$(vm_hwm_mib "$sim_pid")
  # From here on VmHWM is the peak of the drain alone (5: reset it to the current RSS).
  echo 5 >"/proc/$server_pid/clear_refs"
  echo 5 >"/proc/$sim_pid/clear_refs"
  local ledger_cpu0 sim_cpu0
  ledger_cpu0=$(cpu_seconds "$server_pid")
  sim_cpu0=$(cpu_seconds "$sim_pid")
  start_courier "$dir" "$delivery_config"
  sample_rss "$dir/rss.txt" "$server_pid" "$courier_pid" "$sim_pid" &
  sampler_pid=$!
  local pid=$bench_pid
  bench_pid=""
  wait "$pid"
  local ledger_hwm courier_hwm sim_hwm
  ledger_hwm=$(vm_hwm_mib "$server_pid")
  courier_hwm=$(vm_hwm_mib "$courier_pid")
  sim_hwm=$(vm_hwm_mib "$sim_pid")
  # CPU seconds each process spent from the courier's start to the last delivery (the
  # courier's includes its start-up, and the ledger's process also routes nothing new here).
  local cpu_json
  cpu_json=$(printf '{"ledger": %s, "courier": %s, "sim": %s}' \
    "$(awk -v a="$ledger_cpu0" -v b="$(cpu_seconds "$server_pid")" 'BEGIN { print b - a }')" \
    "$(cpu_seconds "$courier_pid")" \
    "$(awk -v a="$sim_cpu0" -v b="$(cpu_seconds "$sim_pid")" 'BEGIN { print b - a }')")
  kill -TERM "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  sampler_pid=""
  local disk_mib
  disk_mib=$(du -sm "$data" | cut -f1)
  python3 - "$dir/drain.json" "$dir/rss.txt" "$load_hwm" "$ledger_hwm" "$courier_hwm" \
    "$disk_mib" "$sim_load_hwm" "$sim_hwm" "$cpu_json" >>"$delivery_results" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
samples = []
for line in open(sys.argv[2]):
    parts = line.split()
    if len(parts) == 4 and "-" not in parts[1:]:
        samples.append([float(parts[0])] + [int(p) / 1024 for p in parts[1:]])
run["ledger_load_peak_rss_mib"] = json.loads(sys.argv[3])
run["ledger_drain_peak_rss_mib"] = json.loads(sys.argv[4])
run["courier_drain_peak_rss_mib"] = json.loads(sys.argv[5])
run["data_dir_mib"] = int(sys.argv[6])
run["sim_load_peak_rss_mib"] = json.loads(sys.argv[7])
run["sim_drain_peak_rss_mib"] = json.loads(sys.argv[8])
# CPU seconds per process over the drain: {"ledger": ..., "courier": ..., "sim": ...}.
run["drain_cpu_s"] = json.loads(sys.argv[9])
# RSS over the drain, every second: [seconds, ledger's process, courier, mailbox-sim] (MiB).
run["rss_samples"] = [[round(t - samples[0][0], 1), round(l), round(c), round(m)]
                      for t, l, c, m in samples]
print(json.dumps(run))
PY
  stop_delivery "$dir"
}

# run_forms BYTES: the send path alone (utpost_loadgen against `utpost --target=ledger`), then
# on a fresh server utpost_bench_forms: SubmitForm with one attachment of BYTES as the dev
# portal, then FetchSubmissions + AcknowledgeSubmission of all of them as the municipality.
run_forms() {
  local bytes=$1 dir
  for label in "send path" forms; do
    dir=$(mktemp -d "$work/forms.XXXXXX")
    local server=("$utpost_bin" --target=ledger --log-level warn --data-dir "$dir/data"
      --listen 127.0.0.1:0)
    record --background "${server[@]}"
    start_server "$dir/data/utpostctl.yaml" "$dir/server.log" "${server[@]}"
    local bench
    if [[ $label == "send path" ]]; then
      bench=("$loadgen_bin" --config "$dir/data/utpostctl.yaml" --concurrency "$concurrency"
        --document-bytes "$bytes" --duration "$seconds" --warmup 2 --server-pid "$server_pid"
        --label "send path")
    else
      bench=("$forms_bin" --config "$dir/data/utpostctl.yaml"
        --portal-config "$dir/data/utpostctl-NO991825827.yaml" --concurrency "$concurrency"
        --document-bytes "$bytes" --duration "$seconds" --warmup 2 --server-pid "$server_pid")
    fi
    record "${bench[@]}"
    "${bench[@]}" >>"$forms_results"
    if ! stop_server; then
      echo "run.sh: the $label server did not stop cleanly:" >&2
      tail -n 20 "$dir/server.log" >&2
      exit 1
    fi
    rm -rf "$dir"
  done
}

if [[ -z $only || $only == send ]]; then
  record_file=$send_commands
  for scenario in 65536:64k 1048576:1m; do
    bytes=${scenario%%:*}
    name=${scenario##*:}
    echo "run.sh: scenario $name: $bytes-byte documents, concurrency $concurrency, $seconds s" >&2
    run_loadgen_against utpost "utpost-$name" "$bytes" "$utpost_bin" --target=ledger --log-level warn
    if [[ $name == 64k && $fill -gt 0 ]]; then
      # The same, into a store that already holds $fill letters (stored first, not measured).
      echo "run.sh: utpost with $fill letters stored first" >&2
      loadgen_extra=(--fill "$fill")
      run_loadgen_against "utpost, store filled" "utpost-filled-$name" "$bytes" "$utpost_bin" \
        --target=ledger --log-level warn
      loadgen_extra=()
    fi
    run_loadgen_against "transport ceiling" "echo-$name" "$bytes" "$ceilings_bin" echo-server
    run_disk "$bytes" "disk-$name"
    run_pg "$bytes" "pg-$name"
  done
  record_file=$commands
fi

if [[ -z $only ]]; then
  echo "run.sh: lease cost: 1000 tasks, empty queue and after $lease_finished finished" >&2
  lease=("$lease_bin" --dir "$work" --finished "$lease_finished")
  record "${lease[@]}"
  "${lease[@]}" >>"$lease_results"

  # The registry import: its own server, its own data directory.
  registry_dir=$(mktemp -d "$work/registry.XXXXXX")
  registry_server=("$utpost_bin" --target=registry --log-level warn --data-dir "$registry_dir/data"
    --listen 127.0.0.1:0)
  record --background "${registry_server[@]}"
  start_server "$registry_dir/data/utpostctl-registry.yaml" "$registry_dir/server.log" \
    "${registry_server[@]}"
  registry_import=("$registry_import_bin" --config "$registry_dir/data/utpostctl-registry.yaml"
    --rows "$registry_rows")
  record "${registry_import[@]}"
  echo "run.sh: registry import of $registry_rows rows" >&2
  registry_result=$("${registry_import[@]}")
  if ! stop_server; then
    echo "run.sh: the registry server did not stop cleanly:" >&2
    tail -n 20 "$registry_dir/server.log" >&2
    exit 1
  fi
  rm -rf "$registry_dir"
  export BENCH_REGISTRY_RESULT=$registry_result
fi

if [[ -z $only || $only == routing ]]; then
  record_file=$routing_commands
  for scenario in 4096:4k 65536:64k; do
    bytes=${scenario%%:*}
    name=${scenario##*:}
    echo "run.sh: routing, $bytes-byte documents, concurrency $concurrency, $seconds s" >&2
    run_routing routing "routing-$name" "$bytes"
  done
  echo "run.sh: routing catch-up: 5 s of 4096-byte letters, then the router alone" >&2
  run_routing_catch_up routing-catch-up 4096 5
fi

if [[ -z $only || $only == delivery ]]; then
  record_file=$delivery_commands
  echo "run.sh: delivery: the send path alone, 65536-byte documents, $seconds s" >&2
  run_send_path 65536
  echo "run.sh: delivery through courier and mailbox-sim, 65536-byte documents, $seconds s," \
    "default settings" >&2
  run_delivery "delivery, defaults" "$delivery_defaults_config" 65536
  echo "run.sh: delivery through courier and mailbox-sim, 65536-byte documents, $seconds s" >&2
  run_delivery delivery "$delivery_config" 65536
  echo "run.sh: delivery drain: $backlog letters of $backlog_bytes bytes, then the courier" >&2
  run_drain "$backlog" "$backlog_bytes"
fi
if [[ -z $only || $only == forms ]]; then
  record_file=$forms_commands
  echo "run.sh: forms: the send path, then submit and fetch+ack, 65536-byte attachments" >&2
  run_forms 65536
fi
record_file=$commands

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
revision=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$root" status --porcelain 2>/dev/null || true) ]]; then
  revision="$revision (with uncommitted changes)"
fi
filesystem=$(findmnt -n -o FSTYPE,SOURCE --target "$bench_dir" | awk '{print $1 " on " $2}')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)

BENCH_NPROC=$(nproc)
BENCH_KERNEL=$(uname -r)
BENCH_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
export BENCH_ONLY=$only
export BENCH_CONCURRENCY=$concurrency BENCH_MEASURED=$seconds BENCH_BUILD_ARG=$build_arg
export BENCH_BUILD_TYPE=${build_type:-unknown} BENCH_REVISION=$revision BENCH_CPU=$cpu
export BENCH_FILESYSTEM=$filesystem BENCH_NPROC BENCH_KERNEL BENCH_DATE
export BENCH_PG_VERSION=$pg_version BENCH_FILL=$fill
if [[ $only != forms ]]; then
python3 - "$results" "$commands" "$root/bench/results.md" "$lease_results" \
  "$routing_results" "$routing_commands" "$delivery_results" "$delivery_commands" \
  "$delivery_defaults_config" "$delivery_config" "$send_commands" <<'PY'
import json, os, re, sys

(results_path, commands_path, out_path, lease_path, routing_path, routing_commands_path,
 delivery_path, delivery_commands_path, delivery_defaults_config_path,
 delivery_config_path, send_commands_path) = sys.argv[1:12]
env = os.environ
only = env["BENCH_ONLY"]
fill_count = int(env.get("BENCH_FILL", "0"))
runs = [json.loads(line) for line in open(results_path) if line.strip()]
leases = [json.loads(line) for line in open(lease_path) if line.strip()]
routings = [json.loads(line) for line in open(routing_path) if line.strip()]
commands = [line.rstrip("\n") for line in open(commands_path)]
routing_commands = [line.rstrip("\n") for line in open(routing_commands_path)]
send_commands = [line.rstrip("\n") for line in open(send_commands_path)]
scenarios = [(65536, "64 KiB documents"), (1048576, "1 MiB documents")]
PEER = "PostgreSQL peer"
FILLED = "utpost, store filled"
rows = ["utpost", FILLED, "transport ceiling", "disk ceiling", "disk, pages kept", PEER]
concurrency, seconds = env["BENCH_CONCURRENCY"], env["BENCH_MEASURED"]
build_arg = env["BENCH_BUILD_ARG"]


def find(label, size):
    """The run of `label` at `size`; None if it is missing or was skipped."""
    for run in runs:
        if run["label"] == label and run["document_bytes"] == size and "skipped" not in run:
            return run
    return None


def skipped(label, size):
    """Why the run of `label` at `size` was skipped, or None."""
    for run in runs:
        if run["label"] == label and run["document_bytes"] == size and "skipped" in run:
            return run["skipped"]
    return None


def cell(value, digits=1):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def verdict(ok):
    return "met" if ok else "**NOT met**"


def size_name(size):
    return f"{size // 1048576} MiB" if size % 1048576 == 0 else f"{size // 1024} KiB"


# The Routing section, between markers so that BENCH_ONLY=routing can replace it alone.
ROUTING_START, ROUTING_END = "<!-- routing:start -->", "<!-- routing:end -->"
routing = [
    ROUTING_START,
    "## Routing",
    "",
    "`utpost --target=ledger,registry` and `utpost --target=router` in two processes on one",
    "fresh data directory (the router reaches the ledger's TaskService and the registry over",
    "mTLS on loopback, default router settings: 2 lease loops, batches of 256).",
    f"`utpost_bench_routing` runs the SendLetter closed loop ({concurrency} clients, one mTLS",
    "connection each, one PDF document per letter) with the recipients cycling over the six",
    "seeded registry cases (mailbox, reserved, no mailbox, mailbox below the letter's security",
    "level HIGH, organisation with and without inbox), each letter with its own postal address,",
    "and reads a WatchLetterEvents stream of the same organisation. Route latency: from the",
    "SendLetter acknowledgement to the arrival of the letter's ROUTED/FAILED event on the",
    f"stream (client clock), for letters acknowledged in the {seconds} s window after 2 s of",
    "warm-up. Routed/s: routing events arriving in the same window. Backlog: letters",
    "acknowledged but not yet routed at the window's start and end. Drain: after the load",
    "stopped, the time until the last letter was routed. CPU cores over the window (2 cores",
    "shared by the ledger, the router and the load generator).",
    "",
    "| documents | SendLetter letters/s | SendLetter p99 ms | routed letters/s | routed / sent "
    "| route p50 ms | route p99 ms | route max ms | backlog start → end | drain s "
    "| not routed | ledger CPU | router CPU | load generator CPU | router RSS MiB | errors |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
]
catch_ups = [run for run in routings if run["label"] == "catch-up"]
routings = [run for run in routings if run["label"] != "catch-up"]
for run in routings:
    errors = ", ".join(f"{k} {v}" for k, v in run["errors"].items()) or "0"
    share = "n/a" if run["routed_share"] is None else f"{100 * run['routed_share']:.1f} %"
    routing.append(
        f"| {size_name(run['document_bytes'])} | {cell(run['letters_per_s'])} "
        f"| {cell(run['p99_ms'], 2)} | {cell(run['routed_per_s'])} | {share} "
        f"| {cell(run['route_p50_ms'], 2)} | {cell(run['route_p99_ms'], 2)} "
        f"| {cell(run['route_max_ms'], 2)} "
        f"| {run['backlog_at_start']:,} → {run['backlog_at_end']:,} | {cell(run['drain_s'], 2)} "
        f"| {run['not_routed']:,} | {cell(run['ledger_cpu_cores'], 2)} "
        f"| {cell(run['router_cpu_cores'], 2)} | {cell(run['loadgen_cpu_cores'], 2)} "
        f"| {cell(run['router_peak_rss_mib'], 0)} "
        f"| {errors} |")
if not routings:
    routing.append("| missing | | | | | | | | | | | | | | | |")
routing.append("")
for run in routings:
    # Keeping up: the backlog did not grow over the window, i.e. as many letters were routed
    # as were sent (routed / sent >= 100 %). The backlog swings by up to one lease batch
    # (256) as the router takes and completes batches, so that much growth is within noise.
    grew = run["backlog_at_end"] - run["backlog_at_start"]
    kept_up = run["routed_share"] is not None and (run["routed_share"] >= 1.0 or grew <= 256)
    clean = run["not_routed"] == 0 and run["duplicate_events"] == 0
    routing.append(
        f"- **{size_name(run['document_bytes'])}:** {cell(run['routed_per_s'])} letters/s "
        f"routed while SendLetter accepted {cell(run['letters_per_s'])} letters/s "
        f"({cell(None if run['routed_share'] is None else 100 * run['routed_share'])} %); "
        f"the backlog went from "
        f"{run['backlog_at_start']:,} to {run['backlog_at_end']:,} letters (target ≥ 100 %, "
        f"i.e. the backlog grows by less than one lease batch of 256: {verdict(kept_up)}); "
        f"{run['acknowledged']:,} letters acknowledged in the run, {run['not_routed']:,} not "
        f"routed at the end, {run['duplicate_events']:,} routed twice (target 0: "
        f"{verdict(clean)}).")
for run in catch_ups:
    rate, sent = run["drain_letters_per_s"], run["letters_per_s"]
    ratio = "n/a" if rate is None or not sent else f"{rate / sent:.1f}×"
    routing.append(
        f"- **Catch-up ({size_name(run['document_bytes'])}):** with no router running, "
        f"SendLetter alone accepted {cell(sent)} letters/s (p99 {cell(run['p99_ms'], 2)} ms, "
        f"ledger CPU {cell(run['ledger_cpu_cores'], 2)} cores); the router, started when the "
        f"load ended, routed the {run['unrouted_at_load_end']:,} letters waiting at "
        f"{cell(rate)} letters/s (from its first routing event to its last), {ratio} the "
        f"send path's rate alone; the last was routed "
        f"{cell(run['drain_s'], 2)} s after the load ended (router start-up included); "
        f"{run['not_routed']:,} not routed, {run['duplicate_events']:,} routed twice.")
if routings:
    outcomes = {}
    for run in routings + catch_ups:
        for outcome, count in run["outcomes"].items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    routing.append("- Outcomes over all runs: " + "; ".join(
        f"{outcome} {count:,}" for outcome, count in sorted(outcomes.items())) + ".")
routing += [
    "",
    f"Measured {env['BENCH_DATE']}, revision {env['BENCH_REVISION']}, "
    f"{env['BENCH_BUILD_TYPE']} build, nproc {env['BENCH_NPROC']}, data on "
    f"{env['BENCH_FILESYSTEM']}, with `"
    + (f"BENCH_ONLY=routing " if only else "")
    + f"BENCH_SECONDS={seconds} bench/run.sh {build_arg}`. Commands:",
    "",
    "```",
] + routing_commands + ["```", ROUTING_END]

# The Delivery section, between markers so that BENCH_ONLY=delivery can replace it alone.
DELIVERY_START, DELIVERY_END = "<!-- delivery:start -->", "<!-- delivery:end -->"
deliveries = [json.loads(line) for line in open(delivery_path) if line.strip()]
delivery_commands = [line.rstrip("\n") for line in open(delivery_commands_path)]
send_path = next((r for r in deliveries if r["label"] == "send path"), None)
delivered = next((r for r in deliveries if r["label"] == "delivery"), None)
delivered_defaults = next((r for r in deliveries if r["label"] == "delivery, defaults"), None)
drain = next((r for r in deliveries if r["label"] == "drain"), None)


def errors_of(run):
    return ", ".join(f"{k} {v}" for k, v in run["errors"].items()) or "0"


def mean(values):
    return sum(values) / len(values) if values else None


delivery = [
    DELIVERY_START,
    "## Delivery",
    "",
    "- send path: `utpost --target=ledger` alone on a fresh data directory, driven by",
    f"  `utpost_loadgen` ({concurrency} clients, one mTLS connection each, one 64 KiB PDF per",
    "  letter): SendLetter acknowledgements/s with nothing behind the ledger, the reference.",
    "- delivery: `utpost --target=ledger,registry,router,mailbox-sim` and `utpost",
    "  --target=courier` in two processes on one fresh data directory (the courier reaches the",
    "  ledger's TaskService, the registry and mailbox-sim over mTLS on loopback); the",
    "  simulator, on its dev providers, answers at once and its recipients read nothing",
    "  (configuration below). `utpost_bench_routing --until handed-over --recipients mailbox`",
    "  runs the same closed SendLetter loop with every letter to the seeded recipient with a",
    "  digital mailbox, and reads a WatchLetterEvents stream: delivered/s counts",
    f"  DELIVERED_DIGITALLY events arriving in the {seconds} s window after 2 s of warm-up;",
    "  deliver latency is from a letter's SendLetter acknowledgement to that event (it",
    "  includes routing). CPU cores over the window (2 cores shared by everything, the load",
    "  generator included); the ledger's process runs ledger, registry, router and mailbox-sim.",
    "  \"delivery, defaults\" runs with the default settings (`$tmp/delivery-defaults.yaml`),",
    "  \"delivery\" with the courier's and the ledger's TaskService's pools raised",
    "  (`$tmp/delivery.yaml`, below).",
    "",
    "| run | SendLetter letters/s | SendLetter p99 ms | delivered letters/s | delivered / send path "
    "| delivered / sent | deliver p50 ms | deliver p99 ms | backlog start → end "
    "| not delivered | ledger process CPU | courier CPU | load generator CPU "
    "| ledger process RSS MiB | courier RSS MiB | errors |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
]
if send_path:
    delivery.append(
        f"| send path | {cell(send_path['letters_per_s'])} | {cell(send_path['p99_ms'], 2)} "
        f"| | | | | | | | {cell(send_path.get('server_cpu_cores'), 2)} | "
        f"| {cell(send_path.get('loadgen_cpu_cores'), 2)} "
        f"| {cell(send_path['server_peak_rss_mib'], 0)} | | {errors_of(send_path)} |")
shares = {}
for run in (delivered_defaults, delivered):
    if not run:
        continue
    share = None
    if send_path and send_path["letters_per_s"]:
        share = 100.0 * run["routed_per_s"] / send_path["letters_per_s"]
    shares[run["label"]] = share
    kept = "n/a" if run["routed_share"] is None else f"{100 * run['routed_share']:.1f} %"
    delivery.append(
        f"| {run['label']} | {cell(run['letters_per_s'])} | {cell(run['p99_ms'], 2)} "
        f"| {cell(run['routed_per_s'])} | {cell(share)} % | {kept} "
        f"| {cell(run['route_p50_ms'], 2)} | {cell(run['route_p99_ms'], 2)} "
        f"| {run['backlog_at_start']:,} → {run['backlog_at_end']:,} "
        f"| {run['not_routed']:,} | {cell(run['ledger_cpu_cores'], 2)} "
        f"| {cell(run['courier_cpu_cores'], 2)} | {cell(run['loadgen_cpu_cores'], 2)} "
        f"| {cell(run['server_peak_rss_mib'], 0)} "
        f"| {cell(run['courier_peak_rss_mib'], 0)} | {errors_of(run)} |")
share = shares.get("delivery")
if not send_path and not delivered:
    delivery.append("| missing | | | | | | | | | | | | | | | |")
delivery.append("")
if delivered and share is not None:
    delivery.append(
        f"- **64 KiB:** {cell(delivered['routed_per_s'])} letters/s delivered while SendLetter "
        f"accepted {cell(delivered['letters_per_s'])} letters/s beside it; the send path alone "
        f"accepted {cell(send_path['letters_per_s'])} letters/s: delivery reaches {share:.0f} % "
        f"of the send path's throughput (target ≥ 80 %: {verdict(share >= 80)}). "
        f"{delivered['acknowledged']:,} letters acknowledged in the run, "
        f"{delivered['not_routed']:,} not delivered at the end, "
        f"{delivered['duplicate_events']:,} delivered twice.")
    if shares.get("delivery, defaults") is not None:
        delivery.append(
            f"- With the default settings: {cell(delivered_defaults['routed_per_s'])} letters/s "
            f"delivered, {shares['delivery, defaults']:.0f} % of the send path's throughput.")
elif delivered or send_path:
    delivery.append("- **64 KiB:** not computed: a run is missing.")
if drain:
    samples = drain["rss_samples"]
    fifth = max(1, len(samples) // 5)
    first, last = samples[:fifth], samples[-fifth:]
    ledger_first, ledger_last = mean([s[1] for s in first]), mean([s[1] for s in last])
    courier_first, courier_last = mean([s[2] for s in first]), mean([s[2] for s in last])
    sim_first, sim_last = mean([s[3] for s in first]), mean([s[3] for s in last])
    delivery += [
        "",
        f"Drain: {drain['acknowledged']:,} letters ({size_name(drain['document_bytes'])} each) "
        "accepted and routed with no courier running, then `utpost --target=courier` started",
        "alone. Here mailbox-sim runs in a process of its own, beside `utpost",
        "--target=ledger,registry,router` (the ledger's process). Drain letters/s: the backlog over",
        "the time from its first DELIVERED_DIGITALLY event to its last. Peak RSS: VmHWM of each",
        "process over the drain (reset when the courier started; the peak while loading is given",
        "apart); RSS first → last fifth: mean VmRSS, sampled every second, over the first and the",
        "last fifth of the drain.",
        "",
        "| backlog | load letters/s | drain letters/s | drain s | not delivered | delivered twice "
        "| courier peak RSS MiB | courier RSS first → last fifth MiB "
        "| ledger process peak RSS MiB (load / drain) | ledger process RSS first → last fifth MiB "
        "| mailbox-sim peak RSS MiB (load / drain) | mailbox-sim RSS first → last fifth MiB "
        "| data directory MiB |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| {drain['acknowledged']:,} × {size_name(drain['document_bytes'])} "
        f"| {cell(drain['letters_per_s'])} | {cell(drain['drain_letters_per_s'])} "
        f"| {cell(drain['drain_s'], 1)} | {drain['not_routed']:,} | {drain['duplicate_events']:,} "
        f"| {cell(drain['courier_drain_peak_rss_mib'], 0)} "
        f"| {cell(courier_first, 0)} → {cell(courier_last, 0)} "
        f"| {cell(drain['ledger_load_peak_rss_mib'], 0)} / "
        f"{cell(drain['ledger_drain_peak_rss_mib'], 0)} "
        f"| {cell(ledger_first, 0)} → {cell(ledger_last, 0)} "
        f"| {cell(drain['sim_load_peak_rss_mib'], 0)} / {cell(drain['sim_drain_peak_rss_mib'], 0)} "
        f"| {cell(sim_first, 0)} → {cell(sim_last, 0)} | {drain['data_dir_mib']:,} |",
        "",
    ]
    # The RSS over the drain in tenths (mean VmRSS of each tenth of the samples), so that a
    # plateau can be told from growth.
    if len(samples) >= 10:
        tenths = [samples[len(samples) * i // 10:len(samples) * (i + 1) // 10] for i in range(10)]
        delivery.append(
            "- RSS over the drain, mean of each tenth, MiB: courier "
            + " ".join(f"{mean([s[2] for s in t]):.0f}" for t in tenths)
            + "; ledger process " + " ".join(f"{mean([s[1] for s in t]):.0f}" for t in tenths)
            + "; mailbox-sim " + " ".join(f"{mean([s[3] for s in t]):.0f}" for t in tenths)
            + ".")
    # Flat: neither process grows by more than a fifth (and 32 MiB) from the first fifth of
    # the drain to the last, while the backlog it works through shrinks to nothing.
    flat = all(a is not None and b is not None and b <= max(1.2 * a, a + 32)
               for a, b in ((courier_first, courier_last), (ledger_first, ledger_last)))
    delivery.append(
        f"- **Drain:** {drain['acknowledged']:,} letters delivered at "
        f"{cell(drain['drain_letters_per_s'])} letters/s; courier peak RSS "
        f"{cell(drain['courier_drain_peak_rss_mib'], 0)} MiB, ledger process "
        f"{cell(drain['ledger_drain_peak_rss_mib'], 0)} MiB, mailbox-sim "
        f"{cell(drain['sim_drain_peak_rss_mib'], 0)} MiB (target: the courier's and the "
        f"ledger's memory stay flat while "
        f"the backlog drains: {verdict(flat)}); {drain['not_routed']:,} not delivered, "
        f"{drain['duplicate_events']:,} delivered twice.")
    cpu = drain.get("drain_cpu_s") or {}
    if all(isinstance(cpu.get(k), (int, float)) for k in ("ledger", "courier", "sim")):
        # CPU per delivered letter, each process from the courier's start to the last
        # delivery. With everything on this machine's cores, their sum bounds the drain.
        letters = max(drain["acknowledged"], 1)
        per = {k: 1000 * cpu[k] / letters for k in ("ledger", "courier", "sim")}
        total = sum(per.values())
        cores = int(env["BENCH_NPROC"])
        delivery.append(
            f"- **CPU per delivered letter** over the drain: ledger process {per['ledger']:.2f} "
            f"ms, courier {per['courier']:.2f} ms, mailbox-sim {per['sim']:.2f} ms, "
            f"{total:.2f} ms in all; on {cores} cores that bounds the drain at "
            f"{1000 * cores / total:,.0f} letters/s when nothing else runs.")
if deliveries:
    outcomes = {}
    for run in deliveries:
        for outcome, count in run.get("outcomes", {}).items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    if outcomes:
        delivery.append("- Outcomes over the delivery runs: " + "; ".join(
            f"{outcome} {count:,}" for outcome, count in sorted(outcomes.items())) + ".")
delivery += [
    "",
    f"Measured {env['BENCH_DATE']}, revision {env['BENCH_REVISION']}, "
    f"{env['BENCH_BUILD_TYPE']} build, nproc {env['BENCH_NPROC']}, data on "
    f"{env['BENCH_FILESYSTEM']}, with `"
    + (f"BENCH_ONLY=delivery " if only else "")
    + f"BENCH_SECONDS={seconds} bench/run.sh {build_arg}`. `$tmp/delivery-defaults.yaml`:",
    "",
    "```yaml",
] + [line.rstrip("\n") for line in open(delivery_defaults_config_path)] + [
    "```",
    "",
    "`$tmp/delivery.yaml`:",
    "",
    "```yaml",
] + [line.rstrip("\n") for line in open(delivery_config_path)] + [
    "```",
    "",
    "Commands:",
    "",
    "```",
] + delivery_commands + ["```", DELIVERY_END]

# The SendLetter section, between markers so that BENCH_ONLY=send can replace it alone.
SEND_START, SEND_END = "<!-- send:start -->", "<!-- send:end -->"
pg_version = env.get("BENCH_PG_VERSION", "")
send = [
    SEND_START,
    "# SendLetter benchmark",
    "",
    f"Closed loop, {concurrency} concurrent clients (one mTLS connection each, or one libpq",
    "connection each for the PostgreSQL peer), one PDF document per letter, "
    f"{seconds} s measured after",
    "2 s of warm-up. Latency is client-side, per SendLetter call (or per write + fdatasync for",
    "the disk ceiling, per INSERT for the peer); the table counts successful calls only. MiB/s",
    "counts document bytes. Peak RSS is the server's VmHWM (for the peer: see below); CPU cores",
    "are CPU seconds per second during the measured window.",
    "",
    "- utpost: `utpost --target=ledger` (AES-256-GCM per document; each document appended once",
    "  to a segment file and synced, then a synced RocksDB batch with the letter and a pointer",
    "  to it). \"utpost, store filled\": the same, on a store that first received",
    f"  {fill_count:,} letters the same way (`utpost_loadgen --fill`).",
    "- transport ceiling: the same gRPC server set-up (mTLS, limits, keepalive, 32-thread",
    "  executor) answering SendLetter at once without storing anything.",
    f"- disk ceiling: {concurrency} threads appending the same bytes per letter to one file on",
    "  the same filesystem, fdatasync after each write, then giving the synced pages back to",
    "  the page cache (`POSIX_FADV_DONTNEED`), as utpost's segment store does. \"disk, pages",
    "  kept\": the same without giving them back (`--keep-pages`), so the cache grows into",
    "  pages it has not held before; not a ceiling, it shows what that costs on this machine.",
    "- PostgreSQL peer: what a municipality would otherwise run, its case system storing each",
    f"  letter in its own PostgreSQL" + (f" (`{pg_version}`)." if pg_version else "."),
    "  A throwaway cluster per scenario, made by `initdb` in the same bench directory (same",
    "  disk) and started on 127.0.0.1 with",
    "  `fsync=on`, `synchronous_commit=on` and `full_page_writes=on` (PostgreSQL's defaults,",
    "  named explicitly), `shared_buffers=128MB` (the default: the documents are written once",
    "  and never read back here, so a larger cache would only hold pages nobody asks for),",
    "  `max_connections=32`, everything else at initdb's defaults (`max_wal_size` 1GB,",
    "  `checkpoint_timeout` 5min, autovacuum on). `utpost_bench_pg`: "
    f"{concurrency} threads, each with its",
    "  own libpq connection over TCP on loopback (no TLS, unlike utpost's mTLS), each in a",
    "  closed loop one autocommit `INSERT ... RETURNING id` of a row (recipient text, status",
    "  text, document bytea) into `letters` (bigserial primary key, `created_at` default",
    "  `now()`), the same document bytes as utpost_loadgen sends, as a binary parameter of a",
    "  prepared statement. Like utpost it writes each document twice: into the WAL, synced at",
    "  commit, then into the table's heap/TOAST pages, written back later by the background",
    "  writer and the checkpointer. Its server peak RSS is the highest sum of PSS over the",
    "  postmaster and all its processes, sampled every 250 ms (shared buffers counted once;",
    "  the sum of their VmHWM, which counts them once per process, is in the JSON as",
    "  `server_vmhwm_sum_mib`); its server CPU is that of all those processes.",
    "",
    "| scenario | run | letters/s | MiB/s | p50 ms | p99 ms | server peak RSS MiB "
    "| server CPU cores | loadgen CPU cores | errors |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
]
for size, title in scenarios:
    for label in rows:
        run = find(label, size)
        if label == FILLED and (size != 65536 or run is None):
            continue
        if run is None:
            why = skipped(label, size)
            what = "missing" if why is None else f"skipped: {why}"
            send.append(f"| {title} | {label} | {what} | | | | | | | |")
            continue
        errors = ", ".join(f"{k} {v}" for k, v in run["errors"].items()) or "0"
        send.append(
            f"| {title} | {label} | {cell(run['letters_per_s'])} | {cell(run['mib_per_s'])} "
            f"| {cell(run['p50_ms'], 2)} | {cell(run['p99_ms'], 2)} "
            f"| {cell(run['server_peak_rss_mib'], 0)} | {cell(run.get('server_cpu_cores'), 2)} "
            f"| {cell(run.get('loadgen_cpu_cores'), 2)} | {errors} |")
send.append("")


def peer_missing(size):
    return "the PostgreSQL peer " + ("was skipped (see its row)" if skipped(PEER, size)
                                     else "is missing")


utpost, echo = find("utpost", 65536), find("transport ceiling", 65536)
disk, peer = find("disk ceiling", 65536), find(PEER, 65536)
if (utpost and echo and disk and echo["letters_per_s"] and disk["letters_per_s"]
        and utpost["p99_ms"] is not None):
    lower, lower_name = min((echo["letters_per_s"], "transport"), (disk["letters_per_s"], "disk"))
    share = 100.0 * utpost["letters_per_s"] / lower
    p99 = utpost["p99_ms"]
    if peer and peer["letters_per_s"]:
        times = utpost["letters_per_s"] / peer["letters_per_s"]
        versus = (f"{times:.2f}× the PostgreSQL peer's {cell(peer['letters_per_s'])} letters/s "
                  f"(target ≥ 2.5×: {verdict(times >= 2.5)})")
    else:
        versus = f"against the PostgreSQL peer: not computed, {peer_missing(65536)}"
    send.append(
        f"- **64 KiB, {concurrency} in flight:** SendLetter reaches {share:.0f} % of the lower "
        f"of the transport and disk ceilings (the {lower_name} ceiling, {cell(lower)} letters/s; "
        f"target ≥ 60 %: {verdict(share >= 60)}), {versus}, with p99 {p99:.1f} ms "
        f"(target < 30 ms: {verdict(p99 < 30)}).")
else:
    send.append("- **64 KiB:** not computed: a run is missing or had no successful letters.")
filled, empty = find(FILLED, 65536), find("utpost", 65536)
if filled and empty and empty["letters_per_s"]:
    change = 100.0 * (filled["letters_per_s"] / empty["letters_per_s"] - 1)
    send.append(
        f"- **Store filled:** with {filled.get('stored_before', 0):,} letters of 64 KiB "
        f"(about {filled.get('stored_before', 0) * 65536 / 1e9:.1f} GB) stored first "
        f"(in {cell(filled.get('fill_seconds'), 0)} s), SendLetter reaches "
        f"{cell(filled['letters_per_s'])} letters/s against {cell(empty['letters_per_s'])} on an "
        f"empty store ({change:+.0f} %; target: no more than 10 % slower: {verdict(change >= -10)}), p99 "
        f"{filled['p99_ms']:.1f} ms, peak RSS {cell(filled['server_peak_rss_mib'], 0)} MiB over "
        "the filling and the measurement.")
utpost, disk, peer = find("utpost", 1048576), find("disk ceiling", 1048576), find(PEER, 1048576)
if utpost and disk and disk["mib_per_s"] and utpost["server_peak_rss_mib"] is not None:
    share = 100.0 * utpost["mib_per_s"] / disk["mib_per_s"]
    rss = utpost["server_peak_rss_mib"]
    if peer and peer["mib_per_s"]:
        beside = (f"; the PostgreSQL peer {cell(peer['mib_per_s'])} MiB/s "
                  f"({100.0 * peer['mib_per_s'] / disk['mib_per_s']:.0f} % of the disk "
                  f"ceiling; utpost {utpost['mib_per_s'] / peer['mib_per_s']:.2f}× the peer)")
    else:
        beside = f"; {peer_missing(1048576)}"
    send.append(
        f"- **1 MiB:** SendLetter reaches {share:.0f} % of the disk ceiling's bytes/s "
        f"(target ≥ 75 %: {verdict(share >= 75)}), peak RSS {rss:.0f} MiB "
        f"(target < 1 GiB: {verdict(rss < 1024)}){beside}.")
else:
    send.append("- **1 MiB:** not computed: a run is missing or reported no peak RSS.")
peers = [run for run in (find(PEER, size) for size, _ in scenarios) if run]
if peers:
    send.append(
        "- **PostgreSQL peer, bytes written:** "
        + "; ".join(
            f"{size_name(run['document_bytes'])}: {cell(run.get('wal_mib'), 0)} MiB of WAL and "
            f"a table of {cell(run.get('table_mib'), 0)} MiB (heap, TOAST, index) for "
            f"{run.get('inserted', 0):,} letters of "
            f"{cell(run.get('inserted', 0) * run['document_bytes'] / 1048576, 0)} MiB"
            for run in peers)
        + ".")
if any(run.get("errors") for run in runs):
    send.append("- Some calls failed (see the errors column); their latencies are not in the table.")
send += [
    "",
    f"Measured {env['BENCH_DATE']}, revision {env['BENCH_REVISION']}, "
    f"{env['BENCH_BUILD_TYPE']} build, nproc {env['BENCH_NPROC']}, data on "
    f"{env['BENCH_FILESYSTEM']}, with `"
    + ("BENCH_ONLY=send " if only else "")
    + f"BENCH_SECONDS={seconds} bench/run.sh {build_arg}`.",
    "",
    "Commands (`$tmp` is a fresh `mktemp -d` under the bench directory; each utpost and echo",
    "server was stopped with SIGTERM after its load run; as root, PostgreSQL's programs run as",
    "the user postgres):",
    "",
    "```",
] + send_commands + ["```", SEND_END]

if only:
    old = open(out_path).read() if os.path.exists(out_path) else ""
    start, end, block = {
        "send": (SEND_START, SEND_END, "\n".join(send)),
        "routing": (ROUTING_START, ROUTING_END, "\n".join(routing)),
        "delivery": (DELIVERY_START, DELIVERY_END, "\n".join(delivery)),
    }[only]
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    # A results.md written before the SendLetter section had markers: the section is the
    # file's start, up to the next section or marker.
    legacy = re.compile(r"\A# SendLetter benchmark\n.*?(?=\n## |\n<!-- |\Z)", re.S)
    if pattern.search(old):
        text = pattern.sub(lambda _: block, old)
    elif only == "send" and legacy.search(old):
        text = legacy.sub(lambda _: block, old)
    elif only == "send":
        text = block + "\n\n" + old.lstrip("\n")
    elif "\n## Environment\n" in old:
        text = old.replace("\n## Environment\n", "\n" + block + "\n\n## Environment\n", 1)
    else:
        text = old.rstrip("\n") + "\n\n" + block + "\n"
    with open(out_path, "w") as out:
        out.write(text)
    print(block)
    sys.exit(0)


registry = json.loads(env["BENCH_REGISTRY_RESULT"])
lines = send + [
    "",
    "## Registry import",
    "",
    f"- **Registry import:** {registry['imported']:,} of {registry['rows']:,} rows in "
    f"{registry['seconds']:.1f} s ({registry['rows_per_s']:,.0f} rows/s) through "
    f"RegistryService.Import (one stream, messages of 1000 rows, each a synced batch) "
    f"(target < 60 s: {verdict(registry['seconds'] < 60 and registry['errors'] == 0)}).",
]
lines += [
    "",
    "## Lease cost",
    "",
    "`utpost_bench_lease`: Ledger::LeaseTasks (TaskService.LeaseTasks without gRPC: queue scan,",
    "per-task lock and re-read, one synced write of the leases, each letter read and opened) of",
    "1000 ROUTE tasks on a real RocksDB, timed per call; 1000 letters are accepted before each",
    "call. \"after N finished\": N tasks were first queued, leased and finished (deleted) in",
    "batches of 1000, exactly as the ledger writes them. \"no floor\" is a plain scan of the",
    "queue from the start of the kind to now, as leasing would read without its floor.",
    "Tombstones skipped: RocksDB's perf context, the most in one call.",
    "",
    "| queue | tasks | calls | median ms | min ms | max ms | tombstones skipped |",
    "|---|--:|--:|--:|--:|--:|--:|",
]
for run in leases:
    lines.append(
        f"| {run['scenario']} | {run['tasks']:,} | {run['rounds']} | {cell(run['median_ms'], 2)} "
        f"| {cell(run['min_ms'], 2)} | {cell(run['max_ms'], 2)} "
        f"| {run['max_tombstones_skipped']:,} |")
if not leases:
    lines.append("| missing | | | | | | |")
empty = next((r for r in leases if r["scenario"] == "empty queue"), None)
full = next((r for r in leases if r["scenario"].endswith(" finished")), None)
if empty and full and empty["median_ms"]:
    ratio = full["median_ms"] / empty["median_ms"]
    lines.append("")
    lines.append(
        f"- **Lease cost:** after {full['finished_tasks']:,} finished tasks a lease of 1000 takes "
        f"{ratio:.2f}× what it takes on an empty queue (target: about the same, ≤ 1.5×: "
        f"{verdict(ratio <= 1.5)}).")

lines += [""] + routing + [""] + delivery + [
    "",
    "## Environment",
    "",
    f"- date: {env['BENCH_DATE']}",
    f"- nproc: {env['BENCH_NPROC']} ({env['BENCH_CPU']}); the load generator shares the machine "
    "with the server",
    f"- kernel: {env['BENCH_KERNEL']}; data directories on {env['BENCH_FILESYSTEM']}",
    f"- build: {env['BENCH_BUILD_TYPE']} ({build_arg}), revision {env['BENCH_REVISION']}",
    f"- command: `BENCH_SECONDS={seconds} bench/run.sh {build_arg}` (`make bench` builds "
    "build-bench in Release, then runs `bench/run.sh build-bench`)",
    "",
    "Commands of the lease benchmark and the registry import (`$tmp` is a fresh `mktemp -d`",
    "under the bench directory; the server was stopped with SIGTERM after its load run; the",
    "other sections list their own):",
    "",
    "```",
] + commands + ["```", ""]

text = "\n".join(lines)
with open(out_path, "w") as out:
    out.write(text)
print(text)
PY
fi

# The Forms section, between its markers (added before "## Environment" if missing).
if [[ -z $only || $only == forms ]]; then
  python3 "$root/bench/forms_section.py" "$forms_results" "$forms_commands" \
    "$root/bench/results.md"
fi
