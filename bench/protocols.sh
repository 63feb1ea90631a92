#!/usr/bin/env bash
# Real clients against the protocol examples and their baselines, in one run:
#   redis-benchmark -q -t ping,set,get -n 20000 -P 16   (and -P 1)
#       against examples/resp_server.ts and a real redis-server
#   wrk -t1 -c50 -d3s
#       against examples/http_server.ts and Deno.serve serving the same page
# Every server listens on loopback and is stopped at the end. The machine's
# cores are shared by the clients and the servers, so the figures compare the
# servers with each other, on this machine, in this run; nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in redis-server redis-benchmark wrk deno; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME COMMAND...: runs it in the background (its pid kept for cleanup)
# and sets $port from its "listening on host:port" line, or waits for redis's
# "Ready to accept" (at most 15 s). Not run in $(...): the pid must reach us.
port=
start() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 150); do
    if grep -sqE 'listening on|Ready to accept' "$work/$name.log"; then
      port=$(grep -oE 'listening on [^ ]+' "$work/$name.log" | sed -E 's/.*:([0-9]+)$/\1/' || true)
      return
    fi
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

free_port() {
  deno eval 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close();'
}

start resp deno run --allow-net=127.0.0.1 --allow-env=HOST,PORT examples/resp_server.ts 0
resp_port=$port
redis_port=$(free_port)
start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work"
start http deno run --allow-net=127.0.0.1 --allow-env=HOST,PORT examples/http_server.ts 0
http_port=$port
start serve deno run --allow-net=127.0.0.1 bench/deno_serve_hello.ts 0
serve_port=$port

echo "# $(date -u +%FT%TZ), $(nproc) cores, $(deno --version | head -1), $(redis-server --version | cut -d' ' -f1-3)"
echo
echo "## redis-benchmark -q -t ping,set,get -n 20000 (requests per second)"
bench_redis() { # label port -P
  redis-benchmark -h 127.0.0.1 -p "$2" -q -t ping,set,get -n 20000 -P "$3" 2>&1 |
    tr '\r' '\n' | grep -E '^[A-Z_]+: [0-9.]+ requests per second' |
    sed -E "s#^([A-Z_]+): ([0-9.]+) requests per second, p50=([0-9.]+) msec.*#| $1 | -P $3 | \1 | \2 | \3 |#"
}
echo "| server | pipeline | test | requests/s | p50 ms |"
echo "| --- | --- | --- | --- | --- |"
for p in 16 1; do
  bench_redis "examples/resp_server.ts" "$resp_port" "$p"
  bench_redis "redis-server" "$redis_port" "$p"
done
echo
echo "## wrk -t1 -c50 -d3s, the hello page"
echo "| server | requests/s | avg latency | non-2xx | socket errors |"
echo "| --- | --- | --- | --- | --- |"
bench_http() { # label port
  local out
  out=$(wrk -t1 -c50 -d3s "http://127.0.0.1:$2/")
  local rps lat non2xx errors
  rps=$(grep -oE 'Requests/sec: +[0-9.]+' <<<"$out" | grep -oE '[0-9.]+$')
  lat=$(grep -E '^ +Latency' <<<"$out" | awk '{print $2}')
  non2xx=$(grep -oE 'Non-2xx or 3xx responses: [0-9]+' <<<"$out" | grep -oE '[0-9]+$' || echo 0)
  errors=$(grep -oE 'Socket errors: .*' <<<"$out" || echo none)
  echo "| $1 | $rps | $lat | $non2xx | ${errors#Socket errors: } |"
}
bench_http "examples/http_server.ts" "$http_port"
bench_http "Deno.serve" "$serve_port"
