#!/usr/bin/env bash
# Metadata workload: branch create, a commit of 10 changed files, diff and
# log on a head of 1,000,000 files (quick: 100,000) in 1,000 directories,
# through the library with RocksDB and a file:// store on tmpfs. Latencies
# are medians of BENCH_RUNS fresh repositories; objects are counted too.
# Peer: git on the same shape of tree (work tree on tmpfs, files of a few
# bytes), timing `git branch`, `git commit` of 10 files already added,
# `git diff --name-status HEAD~ HEAD` and `git log`; process start included.
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

# git: the head built by fast-import (the same paths), then checked out.
g=$BENCH_TMP/meta-git
bench_log "meta: git repo of $files files"
git init -q "$g"
/usr/bin/python3 - "$files" <<'PY' | git -C "$g" fast-import --quiet
import sys
n = int(sys.argv[1])
out = sys.stdout
out.write("commit refs/heads/main\ncommitter b <b@b> 0 +0000\ndata 4\nhead\n")
for i in range(n):
    data = f"{i}\n"
    out.write(f"M 100644 inline d{i % 1000:04d}/f{i:07d}.jpg\ndata {len(data)}\n{data}\n")
PY
git -C "$g" checkout -q main
gtime() { # op command...: one JSON line with the wall time of the command
	local op=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	bench_json bench=meta_git op="$op" run="$i" files="$files" \
		seconds="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')" >>"$results"
}
for i in $(seq "$BENCH_RUNS"); do
	gtime branch_create git -C "$g" branch "exp$i"
	git -C "$g" checkout -q "exp$i"
	for k in $(seq 0 9); do
		p=$(printf 'd%04d/f%07d.jpg' $(((k * 99991 + 7) % files % 1000)) $(((k * 99991 + 7) % files)))
		echo "run $i" >>"$g/$p"
		git -C "$g" add "$p"
	done
	gtime commit_10_changes git -C "$g" -c user.name=b -c user.email=b@b commit -q -m "run $i"
	gtime diff_10_changes git -C "$g" diff --name-status HEAD~ HEAD
	gtime log git -C "$g" log --format=%H%n%an%n%s
	git -C "$g" checkout -q main
	gtime process_start git --version
done
rm -rf "$g"

for op in branch_create commit_10_changes diff_10_changes log; do
	lines=$(grep "\"bench\":\"meta\",.*\"op\":\"$op\"" "$results")
	ms=$(echo "$lines" | bench_json_get seconds | bench_median | awk '{printf "%.2f", $1 * 1000}')
	objs=$(echo "$lines" | head -n 1 | bench_json_get objects_written)
	reads=$(echo "$lines" | head -n 1 | bench_json_get objects_read)
	gms=$(grep "\"bench\":\"meta_git\",\"op\":\"$op\"" "$results" | bench_json_get seconds |
		bench_median | awk '{printf "%.2f", $1 * 1000}')
	bench_summary "$results" "$op on $files files" ms lower "t9kfs:t9kfs=$ms" "peer:git=$gms"
	echo "| $op on $files files | $ms ms ($objs objects written, $reads read) | git: $gms ms | $(bench_div "$gms" "$ms")x git |"
done
start=$(grep '"op":"process_start"' "$results" | bench_json_get seconds | bench_median |
	awk '{printf "%.2f", $1 * 1000}')
echo "meta: git's times include starting git ($start ms for \`git --version\`); t9kfs's are library calls in one process" >>"$BENCH_NOTES"
echo "meta results: ${results#"$BENCH_ROOT"/}" >>"$BENCH_NOTES"
