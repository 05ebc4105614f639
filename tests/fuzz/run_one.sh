#!/bin/sh
# run_one.sh BUILD TARGET SECONDS - one libFuzzer run for fuzz.mk's `run`: the
# corpus in BUILD/corpus/TARGET seeded from tests/fuzz/seeds/TARGET, the
# dictionary tests/fuzz/TARGET.dict when present, a crash input kept in
# BUILD/crash/TARGET/. Prints the run's figures in one block (runs go in
# parallel) and exits nonzero when the target found a bug.
# -rss_limit_mb and -max_len keep the renderer (MAX_PIXELS is small in its
# target) and the multipart parser within this machine.
build=$1 t=$2 s=$3
mkdir -p "$build/corpus/$t" "$build/crash/$t"
dict=
[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
IMGCAP_ROOT=$(pwd) LSAN_OPTIONS=suppressions=$(pwd)/tests/fuzz/lsan.supp \
  "$build/fuzz_$t" $dict -max_total_time="$s" -max_len=65536 -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$build/crash/$t/" \
  "$build/corpus/$t" "tests/fuzz/seeds/$t" > "$build/fuzz_$t.log" 2>&1
rc=$?
figures=$(grep -E '^(stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|SUMMARY)' \
  "$build/fuzz_$t.log")
if [ $rc -eq 0 ]; then verdict="no crash"; else verdict="FAILED (log: $build/fuzz_$t.log)"; fi
printf '== fuzz_%s: %s s, %s\n%s\n' "$t" "$s" "$verdict" "$figures"
exit $rc
