#!/usr/bin/env bash
# Before/after in one sitting: runs two tapewire-bench binaries alternately (odd rounds BEFORE first,
# even rounds AFTER first, so a speed phase of the VM hits both), then prints each side's median and
# the median of the per-round ratios.
#   bench/compare.sh BEFORE_BIN AFTER_BIN [ROUNDS=11] [OUT=compare.txt]
#   KROUNDS=N  also N rounds of `kafka --no-latency --no-kcat --no-tuned` (default 0)
# Each graph run: `graph --threads T --symbols 1000 --ticks 5000000 --json`, T = 1 and 2.
set -euo pipefail
before=$1 after=$2 rounds=${3:-11} out=${4:-compare.txt}
: >"$out"
field() { sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" <<<"$1" | head -1; }
echo "machine: $(nproc) CPUs, $(uptime)" | tee -a "$out"
order_of() { if (( $1 % 2 )); then echo "before after"; else echo "after before"; fi; }
bin_of() { if [ "$1" = before ]; then echo "$before"; else echo "$after"; fi; }
for r in $(seq 1 "$rounds"); do
  for which in $(order_of "$r"); do
    for t in 1 2; do
      j=$("$(bin_of "$which")" graph --threads "$t" --symbols 1000 --ticks 5000000 --json 2>/dev/null | tail -1)
      echo "graph_t$t $which $r $(field "$j" ticks_per_s)" | tee -a "$out"
    done
  done
done
for r in $(seq 1 "${KROUNDS:-0}"); do
  for which in $(order_of "$r"); do
    j=$("$(bin_of "$which")" kafka --no-latency --no-kcat --no-tuned --json 2>/dev/null | tail -1)
    echo "kafka_t1 $which $r $(field "$j" tapewire_ticks_per_s)" | tee -a "$out"
    echo "kafka_t2 $which $r $(field "$j" tapewire_2t_ticks_per_s)" | tee -a "$out"
  done
done
# Medians per bench and side, and the median of after/before per round.
awk '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  NF == 4 && $1 != "machine:" { v[$1, $2] = v[$1, $2] " " $4; r[$1, $3, $2] = $4; b[$1] = 1; if ($3 > max) max = $3 }
  END {
    for (k in b) {
      ratios = ""
      for (i = 1; i <= max; i++) if (r[k, i, "before"] > 0 && (k, i, "after") in r) ratios = ratios " " r[k, i, "after"] / r[k, i, "before"]
      mb = median(substr(v[k, "before"], 2)); ma = median(substr(v[k, "after"], 2))
      printf "%-9s before %.3g  after %.3g  after/before %.3f  median per-round ratio %.3f\n", k, mb, ma, ma / mb, median(substr(ratios, 2))
    }
  }' "$out" | sort | tee -a "$out"
