#!/usr/bin/env bash
# run.sh run BUILD_DIR [SECONDS] | merge BUILD_DIR - drives the libFuzzer
# binaries `make fuzz` builds in BUILD_DIR/fuzz/ (one per fuzz/*.c).
#
#   run    each target in turn (one at a time: the machine has 2 cores) for
#          SECONDS (default 60), seeded from fuzz/corpus/<target>/, which is
#          only read.  New inputs go to BUILD_DIR/new/<target>/, crashing
#          inputs to BUILD_DIR/crash/<target>-*.  Exits 1 if any target
#          failed, after running them all.
#   merge  adds to fuzz/corpus/<target>/ only the inputs of
#          BUILD_DIR/new/<target>/ that reach code the corpus does not
#          (libFuzzer -merge=1).  Review them, `make test`, then commit.
#
# FUZZ_TARGETS="fuzz_body fuzz_time" limits either mode to some targets;
# FUZZ_ARGS adds libFuzzer flags (e.g. FUZZ_ARGS=-jobs=2).  A crash is
# reproduced with BUILD_DIR/fuzz/<target> BUILD_DIR/crash/<file>; add the
# file to fuzz/corpus/<target>/ once fixed, so the replay test
# (tests/fuzz/test_corpus.c) keeps it fixed.
set -euo pipefail
mode=${1:?usage: run.sh run|merge BUILD_DIR [SECONDS]}
build=${2:?usage: run.sh run|merge BUILD_DIR [SECONDS]}
secs=${3:-60}
cd "$(dirname "$0")/.."

targets=${FUZZ_TARGETS:-$(cd fuzz && ls -- *.c | sed 's/\.c$//')}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in $targets; do
  bin=$build/fuzz/$t corpus=fuzz/corpus/$t new=$build/new/$t
  [ -x "$bin" ] || { echo "run.sh: $bin not built (make fuzz)" >&2; exit 2; }
  mkdir -p "$corpus" "$new" "$build/crash"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  case $mode in
  run)
    log=$build/log/$t.log
    mkdir -p "$build/log"
    echo "== $t: ${secs}s from $corpus ($(ls "$corpus" | wc -l) seeds), log $log"
    # shellcheck disable=SC2086
    if ! "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$build/crash/$t-" "${dict[@]}" ${FUZZ_ARGS:-} \
        "$new" "$corpus" >"$log" 2>&1; then
      failed+=("$t")
      grep -E 'contract broken|ERROR: |SUMMARY|Test unit written' "$log" ||
        tail -20 "$log"
    fi
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' "$log" || true
    ;;
  merge)
    before=$(ls "$corpus" | wc -l)
    "$bin" -merge=1 "${dict[@]}" "$corpus" "$new" >/dev/null 2>&1 ||
      failed+=("$t")
    echo "$t: $before -> $(ls "$corpus" | wc -l) files in $corpus"
    ;;
  *) echo "run.sh: unknown mode $mode" >&2; exit 2 ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $build/crash/)" >&2
  exit 1
fi
echo "fuzz: $mode done"
