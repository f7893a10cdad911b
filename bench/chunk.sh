#!/usr/bin/env bash
# Chunk workload: the whole chunk pipeline (FastCDC, SHA-256, zstd -1,
# file:// puts on tmpfs) on random and on text data, against the speed of
# OpenSSL's SHA-256 on one core. Run by bench/run.sh; runs alone too.
# Env: BENCH_SCALE=quick|full, BENCH_RUNS (default 3), CHUNK_BENCH (binary).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
runs=$BENCH_RUNS
bin=${CHUNK_BENCH:-$BENCH_ROOT/build/release/bench/chunk_bench}
[ -x "$bin" ] || bench_die "$bin not built (make build/release/bench/chunk_bench)"
if [ "$BENCH_SCALE" = full ]; then
	size=$((1 << 30)) label="1 GiB"
else
	size=$((256 << 20)) label="256 MiB"
fi
results=$(bench_results_file chunk)
bench_machine_json >>"$results"

bench_log "chunk: openssl speed -evp sha256 (3 s)"
limit=$(openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null |
	awk '$1 == "sha256" { v = $2; sub(/k$/, "", v); printf "%.1f\n", v * 1000 / 1e6 }')
[ -n "$limit" ] || bench_die "could not parse the output of openssl speed"
bench_json bench=openssl_sha256 tool="openssl speed -evp sha256 -bytes 16384 -seconds 3" \
	cores=1 mb_per_s="$limit" >>"$results"

# The other unavoidable cost: the store's bytes land in new tmpfs pages.
# dd into a new file measures it (CPU seconds per GiB, system time).
bench_log "chunk: dd of $label into a new tmpfs file"
rm -f "$BENCH_TMP/dd"
/usr/bin/time -o "$BENCH_TMP/dd.time" -f "%S %e" dd if=/dev/zero of="$BENCH_TMP/dd" bs=1M \
	count=$((size >> 20)) 2>/dev/null || bench_die "dd into $BENCH_TMP failed"
dd_cpu=$(tail -n 1 "$BENCH_TMP/dd.time")
rm -f "$BENCH_TMP/dd"
dd_sys=$(echo "$dd_cpu" | awk -v b="$size" '{ printf "%.2f", $1 * 1073741824 / b }')
dd_mbs=$(echo "$dd_cpu" | awk -v b="$size" '$2 > 0 { printf "%.0f", b / $2 / 1e6 }')
bench_json bench=tmpfs_write tool="dd bs=1M into a new file" mb_per_s="${dd_mbs:-0}" \
	sys_s_per_gib="$dd_sys" >>"$results"
echo "chunk: writing into new tmpfs pages costs $dd_sys CPU-s per GiB here (dd, ${dd_mbs:-?} MB/s); SHA-256 costs $(awk -v l="$limit" 'BEGIN { printf "%.2f", 1073.741824 / l }') CPU-s per GiB" >>"$BENCH_NOTES"

# Alternate the kinds so that drift (other load, heat) hits both alike.
for i in $(seq "$runs"); do
	for kind in random text; do
		line=$("$bin" --size "$size" --kind "$kind" --store "$BENCH_TMP" --runs 1)
		echo "${line/\"run\":1,/\"run\":$i,}" >>"$results"
		bench_log "chunk: $kind run $i/$runs: $(echo "$line" | bench_json_get mb_per_s) MB/s"
	done
done

for kind in random text; do
	lines=$(grep "\"bench\":\"chunk_pipeline\",\"kind\":\"$kind\"" "$results")
	median=$(echo "$lines" | bench_json_get mb_per_s | bench_median)
	ratio=$(bench_div "$median" "$limit")
	stored=$(echo "$lines" | head -n 1 | bench_json_get bytes_stored)
	comp=$(bench_div "$size" "$stored")
	bench_json bench=chunk_pipeline_summary kind="$kind" bytes="$size" runs="$runs" \
		median_mb_s="$median" limit_mb_s="$limit" ratio="$ratio" \
		bytes_stored="$stored" compression="$comp" >>"$results"
	bench_summary "$results" "chunk pipeline, $kind data" MB/s higher \
		"t9kfs:t9kfs pipeline (2 cores)=$median" "limit:openssl sha256, 1 core=$limit"
	echo "| chunk pipeline, $kind $label | $median MB/s | openssl sha256, 1 core: $limit MB/s | $ratio |"
	cpu=$(echo "$lines" | awk -v b="$size" '{
		u = $0; sub(/.*"user_s":/, "", u); sub(/[,}].*/, "", u)
		k = $0; sub(/.*"sys_s":/, "", k); sub(/[,}].*/, "", k)
		printf "%.2f %.2f %.2f\n", (u + k) * 1073741824 / b, u * 1073741824 / b, k * 1073741824 / b }' |
		sort -g | awk '{ l[NR] = $2 " " $3 } END { print l[int((NR + 1) / 2)] }')
	echo "chunk pipeline, $kind: CPU per GiB (whole process, run with the median total): user ${cpu% *} s, system ${cpu#* } s" >>"$BENCH_NOTES"
	if [ "$kind" = text ]; then
		echo "text compression (zstd -1 per chunk): ${comp}x ($size bytes -> $stored stored)" \
			>>"$BENCH_NOTES"
	fi
done
echo "chunk results: ${results#"$BENCH_ROOT"/}" >>"$BENCH_NOTES"
