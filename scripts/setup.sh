#!/usr/bin/env bash
# setup.sh [build|test|bench|fuzz] - install the Debian packages Flowstate
# needs, only those missing.  Run by `make run`, `make test`, `make bench`
# and `make fuzz`, so a fresh Debian 12 machine needs nothing else.
set -euo pipefail

need=(pkg-config libsqlite3-dev libmicrohttpd-dev libjansson-dev
      libcurl4-openssl-dev libstemmer-dev libpq-dev)
case "${1:-build}" in
  # postgresql-15: scripts/pg.sh's throwaway cluster, on which the store
  # and queue suites run a second time.
  test)  need+=(libcriterion-dev curl procps python3 postgresql-15) ;;
  # g++ and FAISS (with OpenBLAS) for bench/faiss_bench.cpp, the anchor of
  # `flowstate bench vectors`.
  bench) need+=(libcriterion-dev curl procps wrk nginx-light sqlite3
                g++ libfaiss-dev libopenblas-dev postgresql-15) ;;
  fuzz)  need+=(clang libclang-rt-14-dev) ;;
esac

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
