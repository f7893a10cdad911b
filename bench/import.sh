#!/usr/bin/env bash
# Import workload: t9kfs import -m (chunk, hash, compress, store, stage,
# commit) of 100,000 files of 4-64 KiB (quick: 10,000) and of one 4 GiB
# file (quick: 512 MiB), beside `git add -A && git commit` and
# `restic backup` of the same data, everything on tmpfs, median of
# BENCH_RUNS runs alternating the tools. Also the peak memory of the
# t9kfs client and server.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
T9KFS=$BENCH_ROOT/t9kfs
[ -x "$T9KFS" ] || bench_die "$T9KFS not built"
for tool in git restic; do
	command -v $tool >/dev/null || bench_die "$tool is not installed (scripts/install-deps.sh)"
done
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

run_restic() {
	export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$work/restic-cache
	restic init -q -r "$work/restic" >/dev/null
	timed restic backup -q -r "$work/restic" "$1"
	unset RESTIC_PASSWORD RESTIC_CACHE_DIR
}

measure() { # label src bytes files
	local label=$1 src=$2 bytes=$3 files=$4 i tool line
	for i in $(seq "$BENCH_RUNS"); do
		for tool in t9kfs git restic; do
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
	local t g r
	t=$(grep "\"data\":\"$label\",\"tool\":\"t9kfs\"" "$results" | bench_json_get seconds | bench_median)
	g=$(grep "\"data\":\"$label\",\"tool\":\"git\"" "$results" | bench_json_get seconds | bench_median)
	r=$(grep "\"data\":\"$label\",\"tool\":\"restic\"" "$results" | bench_json_get seconds | bench_median)
	local rate unit
	if [ "$files" -gt 1 ]; then
		rate=$(bench_div "$files" "$t" 0) unit="files/s"
		echo "| import $label | $rate $unit ($(bench_div "$bytes" "$t" 0 | awk '{printf "%.0f", $1/1e6}') MB/s) | git: $(bench_div "$files" "$g" 0) files/s; restic: $(bench_div "$files" "$r" 0) files/s | $(bench_div "$g" "$t")x git, $(bench_div "$r" "$t")x restic |"
	else
		rate=$(bench_div "$bytes" "$t" 0 | awk '{printf "%.0f", $1/1e6}')
		echo "| import $label | $rate MB/s | git: $(bench_div "$bytes" "$g" 0 | awk '{printf "%.0f", $1/1e6}') MB/s; restic: $(bench_div "$bytes" "$r" 0 | awk '{printf "%.0f", $1/1e6}') MB/s | $(bench_div "$g" "$t")x git, $(bench_div "$r" "$t")x restic |"
	fi
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
