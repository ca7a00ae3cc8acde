#!/usr/bin/env bash
# Paired runs of `mock_throughput --solo`: two targets (or one target of two builds)
# loaded at the same time, each by its own process with its own servers and load, so
# that both see one machine state. On a machine whose speed drifts by tens of percent
# from one minute to the next, the ratio of two simultaneous rates is far steadier
# than the ratio of two runs one after the other. Prints each round's rates and ratio
# (B over A), then the median ratio.
#
#   benches/pair.sh A_BINARY A_TARGET B_BINARY B_TARGET [ROUNDS] [SECONDS]
#
#   # the mock's Get against the bare server, one build:
#   benches/pair.sh target/release/deps/mock_throughput-HASH bare \
#                   target/release/deps/mock_throughput-HASH get
#   # a change: the same target, the build before (A) and after (B):
#   benches/pair.sh /tmp/before/mock_throughput get target/release/deps/mock_throughput-HASH get
#
# Each process has 2 worker threads, so on a 2-core machine each runs at about half
# its speed alone: the ratio is of the work each does per request, which is what a
# change to the code changes.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 A_BINARY A_TARGET B_BINARY B_TARGET [ROUNDS] [SECONDS]" >&2
    exit 2
fi
a_bin=$1
a_target=$2
b_bin=$3
b_target=$4
rounds=${5:-5}
seconds=${6:-8}
for bin in "$a_bin" "$b_bin"; do
    [ -x "$bin" ] || { echo "$bin is not an executable" >&2; exit 2; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Run from benches/, where the bench finds its corpus.
cd "$(dirname "$0")"
ratios=()
for round in $(seq "$rounds"); do
    "$a_bin" --solo "$a_target" "$seconds" > "$dir/a" 2> "$dir/a.err" &
    a_pid=$!
    "$b_bin" --solo "$b_target" "$seconds" > "$dir/b" 2> "$dir/b.err" &
    b_pid=$!
    status=0
    wait "$a_pid" || status=$?
    wait "$b_pid" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "round $round failed:" >&2
        cat "$dir/a.err" "$dir/b.err" >&2
        exit 1
    fi
    a_rate=$(awk '$1 == "solo" { print $5 }' "$dir/a")
    b_rate=$(awk '$1 == "solo" { print $5 }' "$dir/b")
    ratio=$(awk -v a="$a_rate" -v b="$b_rate" 'BEGIN { printf "%.3f", b / a }')
    ratios+=("$ratio")
    echo "round $round: $a_target $a_rate/s, $b_target $b_rate/s, ratio $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "median ratio ($b_target over $a_target, $rounds rounds): $median"
