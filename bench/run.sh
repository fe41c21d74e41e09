#!/usr/bin/env bash
# Runs the benchmarks: the micro benches, then the graph harness on one and two threads at full
# speed, the machine's own jitter, two threads paced at 200 000 ticks/s for latency, and the Kafka
# input bench (tapewire against a bare librdkafka consumer and kcat, and produce-to-bar latency, on
# the in-process embedded broker), and the SQL sink bench (tapewire's ODBC writer into a throwaway
# PostgreSQL 15 against libpq COPY of the same rows, and bars-only emission-to-commit latency). Each
# graph configuration and the Kafka bench run REPS times (default 3), the sink bench's throughput
# phase REPS times inside one invocation; the summary gives the median and the spread (min..max).
#
#   bash bench/run.sh BUILD_DIR          (make bench does: bash bench/run.sh build)
#   REPS=1 TICKS=1000000 bash bench/run.sh build    (quicker)
#   ONLY=kafka bash bench/run.sh build   (only the Kafka bench; ONLY=sink: only the sink bench;
#                                         ONLY=fetch: only the fetch bench;
#                                         ONLY=graph: the micro benches, graph and jitter)
#
# Knobs (environment): REPS (3), TICKS (5000000), SYMBOLS (1000), LAT_TICKS (2000000),
# LAT_RATE (200000), JITTER_SECONDS (5), KAFKA_TICKS (2000000), KAFKA_PARTITIONS (64),
# KAFKA_RATE (50000), KAFKA_LAT_SECONDS (10), KAFKA=0 (skip the Kafka bench), SINK_TICKS (1000000),
# SINK_LAT_SECONDS (20), SINK_LAT_RUNS (4), SINK=0 (skip the sink bench), FETCH_SYMBOLS (500),
# FETCH_SECONDS (5), FETCH=0 (skip the fetch bench), ONLY (graph | kafka | sink | fetch).
# The fetch bench (the yahoo-chart poller against a local HTTP and HTTPS server, keep-alive on and
# off) takes 4 x REPS x FETCH_SECONDS plus start-up.
#
# About a minute without the Kafka and sink benches; the Kafka bench adds about 100 s per repetition
# (six consumer-group joins of ~3 s, four paced latency runs of 12 s, kcat twice), the sink bench
# about 30 s per repetition plus 2 x SINK_LAT_RUNS x SINK_LAT_SECONDS (~3 min by default).
set -euo pipefail

build=${1:-build}
reps=${REPS:-3}
ticks=${TICKS:-5000000}
lat_ticks=${LAT_TICKS:-2000000}
lat_rate=${LAT_RATE:-200000}
symbols=${SYMBOLS:-1000}
only=${ONLY:-}
kafka=${KAFKA:-1}
sink=${SINK:-1}
fetch=${FETCH:-1}
[ "$only" = kafka ] && kafka=1
[ "$only" = sink ] && sink=1
[ "$only" = fetch ] && fetch=1
case "$only" in
  "" | graph | kafka | sink | fetch) ;;
  *)
    echo "run.sh: ONLY must be graph, kafka, sink or fetch, not '$only'" >&2
    exit 1
    ;;
esac
run_graph=0
{ [ -z "$only" ] || [ "$only" = graph ]; } && run_graph=1

bench="$build/bench/tapewire-bench"
micro="$build/bench/tapewire-micro"
needed=("$bench")
[ "$run_graph" = 1 ] && needed+=("$micro")
for b in "${needed[@]}"; do
  if [ ! -x "$b" ]; then
    echo "run.sh: $b not found; build it first: cmake --build $build -j2 --target tapewire-bench tapewire-micro" >&2
    exit 1
  fi
done

# load: "load average: 0.80, 0.65, 0.88", from uptime.
load() { uptime | sed 's/.*load average/load average/'; }

echo "== machine: $(nproc) CPUs, $(load)"
echo

if [ "$run_graph" = 1 ]; then
  echo "== micro benches (tapewire-micro)"
  "$micro" --benchmark_min_time=0.3
  echo
fi

# field JSON NAME: the number after "NAME": in a one-line JSON object; NAME.KEY: the number after
# "KEY": inside the flat object after "NAME":.
field() {
  local json=$1 name=$2
  if [[ $name == *.* ]]; then
    json=$(sed -n "s/.*\"${name%%.*}\":{\([^}]*\)}.*/\1/p" <<<"$json")
    name=${name#*.}
  fi
  sed -n "s/.*\"$name\":\([-0-9.e+]*\).*/\1/p" <<<"$json"
}
# list JSON NAME: the numbers of the array after "NAME":, comma-separated.
list() { sed -n "s/.*\"$2\":\[\([^]]*\)\].*/\1/p" <<<"$1"; }

# Every run's value of each field, one a line, by field name: keep() adds a run, summarise() reads.
declare -A kept=()
# keep JSON NAMES...: adds this run's value of each field.
keep() {
  local json=$1 name
  shift
  for name in "$@"; do kept[$name]+="$(field "$json" "$name")"$'\n'; done
}

# summarise LABEL NAME: median over the kept runs (the middle one, the upper of two) and min..max.
summarise() {
  printf '%s' "${kept[$2]}" | sort -g | awk -v label="$1" '
    { v[NR] = $1 }
    END { printf "    %-14s median %-12s (min %s .. max %s)\n", label, v[int(NR / 2) + 1], v[1], v[NR] }'
}

# graph TITLE ARGS...: runs the graph harness REPS times and summarises.
graph() {
  local title=$1
  shift
  echo "== $title: tapewire-bench graph $*"
  kept=()
  for ((r = 1; r <= reps; r++)); do
    local out
    out=$("$bench" graph "$@" --json)
    echo "  run $r: $out"
    keep "$out" ticks_per_s latency_ns.p50 latency_ns.p99 latency_ns.p999 latency_ns.max allocs_per_tick
  done
  summarise "ticks/s" ticks_per_s
  summarise "p50 ns" latency_ns.p50
  summarise "p99 ns" latency_ns.p99
  summarise "p99.9 ns" latency_ns.p999
  summarise "max ns" latency_ns.max
  summarise "allocs/tick" allocs_per_tick
  echo "  load after: $(load)"
  echo
}

# wait_idle: with IDLE_GATE=1, waits (up to 15 min) until the machine has been < 10 % busy over 3 s,
# so other people's compile jobs do not land in a run.
wait_idle() {
  [ "${IDLE_GATE:-0}" = 1 ] || return 0
  local tries
  for ((tries = 0; tries < 300; tries++)); do
    local a b
    a=($(head -1 /proc/stat))
    sleep 3
    b=($(head -1 /proc/stat))
    local busy=$(((b[1] + b[2] + b[3] + b[6] + b[7]) - (a[1] + a[2] + a[3] + a[6] + a[7])))
    local all=$((busy + (b[4] + b[5]) - (a[4] + a[5])))
    if ((all > 0 && busy * 10 < all)); then return 0; fi
  done
  echo "  (IDLE_GATE: the machine did not go idle; running anyway)"
}

# kafka_bench: runs tapewire-bench kafka REPS times and summarises; ratios are per run (the
# floor and tapewire measured minutes apart on this VM would not compare).
kafka_bench() {
  local kticks=${KAFKA_TICKS:-2000000} kparts=${KAFKA_PARTITIONS:-64} krate=${KAFKA_RATE:-50000}
  local klat=${KAFKA_LAT_SECONDS:-10}
  echo "== kafka: tapewire-bench kafka --ticks $kticks --partitions $kparts --rate $krate --latency-seconds $klat"
  kept=()
  local out lat
  for ((r = 1; r <= reps; r++)); do
    wait_idle
    out=$("$bench" kafka --ticks "$kticks" --partitions "$kparts" --rate "$krate" --latency-seconds "$klat" --json)
    echo "  run $r: $out"
    keep "$out" bare_consumer_msgs_per_s tapewire_ticks_per_s tapewire_2t_ticks_per_s kcat_msgs_per_s \
      ratio_vs_bare ratio_2t_vs_bare tapewire_starved_s tapewire_2t_starved_s \
      tapewire_tuned_ticks_per_s tapewire_2t_tuned_ticks_per_s ratio_tuned_vs_bare ratio_2t_tuned_vs_bare \
      tapewire_tuned_starved_s tapewire_2t_tuned_starved_s other_cpus_max
    for lat in bar_latency_ns bar_latency_fw_ns; do keep "$out" $lat.p50 $lat.p99 $lat.p999 $lat.max; done
    for lat in tick_latency_ns bare_latency_ns tick_latency_fw_ns bare_latency_fw_ns; do keep "$out" $lat.p50 $lat.p99; done
  done
  summarise "bare msgs/s" bare_consumer_msgs_per_s
  summarise "tw 1t ticks/s" tapewire_ticks_per_s
  summarise "tw 2t ticks/s" tapewire_2t_ticks_per_s
  summarise "kcat msgs/s" kcat_msgs_per_s
  summarise "ratio 1t/bare" ratio_vs_bare
  summarise "ratio 2t/bare" ratio_2t_vs_bare
  summarise "starved s 1t" tapewire_starved_s
  summarise "starved s 2t" tapewire_2t_starved_s
  echo "  tapewire with the proposed consumer setting ($(sed -n 's/.*"tuned":"\([^"]*\)".*/\1/p' <<<"$out")):"
  summarise "tw 1t ticks/s" tapewire_tuned_ticks_per_s
  summarise "tw 2t ticks/s" tapewire_2t_tuned_ticks_per_s
  summarise "ratio 1t/bare" ratio_tuned_vs_bare
  summarise "ratio 2t/bare" ratio_2t_tuned_vs_bare
  summarise "starved s 1t" tapewire_tuned_starved_s
  summarise "starved s 2t" tapewire_2t_tuned_starved_s
  summarise "other CPUs" other_cpus_max
  local fw
  for fw in "" _fw; do
    if [ -z "$fw" ]; then
      echo "  latency at $krate ticks/s, consumer defaults (fetch.wait.max.ms 500), ns:"
    else
      echo "  latency at $krate ticks/s, fetch.wait.max.ms 5, ns:"
    fi
    summarise "bar p50" bar_latency${fw}_ns.p50
    summarise "bar p99" bar_latency${fw}_ns.p99
    summarise "bar p99.9" bar_latency${fw}_ns.p999
    summarise "bar max" bar_latency${fw}_ns.max
    summarise "tick p50" tick_latency${fw}_ns.p50
    summarise "tick p99" tick_latency${fw}_ns.p99
    summarise "bare p50" bare_latency${fw}_ns.p50
    summarise "bare p99" bare_latency${fw}_ns.p99
  done
  echo "  load after: $(load)"
  echo
}

# sink_bench: tapewire-bench sink once, its throughput phase REPS times (medians inside), its latency
# phase SINK_LAT_RUNS runs per batch interval (500 ms, then 100 ms), bars pooled.
sink_bench() {
  local sticks=${SINK_TICKS:-1000000} slat=${SINK_LAT_SECONDS:-20} sruns=${SINK_LAT_RUNS:-4}
  echo "== sink: tapewire-bench sink --ticks $sticks --runs $reps --duration $slat --latency-runs $sruns"
  wait_idle
  local out lat
  out=$("$bench" sink --ticks "$sticks" --runs "$reps" --duration "$slat" --latency-runs "$sruns" --json)
  echo "  $out"
  echo "    writer rows/s       $(field "$out" writer_rows_per_s)   (runs: $(list "$out" writer_runs))"
  echo "    COPY text rows/s    $(field "$out" copy_text_rows_per_s)   (runs: $(list "$out" copy_text_runs))"
  echo "    COPY binary rows/s  $(field "$out" copy_binary_rows_per_s)   (runs: $(list "$out" copy_binary_runs))"
  echo "    writer / COPY text  $(field "$out" ratio_vs_copy_text)   writer / COPY binary $(field "$out" ratio_vs_copy_binary)"
  for lat in bar_latency_ns bar_latency_fast_ns; do
    if [ -n "$(field "$out" $lat.batch_interval_ms)" ]; then
      echo "    bars, batch_interval $(field "$out" $lat.batch_interval_ms) ms: emission -> commit p50 $(field "$out" $lat.p50) ns, p99 $(field "$out" $lat.p99) ns"
    fi
  done
  echo "  load after: $(load)"
  echo
}

if [ "$run_graph" = 1 ]; then
  graph "throughput, 1 thread" --threads 1 --symbols "$symbols" --ticks "$ticks"
  graph "throughput, 2 threads" --threads 2 --symbols "$symbols" --ticks "$ticks"
  echo "== jitter: what the machine itself does to a spinning thread (the floor under the latency tail)"
  "$bench" jitter --seconds "${JITTER_SECONDS:-5}"
  echo

  graph "latency at $lat_rate ticks/s, 2 threads" --threads 2 --symbols "$symbols" --ticks "$lat_ticks" --rate "$lat_rate"
fi
# wanted NAME SWITCH: whether ONLY and the bench's own switch (KAFKA, SINK, FETCH) let it run.
wanted() { { [ -z "$only" ] || [ "$only" = "$1" ]; } && [ "$2" != 0 ]; }
# skipped NAME WHY: says so in the report.
skipped() {
  echo "== $1: skipped, $2"
  echo
}

if wanted kafka "$kafka"; then
  if command -v kcat >/dev/null; then kafka_bench; else skipped kafka "kcat is not installed (apt-get install kcat)"; fi
fi

if wanted sink "$sink"; then
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    sink_bench
  else
    skipped sink "PostgreSQL 15 is not installed (scripts/install-deps.sh installs postgresql-15)"
  fi
fi

if wanted fetch "$fetch"; then
  echo "== fetch: tapewire-bench fetch --symbols ${FETCH_SYMBOLS:-500} --seconds ${FETCH_SECONDS:-5} --runs $reps"
  wait_idle
  "$bench" fetch --symbols "${FETCH_SYMBOLS:-500}" --seconds "${FETCH_SECONDS:-5}" --runs "$reps"
  echo "  load after: $(load)"
  echo
  pricing="$build/bench/tapewire-pricing-bench"
  if [ -x "$pricing" ]; then
    echo "== streamer frame decode: tapewire-pricing-bench (hand decoder against libprotobuf, same frames)"
    "$pricing" --benchmark_min_time=0.3 --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true
    echo
  fi
fi

echo "targets: >= 3000000 ticks/s on 1 thread, >= 5000000 on 2 threads (1000 symbols), 0 allocs/tick;"
echo "         kafka: tapewire >= 0.7 x the bare librdkafka consumer on the same topic, same run;"
echo "         sink: tapewire's writer >= 0.45 x libpq COPY of the same rows, same run"
