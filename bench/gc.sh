#!/usr/bin/env bash
# gc workload. (1) bench/gc_bench builds a repository of FILES one-chunk
# files over COMMITS commits, each rewriting 2% (full: 20,000 x 50 =
# 1,000,000 chunk references; quick: 10,000 x 20), plus a deleted branch,
# with rules keeping the last 10 commits; one gc run of it (grace 0,
# --max-memory 128M) in a fresh process: wall time, peak RSS, objects read
# (file:// on tmpfs: no requests; a run's listing and deletes are one
# request per 1,000 keys on S3), and once more at --max-memory 1M, where
# the mark set spills. (2) At the quick scale beside restic: 2,000 files
# of 4,200 bytes in 20 versions (2% changed each) imported into t9kfs and
# backed up by restic, then both keep the last 10: `t9kfs retention set
# --keep-last 10` and `t9kfs gc` (the server restarted first, so its peak
# RSS is the run's) against `restic forget --keep-last 10 --prune`.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
bench_need restic /usr/bin/time
bin=${GC_BENCH_BIN:-$BENCH_ROOT/build/release/bench/gc_bench}
[ -x "$bin" ] || bench_die "$bin not built"
if [ "$BENCH_SCALE" = full ]; then
	files=20000 commits=50
else
	files=10000 commits=20
fi
refs=$((files * commits))
results=$(bench_results_file gc)
bench_machine_json >>"$results"

for i in $(seq "$BENCH_RUNS"); do
	for mem in $((128 << 20)) $((1 << 20)); do
		[ "$mem" = $((1 << 20)) ] && [ "$i" -gt 1 ] && continue
		d=$BENCH_TMP/gc-$i
		rm -rf "$d"
		mkdir -p "$d"
		bench_log "gc: run $i, $files files x $commits commits, --max-memory $((mem >> 20))M"
		"$bin" build "$d" "$files" "$commits" 2>/dev/null
		line=$("$bin" gc "$d" "$mem")
		echo "$line" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(json.dumps({"bench": "gc", "run": int(sys.argv[1]), "refs": int(sys.argv[2]),
    "commits": int(sys.argv[3]), "max_memory": d["max_memory"], "ok": d["ok"],
    "seconds": round(d["wall_s"], 3), "peak_rss": d["peak_rss"],
    "listed": d["listed"]["objects"], "marked": d["marked"]["objects"],
    "deleted": d["deleted"]["objects"], "deleted_bytes": d["deleted"]["bytes"],
    "objects_read": d["store"]["objects_read"], "requests": d["store"]["requests"],
    "mark_keys": d["mark_set"]["keys"], "spills": d["mark_set"]["spills"],
    "mark_mem_peak": d["mark_set"]["mem_peak"]}, separators=(",", ":")))' "$i" "$refs" "$commits" >>"$results"
		rm -rf "$d"
	done
done

# beside restic, at the quick scale
n=2000 versions=20 keep=10
data=$BENCH_TMP/gc-data
work=$BENCH_TMP/gc-work
gen() { # version: the dataset at that version
	/usr/bin/python3 - "$data" "$n" "$1" <<'PY'
import os, random, sys
root, n, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for f in range(n):
    last = 0 if v == 0 else max(u for u in range(v + 1) if u == 0 or f % 50 == u % 50)
    path = os.path.join(root, "d%03d" % (f // 500), "f%05d" % f)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    want = random.Random(f * 1000 + last).randbytes(4200)
    if not os.path.exists(path) or open(path, "rb").read() != want:
        open(path, "wb").write(want)
PY
}
rss_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
for i in $(seq "$BENCH_RUNS"); do
	rm -rf "$work" "$data"
	mkdir -p "$work" "$data"
	export T9KFS_HOME=$work/t9kfs RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$work/restic-cache
	"$T9KFS" server start >/dev/null
	"$T9KFS" repo create g >/dev/null
	restic init -q -r "$work/restic" >/dev/null
	bench_log "gc vs restic: run $i, $versions versions of $n files"
	for v in $(seq 0 $((versions - 1))); do
		gen "$v"
		"$T9KFS" import "$data" g@main -m "v$v" >/dev/null
		(cd "$data" && restic backup -q -r "$work/restic" . >/dev/null)
	done
	"$T9KFS" retention set g --keep-last $keep --min-grace 0 >/dev/null
	"$T9KFS" server stop >/dev/null
	"$T9KFS" server start >/dev/null
	t0=$(date +%s.%N)
	"$T9KFS" gc g --grace 0 --max-memory 128M --json >"$work/gc.json"
	t1=$(date +%s.%N)
	t_rss=$(rss_kb "$(cat "$T9KFS_HOME/server.pid")")
	"$T9KFS" server stop >/dev/null
	t_del=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["deleted"]["bytes"])' "$work/gc.json")
	r0=$(date +%s.%N)
	/usr/bin/time -f "%M" -o "$work/restic.rss" \
		restic forget -q -r "$work/restic" --keep-last $keep --prune >/dev/null
	r1=$(date +%s.%N)
	bench_json bench=gc_vs_restic run="$i" files="$n" versions="$versions" keep="$keep" \
		t9kfs_seconds="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
		t9kfs_rss_kb="$t_rss" t9kfs_deleted_bytes="$t_del" \
		restic_seconds="$(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.3f", b - a }')" \
		restic_rss_kb="$(tail -n 1 "$work/restic.rss")" >>"$results"
	unset T9KFS_HOME RESTIC_PASSWORD RESTIC_CACHE_DIR
done
rm -rf "$work" "$data"

med() { # bench field [filter]
	grep "\"bench\":\"$1\"" "$results" | grep -- "${3:-.}" | bench_json_get "$2" | bench_median
}
secs=$(med gc seconds '"max_memory":134217728')
rss=$(awk -v b="$(med gc peak_rss '"max_memory":134217728')" 'BEGIN { printf "%.0f", b / 1048576 }')
rss1=$(awk -v b="$(med gc peak_rss '"max_memory":1048576')" 'BEGIN { printf "%.0f", b / 1048576 }')
tsecs=$(med gc_vs_restic t9kfs_seconds)
rsecs=$(med gc_vs_restic restic_seconds)
trss=$(awk -v b="$(med gc_vs_restic t9kfs_rss_kb)" 'BEGIN { printf "%.0f", b / 1024 }')
rrss=$(awk -v b="$(med gc_vs_restic restic_rss_kb)" 'BEGIN { printf "%.0f", b / 1024 }')
bench_summary "$results" "gc of $refs chunk references" s lower "t9kfs:t9kfs=$secs"
bench_summary "$results" "gc beside restic prune ($versions x $n files)" s lower \
	"t9kfs:t9kfs gc=$tsecs" "peer:restic forget --prune=$rsecs"
echo "| gc: $refs chunk references over $commits commits, --max-memory 128M | ${secs} s, peak RSS ${rss} MiB ($(med gc objects_read '"max_memory":134217728') objects read) | target: peak RSS <= 256 MiB | $(bench_div 256 "$rss" 1)x under |"
echo "| gc: keep the last $keep of $versions versions of $n files | ${tsecs} s, ${trss} MiB | restic forget --prune: ${rsecs} s, ${rrss} MiB | $(bench_div "$rsecs" "$tsecs")x faster |"
echo "gc: at --max-memory 1M the same run peaks at ${rss1} MiB, its mark set spilling to disk; the rest is the process (RocksDB, the node cache)" >>"$BENCH_NOTES"
echo "gc results: ${results#"$BENCH_ROOT"/}" >>"$BENCH_NOTES"
