#!/usr/bin/env bash
# Runs the benchmarks: the micro benches, then the graph harness on one and two threads at full
# speed, the machine's own jitter, and two threads paced at 200 000 ticks/s for latency. Each graph
# configuration runs REPS times (default 3); the summary gives the median and the spread (min..max).
#
#   bash bench/run.sh BUILD_DIR          (make bench does: bash bench/run.sh build)
#   REPS=1 TICKS=1000000 bash bench/run.sh build    (quicker)
#
# Knobs (environment): REPS (3), TICKS (5000000), SYMBOLS (1000), LAT_TICKS (2000000),
# LAT_RATE (200000), JITTER_SECONDS (5).
#
# About a minute with the defaults.
set -euo pipefail

build=${1:-build}
reps=${REPS:-3}
ticks=${TICKS:-5000000}
lat_ticks=${LAT_TICKS:-2000000}
lat_rate=${LAT_RATE:-200000}
symbols=${SYMBOLS:-1000}

bench="$build/bench/tapewire-bench"
micro="$build/bench/tapewire-micro"
for b in "$bench" "$micro"; do
  if [ ! -x "$b" ]; then
    echo "run.sh: $b not found; build it first: cmake --build $build -j2 --target tapewire-bench tapewire-micro" >&2
    exit 1
  fi
done

echo "== machine: $(nproc) CPUs, $(uptime | sed 's/.*load average/load average/')"
echo

echo "== micro benches (tapewire-micro)"
"$micro" --benchmark_min_time=0.3
echo

# field JSON NAME: the number after "NAME": in a one-line JSON object.
field() { sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" <<<"$1"; }

# summarise LABEL VALUES...: median (the middle one, the upper of two) and min..max.
summarise() {
  local label=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v label="$label" '
    { v[NR] = $1 }
    END { printf "    %-14s median %-12s (min %s .. max %s)\n", label, v[int(NR / 2) + 1], v[1], v[NR] }'
}

# graph TITLE ARGS...: runs the graph harness REPS times and summarises.
graph() {
  local title=$1
  shift
  echo "== $title: tapewire-bench graph $*"
  local tps=() p50=() p99=() p999=() mx=() allocs=()
  for ((r = 1; r <= reps; r++)); do
    local out
    out=$("$bench" graph "$@" --json)
    echo "  run $r: $out"
    tps+=("$(field "$out" ticks_per_s)")
    p50+=("$(field "$out" p50)")
    p99+=("$(field "$out" p99)")
    p999+=("$(field "$out" p999)")
    mx+=("$(field "$out" max)")
    allocs+=("$(field "$out" allocs_per_tick)")
  done
  summarise "ticks/s" "${tps[@]}"
  summarise "p50 ns" "${p50[@]}"
  summarise "p99 ns" "${p99[@]}"
  summarise "p99.9 ns" "${p999[@]}"
  summarise "max ns" "${mx[@]}"
  summarise "allocs/tick" "${allocs[@]}"
  echo "  load after: $(uptime | sed 's/.*load average/load average/')"
  echo
}

graph "throughput, 1 thread" --threads 1 --symbols "$symbols" --ticks "$ticks"
graph "throughput, 2 threads" --threads 2 --symbols "$symbols" --ticks "$ticks"
echo "== jitter: what the machine itself does to a spinning thread (the floor under the latency tail)"
"$bench" jitter --seconds "${JITTER_SECONDS:-5}"
echo

graph "latency at $lat_rate ticks/s, 2 threads" --threads 2 --symbols "$symbols" --ticks "$lat_ticks" --rate "$lat_rate"

echo "targets: >= 3000000 ticks/s on 1 thread, >= 5000000 on 2 threads (1000 symbols), 0 allocs/tick"
