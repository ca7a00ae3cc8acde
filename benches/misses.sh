#!/usr/bin/env bash
# Steady-state instructions and first-level data-cache misses of one `profile` case,
# per request: valgrind's cachegrind on requests FROM..TO (default 1500..3500), so the
# mock's journal (1000 entries) is full and every recording also drops an old entry.
# The figure is deterministic for one binary; a rebuild moves it by a few percent.
#
#   benches/misses.sh PROFILE_BINARY CASE [FROM TO]
#   benches/misses.sh target/release/deps/profile-HASH http/identify
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 PROFILE_BINARY CASE [FROM TO]" >&2
    exit 2
fi
bin=$1
case=$2
from=${3:-1500}
to=${4:-3500}
command -v valgrind > /dev/null || { echo "valgrind is not installed" >&2; exit 2; }
[ "$to" -gt "$from" ] || { echo "TO must be larger than FROM" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Run from benches/, where `profile` finds its corpus.
cd "$(dirname "$0")"
pids=()
for n in "$from" "$to"; do
    valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file=/dev/null \
        --error-exitcode=1 "$bin" "$case" "$n" > /dev/null 2> "$dir/$n" &
    pids+=($!)
done
i=0
for n in "$from" "$to"; do
    if ! wait "${pids[$i]}"; then
        echo "$bin $case $n failed:" >&2
        tail -20 "$dir/$n" >&2
        exit 1
    fi
    i=$((i + 1))
done
# cachegrind's summary lines: "==PID== I   refs:      123,456" and "==PID== D1  misses: ..."
count() { grep "$2" "$dir/$1" | head -1 | awk '{print $4}' | tr -d ,; }
span=$((to - from))
ir=$(( ($(count "$to" 'I *refs') - $(count "$from" 'I *refs')) / span ))
d1=$(( ($(count "$to" 'D1  misses') - $(count "$from" 'D1  misses')) / span ))
echo "$case: $ir instructions, $d1 D1 misses per request (requests $from to $to)"
