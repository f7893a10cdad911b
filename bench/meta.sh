#!/usr/bin/env bash
# Metadata workload: branch create, a commit of 10 changed files, diff and
# log on a head of 1,000,000 files (quick: 100,000) in 1,000 directories,
# through the library with RocksDB and a file:// store on tmpfs. Latencies
# are medians of BENCH_RUNS fresh repositories; objects are counted too.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bin=$BENCH_ROOT/build/release/bench/meta_bench
[ -x "$bin" ] || bench_die "$bin not built"
files=1000000
[ "$BENCH_SCALE" = full ] || files=100000
results=$(bench_results_file meta)
bench_machine_json >>"$results"
for i in $(seq "$BENCH_RUNS"); do
	d=$BENCH_TMP/meta-$i
	mkdir -p "$d"
	bench_log "meta: run $i/$BENCH_RUNS on $files files"
	"$bin" "$d" "$files" | sed "s/^{/{\"run\":$i,/" >>"$results"
	rm -rf "$d"
done
for op in branch_create commit_10_changes diff_10_changes log; do
	lines=$(grep "\"op\":\"$op\"" "$results")
	ms=$(echo "$lines" | bench_json_get seconds | bench_median | awk '{printf "%.2f", $1 * 1000}')
	objs=$(echo "$lines" | head -n 1 | bench_json_get objects_written)
	reads=$(echo "$lines" | head -n 1 | bench_json_get objects_read)
	echo "| $op on $files files | $ms ms | $objs objects written, $reads read | - |"
done
echo "meta results: ${results#"$BENCH_ROOT"/}" >>"$BENCH_NOTES"
