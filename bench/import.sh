#!/usr/bin/env bash
# Import workload: t9kfs import -m (chunk, hash, compress, store, stage,
# commit) of 100,000 files of 4-64 KiB (quick: 10,000) and of one 4 GiB
# file (quick: 512 MiB), beside `git add -A && git commit` (plain and with
# every file in Git LFS), `restic backup` and `borg create` of the same
# data, everything on tmpfs, median of
# BENCH_RUNS runs alternating the tools. Also the peak memory of the
# t9kfs client and server.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
bench_need git git-lfs restic borg
if [ "$BENCH_SCALE" = full ]; then
	nfiles=100000 big=$((4 << 30)) biglabel="4 GiB"
else
	nfiles=10000 big=$((512 << 20)) biglabel="512 MiB"
fi
results=$(bench_results_file import)
bench_machine_json >>"$results"
data=$BENCH_TMP/import-data
work=$BENCH_TMP/import-work

# Runs "$@" under /usr/bin/time; prints "seconds maxrss_kib".
timed() {
	/usr/bin/time -f "%e %M" -o "$BENCH_TMP/time" "$@" >/dev/null 2>"$BENCH_TMP/err" ||
		{ cat "$BENCH_TMP/err" >&2; bench_die "failed: $*"; }
	cat "$BENCH_TMP/time"
}

run_t9kfs() { # src label
	export T9KFS_HOME=$work/t9kfs
	"$T9KFS" server start >/dev/null
	"$T9KFS" repo create bench >/dev/null
	read -r secs rss < <(timed "$T9KFS" import "$1" bench@main -m "bench import")
	local pid srv_kib
	pid=$(cat "$T9KFS_HOME/server.pid")
	srv_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	"$T9KFS" server stop >/dev/null
	unset T9KFS_HOME
	echo "$secs $rss $srv_kib"
}

run_git() {
	local g=$work/git
	git init -q "$g"
	timed sh -c "git --git-dir='$g/.git' --work-tree='$1' add -A &&
		git --git-dir='$g/.git' --work-tree='$1' -c user.name=b -c user.email=b@b commit -q -m bench"
}

# Every file through the LFS clean filter, as a dataset repo would track it;
# the attributes live in .git/info so the data folder stays untouched.
run_git-lfs() {
	local g=$work/git-lfs
	git init -q "$g"
	git --git-dir="$g/.git" lfs install --local >/dev/null
	echo '* filter=lfs diff=lfs merge=lfs -text' >"$g/.git/info/attributes"
	timed sh -c "git --git-dir='$g/.git' --work-tree='$1' add -A &&
		git --git-dir='$g/.git' --work-tree='$1' -c user.name=b -c user.email=b@b commit -q -m bench"
}

# borg's defaults (lz4, buzhash chunker), unencrypted like the others.
run_borg() {
	export BORG_BASE_DIR=$work/borg-base BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
	borg init -e none "$work/borg" >/dev/null
	timed borg create "$work/borg::bench" "$1"
	unset BORG_BASE_DIR BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK
}

run_restic() {
	export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$work/restic-cache
	restic init -q -r "$work/restic" >/dev/null
	timed restic backup -q -r "$work/restic" "$1"
	unset RESTIC_PASSWORD RESTIC_CACHE_DIR
}

measure() { # label src bytes files
	local label=$1 src=$2 bytes=$3 files=$4 i tool line tools="t9kfs git git-lfs restic borg"
	for i in $(seq "$BENCH_RUNS"); do
		for tool in $tools; do
			rm -rf "$work"
			mkdir -p "$work"
			line=$("run_$tool" "$src")
			set -- "$label" "$src" "$bytes" "$files"
			read -r secs rss srv <<<"$line"
			bench_json bench=import data="$label" tool="$tool" run="$i" bytes="$bytes" \
				files="$files" seconds="$secs" maxrss_kib="$rss" \
				server_hwm_kib="${srv:-0}" >>"$results"
			bench_log "import: $label $tool run $i: ${secs}s"
		done
	done
	rm -rf "$work"
	# Rates: files/s for many files, MB/s for one; ratios t9kfs over peer.
	local t sec rate unit peers="" ratios="" series=()
	for tool in $tools; do
		sec=$(grep "\"data\":\"$label\",\"tool\":\"$tool\"" "$results" | bench_json_get seconds | bench_median)
		if [ "$files" -gt 1 ]; then
			rate=$(bench_div "$files" "$sec" 0) unit=files/s
		else
			rate=$(bench_div "$bytes" "$sec" 0 | awk '{printf "%.0f", $1 / 1e6}') unit=MB/s
		fi
		if [ "$tool" = t9kfs ]; then
			t=$sec
			series+=("t9kfs:t9kfs import=$rate")
			continue
		fi
		series+=("peer:$tool=$rate")
		peers+="${peers:+; }$tool: $rate $unit"
		ratios+="${ratios:+, }$(bench_div "$sec" "$t")x $tool"
	done
	rate=$(bench_div "$files" "$t" 0)
	[ "$files" -gt 1 ] || rate=$(bench_div "$bytes" "$t" 0 | awk '{printf "%.0f", $1 / 1e6}')
	bench_summary "$results" "import + commit, $label" "$unit" higher "${series[@]}"
	echo "| import $label | $rate $unit | $peers | $ratios |"
	local rss srv
	rss=$(grep "\"data\":\"$label\",\"tool\":\"t9kfs\"" "$results" | bench_json_get maxrss_kib | sort -n | tail -n 1)
	srv=$(grep "\"data\":\"$label\",\"tool\":\"t9kfs\"" "$results" | bench_json_get server_hwm_kib | sort -n | tail -n 1)
	echo "import $label: t9kfs peak memory: client $((rss / 1024)) MiB, server $((srv / 1024)) MiB" >>"$BENCH_NOTES"
}

bench_log "import: generating $nfiles small files"
mkdir -p "$data/small"
/usr/bin/python3 "$BENCH_DIR/gen_files.py" small "$data/small" "$nfiles"
bytes=$(du -sb "$data/small" | cut -f1)
measure "$nfiles files of 4-64 KiB" "$data/small" "$bytes" "$nfiles"
rm -rf "$data/small"
bench_log "import: generating one $biglabel file"
mkdir -p "$data/big"
/usr/bin/python3 "$BENCH_DIR/gen_files.py" big "$data/big/file.bin" "$big"
measure "one $biglabel file" "$data/big" "$big" 1
rm -rf "$data"
echo "import results: ${results#"$BENCH_ROOT"/}" >>"$BENCH_NOTES"
