#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for SECONDS (default 30), printing executions and crashes.
# Usage: Fuzz/run.sh [SECONDS] [TARGET...]    (targets: translate registers queue qtest smmuv3)
#        FUZZ_RUNS=10000000 Fuzz/run.sh 0 qtest  (stop after that many executions instead; 0 s = no time limit)
# Crash inputs land in Fuzz/crashes/TARGET/; copy them into Tests/FuzzingTests/Corpus/TARGET/ as regressions.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(translate registers queue qtest smmuv3)
scratch=.build-fuzz
swift build -c release --product iommukit-fuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=${FUZZ_SANITIZERS:-fuzzer} -Xswiftc -DFUZZING -Xswiftc -parse-as-library 2>&1 | grep -E "error:" || true
bin="$scratch/release/iommukit-fuzz"
total_crashes=0
for t in "${targets[@]}"; do
    work="Fuzz/corpus-work/$t"; crashes="Fuzz/crashes/$t"
    mkdir -p "$work" "$crashes"
    seeds="Tests/FuzzingTests/Corpus/$t"
    [ -d "$seeds" ] || seeds=""
    log=$(mktemp)
    limits=(-max_total_time="$seconds")
    [ -z "${FUZZ_RUNS:-}" ] || limits+=(-runs="$FUZZ_RUNS")
    started=$(date +%s)
    set +e
    SWIFT_BACKTRACE=enable=no IOMMUKIT_FUZZ_TARGET=$t "$bin" "${limits[@]}" -print_final_stats=1 -artifact_prefix="$crashes/" \
        -max_len=4096 "$work" $seeds >"$log" 2>&1
    status=$?
    set -e
    elapsed=$(( $(date +%s) - started ))
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo 0)
    # crash-, leak-, timeout- and oom- files are failures; slow-unit- files only mark an input that
    # once took over 10 s of wall time (e.g. while the machine was busy or the run paused).
    found=$(find "$crashes" -type f ! -name 'slow-unit-*' | wc -l)
    slow=$(find "$crashes" -type f -name 'slow-unit-*' | wc -l)
    [ "$slow" -eq 0 ] || echo "fuzz $t: $slow slow-unit file(s) in $crashes (not failures; replay them to check)"
    total_crashes=$((total_crashes + found))
    echo "fuzz $t: ${execs} executions in ${elapsed}s, exit $status, crash files: $found"
    if [ "$execs" -eq 0 ]; then
        echo "fuzz $t: no executions (did the build fail?)"
        total_crashes=$((total_crashes + 1))
    fi
    if [ "$status" -ne 0 ]; then tail -20 "$log"; fi
    rm -f "$log"
done
echo "fuzz total crash files: $total_crashes"
[ "$total_crashes" -eq 0 ]
