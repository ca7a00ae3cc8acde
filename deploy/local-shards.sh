#!/usr/bin/env bash
# Runs a sharded certification end to end on this machine, the way the engines in
# deploy/ run it, and checks that the shards add up to the unsharded run.
#
#   deploy/local-shards.sh TOUCHSTONE INVENTORY N OUTDIR [CHECK-ARGS...]
#
# TOUCHSTONE is the binary, INVENTORY a fleet inventory (.json or .csv), N the number
# of shards, OUTDIR a directory that does not exist yet or is empty. CHECK-ARGS go to
# every `touchstone check` (shards and unsharded run alike), e.g. `--filter
# 'wsman.core.*' --seed 7`; give a fixed --seed when the reports should not differ by
# their generated MessageIDs.
#
# What it does:
#  1. Starts N `touchstone check --targets INVENTORY --shard auto --out OUTDIR/shard-I`
#     at once, each with the environment one engine gives its shard I (0-based),
#     taking turns: Kubernetes (JOB_COMPLETION_INDEX=I, TOUCHSTONE_SHARD_COUNT=N),
#     GitLab (CI_NODE_INDEX=I+1, 1-based, and CI_NODE_TOTAL=N), GitHub Actions
#     (TOUCHSTONE_SHARD=I/N, which the workflow sets). Each process gets only its own
#     engine's variables: any of them already in this environment are removed.
#  2. Checks that every shard wrote its reports, that its shard.json says "I/N" (so
#     --shard auto read the right variables), and that the shards' target lists are
#     disjoint.
#  3. Merges them: `touchstone report merge OUTDIR/shard-* --out OUTDIR/merged`.
#  4. Runs the same check unsharded (no engine variable set) into OUTDIR/unsharded.
#  5. Compares merged and unsharded: summary.json with timing fields left out (keys
#     named duration, elapsed, took, time, timestamp, started, finished or date, alone
#     or as a `_`-separated part, and keys ending in _ms, _us, _ns, _s, _secs,
#     _seconds or _at), the set of files under targets/, and the union of the shards'
#     targets against the unsharded run's.
#
# Logs: OUTDIR/logs/<run>.log. Exit status: 0 when merged equals unsharded, 1 when
# they differ (the difference is printed), 2 on a usage error or a run that wrote no
# report (its log is printed).
set -euo pipefail

usage() {
    echo "usage: $0 TOUCHSTONE INVENTORY N OUTDIR [CHECK-ARGS...]" >&2
    exit 2
}
die() {
    printf 'local-shards: %s\n' "$*" >&2
    exit 2
}

(($# >= 4)) || usage
bin=$1 inventory=$2 shards=$3 out=$4
shift 4
check_args=("$@")

[[ -x $bin ]] || die "$bin: not an executable file"
[[ -r $inventory && -f $inventory ]] || die "$inventory: not a readable file"
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "N must be a whole number of at least 1, not '$shards'"
if [[ -e $out ]]; then
    [[ -d $out ]] || die "$out exists and is not a directory"
    [[ -z $(ls -A "$out") ]] || die "$out is not empty (the runs write shard-*, merged, unsharded and logs there)"
fi
mkdir -p "$out/logs"
# Absolute paths: the runs below do not depend on where this was started from.
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
inventory=$(cd "$(dirname "$inventory")" && pwd)/$(basename "$inventory")
out=$(cd "$out" && pwd)

# Every variable --shard auto reads; each run starts with none of them.
engine_vars=(TOUCHSTONE_SHARD JOB_COMPLETION_INDEX TOUCHSTONE_SHARD_COUNT CI_NODE_INDEX CI_NODE_TOTAL)
clean_env=()
for v in "${engine_vars[@]}"; do clean_env+=(-u "$v"); done

# The environment of shard $1 of $2: the engine takes turns with the index.
engine_env() {
    local i=$1 n=$2
    case $((i % 3)) in
    0) echo "kubernetes JOB_COMPLETION_INDEX=$i TOUCHSTONE_SHARD_COUNT=$n" ;;
    1) echo "gitlab CI_NODE_INDEX=$((i + 1)) CI_NODE_TOTAL=$n" ;;
    2) echo "github TOUCHSTONE_SHARD=$i/$n" ;;
    esac
}

# A run that wrote no summary: say which, show its log, stop.
no_report() {
    local name=$1 status=$2
    printf 'local-shards: %s exited %s without writing %s/%s/summary.json; its log:\n' \
        "$name" "$status" "$out" "$name" >&2
    sed 's/^/    /' "$out/logs/$name.log" >&2
    exit 2
}

# 1. The shards, all at once.
pids=()
for ((i = 0; i < shards; i++)); do
    read -r engine vars <<<"$(engine_env "$i" "$shards")"
    # shellcheck disable=SC2086 # $vars is NAME=VALUE words, split on purpose.
    printf 'shard %d/%d: %-10s %s\n' "$i" "$shards" "$engine" "$vars"
    env "${clean_env[@]}" $vars "$bin" check --targets "$inventory" --shard auto \
        --out "$out/shard-$i" "${check_args[@]}" >"$out/logs/shard-$i.log" 2>&1 &
    pids+=($!)
done
statuses=()
for ((i = 0; i < shards; i++)); do
    status=0
    wait "${pids[$i]}" || status=$?
    statuses+=("$status")
done
for ((i = 0; i < shards; i++)); do
    [[ -f $out/shard-$i/summary.json ]] || no_report "shard-$i" "${statuses[$i]}"
    [[ -f $out/shard-$i/shard.json ]] || die "shard-$i wrote no shard.json"
    printf 'shard %d/%d: exit %s\n' "$i" "$shards" "${statuses[$i]}"
done

# 3. The merge.
merge_dirs=()
for ((i = 0; i < shards; i++)); do merge_dirs+=("$out/shard-$i"); done
status=0
"$bin" report merge "${merge_dirs[@]}" --out "$out/merged" >"$out/logs/merged.log" 2>&1 || status=$?
[[ -f $out/merged/summary.json ]] || no_report merged "$status"
printf 'merged: exit %s\n' "$status"

# 4. The unsharded run.
status=0
env "${clean_env[@]}" "$bin" check --targets "$inventory" --out "$out/unsharded" \
    "${check_args[@]}" >"$out/logs/unsharded.log" 2>&1 || status=$?
[[ -f $out/unsharded/summary.json ]] || no_report unsharded "$status"
printf 'unsharded: exit %s\n' "$status"

# 2 and 5. What the shards say about themselves, then merged against unsharded.
python3 - "$out" "$shards" <<'PY'
import json
import os
import re
import sys

out, n = sys.argv[1], int(sys.argv[2])
problems = []


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        problems.append(f"{path}: {e}")
        return None


# Every shard read its own engine's variables, and no target is in two shards.
owner = {}
for i in range(n):
    path = os.path.join(out, f"shard-{i}", "shard.json")
    meta = load(path)
    if meta is None:
        continue
    if meta.get("shard") != f"{i}/{n}":
        problems.append(f"{path}: shard is {meta.get('shard')!r}, expected '{i}/{n}'")
    for t in meta.get("targets") or []:
        if t in owner:
            problems.append(f"target {t!r} is in shard {owner[t]} and shard {i}")
        owner.setdefault(t, i)
unsharded_meta = load(os.path.join(out, "unsharded", "shard.json"))
if unsharded_meta is not None:
    whole = sorted(unsharded_meta.get("targets") or [])
    if sorted(owner) != whole:
        problems.append(
            f"the shards' targets {sorted(owner)} are not the unsharded run's {whole}"
        )

TIMING = re.compile(
    r"(^|_)(duration|elapsed|took|time|timestamp|started|finished|date)(_|$)"
    r"|_(ms|us|ns|s|secs|seconds|at)$",
    re.IGNORECASE,
)


def untimed(v):
    if isinstance(v, dict):
        return {k: untimed(x) for k, x in v.items() if not TIMING.search(k)}
    if isinstance(v, list):
        return [untimed(x) for x in v]
    return v


def lines(v):
    return json.dumps(v, indent=1, sort_keys=True).splitlines()


merged = load(os.path.join(out, "merged", "summary.json"))
unsharded = load(os.path.join(out, "unsharded", "summary.json"))
if merged is not None and unsharded is not None:
    a, b = untimed(merged), untimed(unsharded)
    if a != b:
        import difflib

        diff = difflib.unified_diff(
            lines(b), lines(a), "unsharded/summary.json", "merged/summary.json", lineterm=""
        )
        problems.append("summary.json differs (timings excluded):\n" + "\n".join(diff))


def listing(d):
    p = os.path.join(out, d, "targets")
    return sorted(os.listdir(p)) if os.path.isdir(p) else None


if listing("merged") != listing("unsharded"):
    problems.append(
        f"targets/ differs: merged has {listing('merged')}, unsharded {listing('unsharded')}"
    )

if problems:
    print("local-shards: the merged shards differ from the unsharded run:", file=sys.stderr)
    for p in problems:
        print("  " + p.replace("\n", "\n  "), file=sys.stderr)
    sys.exit(1)
print(
    f"merged {n} shards = unsharded run: {len(owner)} targets, "
    f"summary.json equal (timings excluded)"
)
PY
