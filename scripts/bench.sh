#!/usr/bin/env bash
# bench.sh BUILD_DIR - the benchmarks, each beside its anchor, as tables.
#   1. the queue through the C API (anchor: raw SQLite inserts, same run);
#   2. the queue over HTTP (a real server on a loopback port);
#   3. GET /v1/health with wrk, beside nginx serving a small static file.
#   4. the exact vector scan (anchor: the scalar kernels, same run) and the
#      int8 scan with re-scoring, on siftsmall and 20,000 x 1536 vectors.
#   5. the HNSW index on siftsmall, with filtered rows.
#   6. `flowstate bench vectors` beside FAISS (Debian libfaiss through
#      bench/faiss_bench, same files, same run) on siftsmall and on
#      BENCH_VEC_N (100,000) x 1536 clustered vectors, HNSW builds on
#      BENCH_VEC_THREADS (2) threads for both; about 10 minutes, most of it
#      FAISS's HNSW build.
#   7. retrieval quality on SciFact, CISI, CACM: BM25, local embedder, hybrid.
#   8. workflow engine overhead over the bare queue; 1000 concurrent runs.
#   9. the code analyser's lines/s on this project's own source.
#  10. the data processor's rows/s (validate, normalize, dedupe).
#  11. the agent runtime's dispatch overhead over bare queue cycles.
#  12. the queue's full cycle across 1, 2, 4 processes on PostgreSQL (a
#      throwaway cluster, scripts/pg.sh) and on SQLite, batches of 16, 64
#      and 256, beside pgbench -N on the same cluster in the same run.
# Everything runs on loopback and stops by itself.
set -euo pipefail
build=${1:-build/rel}
jobs=${BENCH_JOBS:-100000}
tmp=$(mktemp -d /tmp/fs-bench-XXXXXX)
pids=()
pgdir=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$pgdir" ] && scripts/pg.sh stop "$pgdir"
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== 1. queue, C API"
"$build/bench/bench_queue" --jobs "$jobs" --dir "$tmp"
echo

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== 2. queue, HTTP worker protocol"
key=fsk_bench_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
FLOWSTATE_API_KEY=$key "$build/flowstate" serve --db "$tmp/http.db" --port 0 \
  --port-file "$tmp/port" --log-level error &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
"$build/bench/bench_http" "http://127.0.0.1:$port" "$key" "$((jobs / 2))"
echo

echo "== 3. GET /v1/health with wrk (2 threads, 32 connections, 5 s)"
nport=$(free_port)
mkdir -p "$tmp/www" "$tmp/nginx"
printf '{"status":"ok"}\n' > "$tmp/www/health.json"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx;
  fastcgi_temp_path $tmp/nginx; uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$nport; root $tmp/www; }
}
CONF
nginx -c "$tmp/nginx.conf" &
pids+=($!)
sleep 0.5
rate() { wrk -t2 -c32 -d5s "$1" | awk '/Requests\/sec/ {print $2}'; }
fs=$(rate "http://127.0.0.1:$port/v1/health")
ng=$(rate "http://127.0.0.1:$nport/health.json")
printf '%-40s %12s /s\n' "flowstate GET /v1/health" "$fs"
printf '%-40s %12s /s\n' "anchor: nginx static file (1 worker)" "$ng"
python3 -c "print('%-40s %12.2fx' % ('flowstate / nginx', $fs / $ng))"
echo

echo "== 4. vector scan, exact and int8 (one thread, about 15 s)"
"$build/bench/bench_vec" --data "${FLOWSTATE_DATA_DIR:-../shared/data}"
echo

echo "== 5. HNSW index on siftsmall (one thread; FAISS beside it in section 6)"
"$build/bench/bench_hnsw" --data "${FLOWSTATE_DATA_DIR:-../shared/data}"
echo

echo "== 6. vector indexes beside FAISS (flowstate bench vectors: one thread per search, one query per call)"
sift=${FLOWSTATE_DATA_DIR:-../shared/data}/siftsmall
if [ -f "$sift/siftsmall_base.fvecs" ]; then
  echo "-- siftsmall (l2, the set's own ground truth)"
  "$build/flowstate" bench vectors --base "$sift/siftsmall_base.fvecs" \
    --queries "$sift/siftsmall_query.fvecs" \
    --truth "$sift/siftsmall_groundtruth.ivecs" --metric l2
else
  echo "siftsmall not found in $sift; skipped"
fi
echo
vec_n=${BENCH_VEC_N:-100000}
vec_threads=${BENCH_VEC_THREADS:-2}
echo "-- synthetic ${vec_n} x 1536 (cosine, 100 clusters, 1000 queries; HNSW builds on $vec_threads threads, ours and FAISS's)"
"$build/flowstate" bench vectors --synthetic "${vec_n}x1536" --clusters 100 \
  --queries 1000 --seed 1 --metric cosine --threads "$vec_threads" \
  --ef 16,32,64,96,128,256
echo

echo "== 7. retrieval quality (nDCG@10, MAP@100: BM25, local embedder, hybrid)"
for set in scifact cisi cacm; do
  dir="${FLOWSTATE_DATA_DIR:-../shared/data}/$set"
  if [ -d "$dir" ]; then
    "$build/bench/bench_retrieval" --data "$dir"
    echo
  else
    echo "$set not found; skipped"
  fi
done

echo "== 8. workflow engine vs bare queue (chain, fan-out, 1000 concurrent runs)"
"$build/bench/bench_workflow" --dir "$tmp"
echo

echo "== 9. code_analyzer: lines/s over Flowstate's own src/"
"$build/bench/bench_code" --path src
echo

echo "== 10. data_processor: validate + normalize + dedupe on 100,000 rows"
"$build/bench/bench_data" --data "${FLOWSTATE_DATA_DIR:-../shared/data}"
echo

echo "== 11. agent dispatch (lease -> handler -> result stored) vs bare queue cycles"
"$build/bench/bench_agents" --dir "$tmp"
echo

echo "== 12. queue full cycle across processes: PostgreSQL, SQLite, pgbench -N anchor"
pgdir=$(mktemp -d /tmp/fs-bench-pg-XXXXXX) # pg.sh hands it to the postgres user
pgurl=$(scripts/pg.sh start "$pgdir")
"$build/bench/bench_pgqueue" --url "$pgurl" --jobs "$jobs" --dir "$tmp"
echo
