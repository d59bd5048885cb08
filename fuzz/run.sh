#!/usr/bin/env bash
# Runs the libFuzzer harnesses of a UTPOST_FUZZ build, one after another.
#
# usage: fuzz/run.sh regress BUILD SECONDS   each harness for SECONDS from fuzz/corpus/<name>;
#                                            inputs it finds go to a temporary directory
#                                            (make test)
#        fuzz/run.sh fuzz BUILD SECONDS      each harness for SECONDS; inputs it finds are kept
#                                            in BUILD/fuzz-corpus/<name>, outside the tree,
#                                            and reused by the next run (make fuzz)
#        fuzz/run.sh merge BUILD             adds the inputs in BUILD/fuzz-corpus/<name> that
#                                            reach new coverage to fuzz/corpus/<name>
#                                            (make fuzz-merge)
# FUZZERS="a b" limits the run to those harnesses. Exits non-zero if any harness crashed,
# leaked, hit undefined behaviour or broke an invariant; the input that did it is kept as
# BUILD/fuzz-crashes/<name>-crash-<sha1> (copy it into fuzz/corpus/<name>/ to keep it as a
# regression test).
set -euo pipefail

mode=${1:?usage: fuzz/run.sh regress|fuzz|merge BUILD [SECONDS]}
build=${2:?usage: fuzz/run.sh regress|fuzz|merge BUILD [SECONDS]}
seconds=${3:-60}
src=$(cd "$(dirname "$0")" && pwd)
list="$build/fuzz/fuzzers.txt"
[ -f "$list" ] || { echo "no $list: configure $build with -DUTPOST_FUZZ=ON" >&2; exit 2; }
fuzzers=${FUZZERS:-$(cat "$list")}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
crashes="$build/fuzz-crashes"
mkdir -p "$crashes"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=()
passed=0
for name in $fuzzers; do
  bin="$build/fuzz/$name"
  corpus="$src/corpus/$name"
  log="$build/fuzz/$name.log"
  common=(-artifact_prefix="$crashes/$name-" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1)
  case "$mode" in
    regress)
      mkdir -p "$tmp/$name"
      args=("${common[@]}" -max_total_time="$seconds" "$tmp/$name" "$corpus") ;;
    fuzz)
      mkdir -p "$build/fuzz-corpus/$name"
      args=("${common[@]}" -max_total_time="$seconds" "$build/fuzz-corpus/$name" "$corpus") ;;
    merge)
      mkdir -p "$build/fuzz-corpus/$name"
      args=("${common[@]}" -merge=1 "$corpus" "$build/fuzz-corpus/$name") ;;
    *)
      echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  start=$SECONDS
  if "$bin" "${args[@]}" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    printf '%-22s ok      %4ds  %10s runs  %5d corpus files\n' "$name" $((SECONDS - start)) \
      "${runs:-?}" "$(ls "$corpus" | wc -l)"
    passed=$((passed + 1))
  else
    printf '%-22s FAILED  %4ds  (log: %s)\n' "$name" $((SECONDS - start)) "$log"
    grep -E 'ERROR|invariant broken|runtime error|Test unit written' "$log" | head -20 || true
    failed+=("$name")
  fi
done
# The closing line, in the form test summaries take.
echo "fuzz: $passed passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: harnesses that failed: ${failed[*]}" >&2
  exit 1
fi
