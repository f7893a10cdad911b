#!/usr/bin/env bash
# Follow workload: a read-only mount of a branch following its head. A
# tree of 100,000 small files (quick: 10,000) in 100 directories is
# mounted with -o ro,poll=1 and listed and read in full (ls -lR, cat), so
# the kernel knows every entry; then commits from the CLI change 1% and
# 10% of the files (a new version each run). Measured per commit: the
# switch itself as the mount logs it (diff below the directories the
# kernel knows, the switch under the lock, the kernel notifications), and
# the wall time from the commit's return until the mount shows a changed
# file's new bytes (bounded below by the poll period, 1 s). Limit: the
# switch should be O(changes), a small part of the poll period. Needs
# root (/dev/fuse). Median of BENCH_RUNS.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
[ "$(id -u)" = 0 ] || bench_die "follow.sh needs root (/dev/fuse)"
if [ "$BENCH_SCALE" = full ]; then
	nfiles=100000
else
	nfiles=10000
fi
results=$(bench_results_file follow)
bench_machine_json >>"$results"
work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-follow.XXXX")
export T9KFS_HOME=$work/home
mnt=$work/mnt

cleanup() {
	"$T9KFS" umount -l "$mnt" >/dev/null 2>&1 || true
	"$T9KFS" server stop >/dev/null 2>&1 || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# write DIR N VERSION [EVERY]: files f%06d of the tree, every EVERY-th one
# (default all), holding "VERSION i".
write_tree() {
	/usr/bin/python3 - "$@" <<'EOF'
import os, sys
root, n, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]
every = int(sys.argv[4]) if len(sys.argv) > 4 else 1
for i in range(0, n, every):
    d = os.path.join(root, "d%03d" % (i * 100 // n))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "w") as f:
        f.write("%s %d\n" % (version, i))
EOF
}

bench_log "follow: $nfiles files in 100 directories"
mkdir -p "$mnt"
write_tree "$work/tree" "$nfiles" v0
"$T9KFS" repo create bench >/dev/null
"$T9KFS" import "$work/tree" bench@main -m v0 >/dev/null
rm -rf "$work/tree"
T9KFS_LOG=info "$T9KFS" mount -o ro,poll=1 bench@main "$mnt" >/dev/null
log=$(ls "$T9KFS_HOME"/mounts/*.log)
ls -lR "$mnt" >/dev/null
find "$mnt" -type f -exec cat {} + >/dev/null

for run in $(seq "$BENCH_RUNS"); do
	for pct in 1 10; do
		every=$((100 / pct)) version=r$run-p$pct
		bench_log "follow: run $run, $pct% of the files change"
		rm -rf "$work/change"
		write_tree "$work/change" "$nfiles" "$version" "$every"
		nlog=$(grep -c " moved from " "$log" || true)
		"$T9KFS" import "$work/change" bench@main -m "$version" >/dev/null
		t0=$(date +%s%N)
		until grep -qx "$version 0" "$mnt/d000/f000000" 2>/dev/null; do
			[ $(($(date +%s%N) - t0)) -lt 30000000000 ] || bench_die "the mount did not follow within 30 s"
			sleep 0.01
		done
		t1=$(date +%s%N)
		until [ "$(grep -c " moved from " "$log")" -gt "$nlog" ]; do sleep 0.01; done
		switch=$(grep " moved from " "$log" | tail -n 1 | sed -n 's/.*switched in \([0-9.]*\) ms.*/\1/p')
		changed=$(grep " moved from " "$log" | tail -n 1 | sed -n 's/.*changed names: \([0-9]*\).*/\1/p')
		[ -n "$switch" ] || bench_die "no switch time in $log"
		bench_json bench=follow files="$nfiles" pct="$pct" run="$run" changed_names="$changed" \
			switch_ms="$switch" visible_ms="$(((t1 - t0) / 1000000))" >>"$results"
		# the kernel knows everything again, for the next commit
		ls -lR "$mnt" >/dev/null
		find "$mnt" -type f -exec cat {} + >/dev/null
	done
done
"$T9KFS" umount "$mnt" >/dev/null

median_of() { # PCT FIELD
	grep "\"pct\":$1," "$results" | bench_json_get "$2" | bench_median
}
for pct in 1 10; do
	n=$((nfiles * pct / 100))
	sw=$(median_of "$pct" switch_ms) vis=$(median_of "$pct" visible_ms)
	echo "| follow: commit of $n changed files under a read-only branch mount that knows all $nfiles | switch $sw ms; shown $vis ms after the commit | poll period: 1,000 ms | $(bench_div "$sw" 1000 3) of a poll |"
done
echo "follow results: ${results#"$BENCH_ROOT"/} (switch: diff, switch and kernel notifications, from the mount's log)" >>"$BENCH_NOTES"
