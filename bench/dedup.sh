#!/usr/bin/env bash
# Dedup workload: a dataset of large random files (quick: 4 x 64 MiB, full:
# 16 x 128 MiB) is imported, then 1% of every file changes (8 insertions at
# random offsets and an append) and the new version is imported again. The
# figure is what the second version added to each tool's repository on disk:
# t9kfs (file:// store), restic, borg, and git-lfs as the whole-file store.
# Timing of the second import is kept too. Median of BENCH_RUNS runs.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
bench_need restic borg git-lfs
if [ "$BENCH_SCALE" = full ]; then
	nfiles=16 size=$((128 << 20))
else
	nfiles=4 size=$((64 << 20))
fi
label="$nfiles files of $((size >> 20)) MiB, 1% changed"
results=$(bench_results_file dedup)
bench_machine_json >>"$results"
v1=$BENCH_TMP/dedup-v1
v2=$BENCH_TMP/dedup-v2
work=$BENCH_TMP/dedup-work
bench_log "dedup: generating $nfiles files of $((size >> 20)) MiB and their 1% change"
/usr/bin/python3 "$BENCH_DIR/gen_files.py" fixed "$v1" "$nfiles" "$size"
cp -r "$v1" "$v2"
/usr/bin/python3 "$BENCH_DIR/gen_files.py" modify "$v2" 1
changed=$(($(du -sb "$v2" | cut -f1) - $(du -sb "$v1" | cut -f1)))

bytes() { du -sb "$1" | cut -f1; }

# Each import_TOOL DIR imports DIR as a new version; repo_TOOL names what
# to measure.
t9kfs_init() {
	export T9KFS_HOME=$work/t9kfs
	"$T9KFS" server start >/dev/null
	"$T9KFS" repo create bench >/dev/null
}
t9kfs_import() { "$T9KFS" import "$1" bench@main -m "$(basename "$1")" >/dev/null; }
t9kfs_repo() { echo "$work/t9kfs/store"; }
t9kfs_fini() {
	"$T9KFS" server stop >/dev/null
	unset T9KFS_HOME
}

restic_init() {
	export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$work/restic-cache
	restic init -q -r "$work/restic" >/dev/null
}
restic_import() { (cd "$1" && restic backup -q -r "$work/restic" . >/dev/null); }
restic_repo() { echo "$work/restic"; }
restic_fini() { unset RESTIC_PASSWORD RESTIC_CACHE_DIR; }

borg_init() {
	export BORG_BASE_DIR=$work/borg-base BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
	borg init -e none "$work/borg" >/dev/null
}
borg_import() { (cd "$1" && borg create "$work/borg::$(basename "$1")" . >/dev/null); }
borg_repo() { echo "$work/borg"; }
borg_fini() { unset BORG_BASE_DIR BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK; }

# git-lfs keeps each version of a file whole: what a store without chunking
# uploads. The work tree is the version being committed.
git-lfs_init() {
	git init -q "$work/git"
	git --git-dir="$work/git/.git" lfs install --local >/dev/null
	echo '* filter=lfs diff=lfs merge=lfs -text' >"$work/git/.git/info/attributes"
}
git-lfs_import() {
	git --git-dir="$work/git/.git" --work-tree="$1" add -A &&
		git --git-dir="$work/git/.git" --work-tree="$1" -c user.name=b -c user.email=b@b \
			commit -q -m "$(basename "$1")"
}
git-lfs_repo() { echo "$work/git/.git"; }
git-lfs_fini() { :; }

tools="t9kfs restic borg git-lfs"
for i in $(seq "$BENCH_RUNS"); do
	for tool in $tools; do
		rm -rf "$work"
		mkdir -p "$work"
		"${tool}_init"
		"${tool}_import" "$v1"
		b1=$(bytes "$("${tool}_repo")")
		t0=$(date +%s.%N)
		"${tool}_import" "$v2"
		t1=$(date +%s.%N)
		b2=$(bytes "$("${tool}_repo")")
		"${tool}_fini"
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		bench_json bench=dedup data="$label" tool="$tool" run="$i" v1_bytes="$b1" \
			added_bytes="$((b2 - b1))" changed_bytes="$changed" seconds="$secs" >>"$results"
		bench_log "dedup: $tool run $i: second version added $(((b2 - b1) >> 20)) MiB in ${secs}s"
	done
done
rm -rf "$work" "$v1" "$v2"

med() { # tool field
	grep "\"tool\":\"$1\"" "$results" | grep '"bench":"dedup"' | bench_json_get "$2" | bench_median
}
series=() peers="" ratios=""
t=$(med t9kfs added_bytes)
for tool in $tools; do
	mb=$(awk -v b="$(med "$tool" added_bytes)" 'BEGIN { printf "%.1f", b / 1048576 }')
	if [ "$tool" = t9kfs ]; then
		series+=("t9kfs:t9kfs=$mb")
		continue
	fi
	series+=("peer:$tool=$mb")
	peers+="${peers:+; }$tool: $mb MiB"
	ratios+="${ratios:+, }$(bench_div "$(med "$tool" added_bytes)" "$t")x $tool"
done
bench_summary "$results" "bytes added by a 1% change" MiB lower "${series[@]}"
echo "| dedup: re-import after a 1% change, $nfiles x $((size >> 20)) MiB | $(awk -v b="$t" 'BEGIN { printf "%.1f", b / 1048576 }') MiB added ($(awk -v b="$changed" 'BEGIN { printf "%.1f", b / 1048576 }') MiB changed) | $peers | $ratios less |"
echo "dedup: second import took $(med t9kfs seconds) s for t9kfs, $(med restic seconds) s restic, $(med borg seconds) s borg, $(med git-lfs seconds) s git-lfs (median)" >>"$BENCH_NOTES"
echo "dedup results: ${results#"$BENCH_ROOT"/}" >>"$BENCH_NOTES"
