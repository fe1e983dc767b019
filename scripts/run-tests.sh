#!/usr/bin/env bash
# run-tests.sh BUILD_DIR - runs the Criterion suite built in BUILD_DIR.
# Integration tests start BUILD_DIR/flowstate on free loopback ports; they
# find it through FLOWSTATE_BIN.
set -euo pipefail
build=${1:-build}
export FLOWSTATE_BIN="$PWD/$build/flowstate"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}
export TMPDIR=${TMPDIR:-/tmp}
exec "$build/flowstate-tests" --jobs 2 --timeout 600 "${@:2}"
