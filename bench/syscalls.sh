#!/usr/bin/env bash
# Syscalls per echo round trip, per server: perf counts the syscall tracepoints of the
# server process while the benchmark's own client loads it (64 connections, 64 B), the
# server on CPU 0 and the client on CPU 1 as in the echo row. Cheap enough to leave
# the figures undisturbed, unlike strace.
# Usage: bench/syscalls.sh [seconds]      (needs perf and tracepoint access; run it
# under `flock /tmp/measure.lock` on a shared machine)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
cargo build --release -p benches --quiet
bin=target/release/benches
events=raw_syscalls:sys_enter
for s in recvfrom sendto read write writev readv epoll_wait epoll_pwait epoll_ctl; do
    events+=",syscalls:sys_enter_$s"
done
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "| server | syscalls / round trip | of which |"
echo "| --- | ---: | --- |"
for side in ioloop tokio mio; do
    taskset -c 0 "$bin" --child echo-server "$side" > "$scratch/port" &
    server=$!
    for _ in $(seq 100); do grep -q '^port ' "$scratch/port" && break; sleep 0.05; done
    port=$(awk '/^port /{print $2}' "$scratch/port")
    [ -n "$port" ] || { echo "the $side server announced no port" >&2; exit 1; }
    perf stat -x, -e "$events" -p "$server" -o "$scratch/perf" &
    perf_pid=$!
    sleep 0.5 # perf attaches
    trips=$(taskset -c 1 "$bin" --child echo-client --port "$port" --seconds "$seconds" --connections 64 | awk '{print $1}')
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    kill "$server"
    wait "$server" 2>/dev/null || true
    awk -F, -v trips="$trips" -v side="$side" '
        /^#/ || NF < 3 { next }
        $3 == "raw_syscalls:sys_enter" { total = $1 / trips; next }
        $1 + 0 > 0 { sub("syscalls:sys_enter_", "", $3); parts = parts sprintf("%s%s %.2f", sep, $3, $1 / trips); sep = ", " }
        END { printf "| %s | %.2f | %s |\n", side, total, parts }
    ' "$scratch/perf"
done
