#!/usr/bin/env bash
# The `make bench` driver: runs each workload script, which writes its JSON
# lines under bench/results/ and its rows of the Markdown table printed here.
# Env: BENCH_SCALE=quick|full (default full), BENCH_RUNS (default 3).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
: >"$BENCH_NOTES"

# Rows come out only after each workload is done, so a failure prints no
# half table.
rows=$("$BENCH_DIR/chunk.sh")
rows+=$'\n'$("$BENCH_DIR/meta.sh")
rows+=$'\n'$("$BENCH_DIR/import.sh")
rows+=$'\n'$("$BENCH_DIR/dedup.sh")
rows+=$'\n'$("$BENCH_DIR/gc.sh")
rows+=$'\n'$("$BENCH_DIR/s3.sh")
rows+=$'\n'$("$BENCH_DIR/mount.sh")
rows+=$'\n'$("$BENCH_DIR/posix.sh")
rows+=$'\n'$("$BENCH_DIR/write.sh")
rows+=$'\n'$("$BENCH_DIR/mount-s3.sh")
rows+=$'\n'$("$BENCH_DIR/sdk.sh")
rows+=$'\n'$("$BENCH_DIR/follow.sh")
rows+=$'\n'$("$BENCH_DIR/cache.sh")
rows+=$'\n'$("$BENCH_DIR/loader.sh")
rows+=$'\n'$("$BENCH_DIR/csi.sh")
rows+=$'\n'$("$BENCH_DIR/console.sh")

echo "| workload | t9kfs (median of $BENCH_RUNS) | limit or peer | ratio |"
echo "|---|---|---|---|"
echo "$rows"
echo
bench_machine
cat "$BENCH_NOTES"
