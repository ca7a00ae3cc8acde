#!/usr/bin/env bash
# A fuzz campaign: seeds the corpora from the test corpus, runs every target (or the
# ones named) for SECONDS each (default 600), one after the other, and prints one line
# per target: executions, executions per second, corpus size, crashes. Crashing inputs
# stay in artifacts/<target>/ (see README.md, "When it crashes"). Needs nightly and
# cargo-fuzz (`cargo install cargo-fuzz`).
#
#   fuzz/campaign.sh                  # every target, 10 minutes each
#   SECONDS_PER_TARGET=60 fuzz/campaign.sh judge ntlm
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

per=${SECONDS_PER_TARGET:-600}
targets=("$@")
((${#targets[@]})) || targets=(parse parse_header memo ipmi_session ntlm judge psrp)
docs=../crates/wsman/tests/documents

# Seeds: every corpus envelope for the envelope readers; the responses, as HTTP 200
# and 400 answers, for the judging target (mode byte 0, then the status).
mkdir -p corpus/parse corpus/parse_header corpus/memo corpus/judge corpus/ipmi_session corpus/ntlm corpus/psrp
# pypsrp's own fragment streams (crates/psrp/tests/fixtures), as bytes, for the PSRP codec.
for f in ../crates/psrp/tests/fixtures/*.hex; do
    xxd -r -p "$f" >"corpus/psrp/$(basename "$f" .hex).bin"
done
for d in requests responses lenient invalid; do
    for f in "$docs/$d"/*; do
        case "$f" in *.toml | *.md) continue ;; esac
        cp -n "$f" "corpus/parse/$d-$(basename "$f")"
        cp -n "$f" "corpus/parse_header/$d-$(basename "$f")"
        cp -n "$f" "corpus/memo/$d-$(basename "$f")"
    done
done
for f in "$docs"/responses/*.xml; do
    { printf '\x00\xc8\x00'; cat "$f"; } >"corpus/judge/200-$(basename "$f")"
    { printf '\x00\x90\x01'; cat "$f"; } >"corpus/judge/400-$(basename "$f")"
done

declare -A max_len=([parse]=16384 [parse_header]=16384 [ipmi_session]=4096 [ntlm]=4096 [judge]=16384)
for t in "${targets[@]}"; do
    log="campaign-$t.log"
    cargo +nightly fuzz run "$t" -O -- -max_total_time="$per" -max_len="${max_len[$t]:-4096}" \
        -print_final_stats=1 -close_fd_mask=3 >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
    crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
    printf '%-13s exit %-3s executions %-10s per second %-7s corpus %-6s crash files %s\n' \
        "$t" "$rc" "${execs:-?}" "${rate:-?}" "$(find "corpus/$t" -type f | wc -l)" "$crashes"
done
