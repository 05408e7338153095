#!/usr/bin/env bash
# User-space instructions per request, per server: the server runs under valgrind's
# callgrind with instrumentation off until the benchmark's own client starts, and is
# dumped when the client ends; its instructions divided by the requests the client
# counted. Instruction counts hardly move with the machine's load (which sets the
# wall-clock rows' spread), so a change's effect shows even on a shared machine; they
# leave out the kernel, so compare servers' syscalls too (--syscalls: valgrind's
# --trace-syscalls, counted over the same stretch).
# Usage: nice -n 19 bench/callgrind.sh [--syscalls] [seconds] [workload...]
#   workloads: pipelined http echo64 echo1k echo16k echo64k (default: all)
# Each run takes a few seconds; the server under valgrind is ~50x slower, so it, not
# the client, is the limit (the requests counted are fewer than natively).
# KEEP=dir keeps each server's profile as dir/<workload>-<side>.callgrind.N, for
# callgrind_annotate (where the instructions go, by function).
set -euo pipefail
cd "$(dirname "$0")/.."
syscalls=no
if [ "${1:-}" = --syscalls ]; then syscalls=yes; shift; fi
seconds=${1:-3}
shift || true
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(pipelined http echo64 echo1k echo16k echo64k)
# BENCHES=path measures another build of the benches binary (an earlier commit's, for
# a before/after pair) instead of building this tree's.
bin=${BENCHES:-}
if [ -z "$bin" ]; then
    cargo build --release -p benches --quiet
    bin=target/release/benches
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# One server side under callgrind, its client natively: prints instructions / request
# (and with --syscalls the syscalls / request, by name).
measure() {
    local side=$1 server_args=$2 client_args=$3
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --dump-instr=no --instr-atstart=no \
        --trace-syscalls=$syscalls --log-file="$scratch/vg" \
        --callgrind-out-file="$scratch/cg" "$bin" --child $server_args > "$scratch/port" &
    local server=$!
    for _ in $(seq 600); do grep -q '^port ' "$scratch/port" && break; sleep 0.1; done
    local port
    port=$(awk '/^port /{print $2}' "$scratch/port")
    if [ -z "$port" ]; then
        kill "$server" 2>/dev/null || true
        echo "the $side server announced no port" >&2
        exit 1
    fi
    callgrind_control -i on "$server" > /dev/null 2>&1
    local before requests
    before=$(wc -l < "$scratch/vg")
    # shellcheck disable=SC2086
    requests=$("$bin" --child $client_args --port "$port" --seconds "$seconds" | awk '{print $1}')
    local after
    after=$(wc -l < "$scratch/vg")
    callgrind_control -i off "$server" > /dev/null 2>&1
    callgrind_control -d "$server" > /dev/null 2>&1
    kill "$server"
    wait "$server" 2>/dev/null || true
    local instructions
    instructions=$(awk '/^totals:/{print $2}' "$scratch"/cg.*)
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        for f in "$scratch"/cg.*; do cp "$f" "$KEEP/${side// /-}.callgrind.${f##*.}"; done
    fi
    rm -f "$scratch"/cg*
    local calls=""
    if [ $syscalls = yes ]; then
        calls=$(sed -n "$((before + 1)),${after}p" "$scratch/vg" | grep -o 'sys_[a-z_0-9]*' |
            sort | uniq -c | sort -rn | head -4 |
            awk -v n="$requests" '{printf "%s%s %.2f", sep, substr($2, 5), $1 / n; sep = ", "}')
    fi
    awk -v i="$instructions" -v n="$requests" -v s="$side" -v c="$calls" \
        'BEGIN { printf "| %s | %d | %.0f | %s |\n", s, n, i / n, c }'
}

echo "| server | requests | instructions / request | syscalls / request |"
echo "| --- | ---: | ---: | --- |"
for workload in "${workloads[@]}"; do
    case $workload in
        pipelined) server=pipelined-server; client="pipelined-client"; size="" ;;
        http) server=http-server; client="echo-client --http 1 --connections 64"; size="" ;;
        echo64) server=echo-server; size=64 ;;
        echo1k) server=echo-server; size=1024 ;;
        echo16k) server=echo-server; size=16384 ;;
        echo64k) server=echo-server; size=65536 ;;
        *) echo "no workload $workload" >&2; exit 1 ;;
    esac
    for side in ioloop tokio; do
        if [ "$server" = echo-server ]; then
            client="echo-client --size $size --connections 64"
        fi
        measure "$workload $side" "$server $side $size" "$client"
    done
done
