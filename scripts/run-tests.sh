#!/usr/bin/env bash
# run-tests.sh BUILD_DIR [CRITERION ARGS...] - runs the Criterion suite
# built in BUILD_DIR, then the store and queue suites a second time on
# PostgreSQL: a throwaway cluster (scripts/pg.sh) is started for them and
# removed on exit, and FLOWSTATE_TEST_DB points tests/support/testdb at it
# (each test gets a database of its own).
#
# Integration tests start BUILD_DIR/flowstate on free loopback ports; they
# find it through FLOWSTATE_BIN.  FLOWSTATE_TEST_PG=0 skips the PostgreSQL
# pass; FLOWSTATE_TEST_DB set to a postgres:// URL runs it on that server
# instead of a throwaway cluster.
set -euo pipefail
build=${1:-build}
export FLOWSTATE_BIN="$PWD/$build/flowstate"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}
export TMPDIR=${TMPDIR:-/tmp}
tests=("$build/flowstate-tests" --jobs 2 --timeout 600)

# The first pass runs on SQLite whatever the caller's environment says.
pg_url=${FLOWSTATE_TEST_DB:-}
case "$pg_url" in postgres://*|postgresql://*) ;; *) pg_url= ;; esac
FLOWSTATE_TEST_DB= "${tests[@]}" "${@:2}"

[ "${FLOWSTATE_TEST_PG:-1}" = 0 ] && exit 0
# The suites of tests/store and tests/queue, and those of the memory, the
# workflow engine and the evolution log (their TestSuite names): they
# reach the store only through testdb.  (tests/review's store_review has a
# SQLite-only fault injection test, so it stays out.)  pg_scaleout and
# pg_cluster (tests/integration) run servers on PostgreSQL only: several
# servers on one database, and PostgreSQL restarting under load.
filter='@(store|store_workflows|store_schedules|store_evolution|store_changes|store_sqlite|store_dump|memory|memory_sync|memory_recall|embed_cache|space|workflow|evolution|queue|queue_watch|sched|pg_scaleout|pg_cluster)/*'
if [ -z "$pg_url" ]; then
  cluster=$(mktemp -d "$TMPDIR/fs-pg-XXXXXX")
  trap 'scripts/pg.sh stop "$cluster"' EXIT
  pg_url=$(scripts/pg.sh start "$cluster")
fi
echo "run-tests: the store and queue suites again, and the scale-out tests, on PostgreSQL"
FLOWSTATE_TEST_DB=$pg_url "${tests[@]}" --filter "$filter"
