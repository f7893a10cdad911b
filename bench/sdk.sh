#!/usr/bin/env bash
# SDK workload: datasets read through the Python package (libt9kfs.so,
# no FUSE) beside the same commit through the FUSE mount and the same
# files on the local disk, one reader for all three (bench/sdk_read.py):
#   - 1,000 files of 100 KiB read whole by 8 threads (files/s);
#   - one 512 MiB file read sequentially into a 1 MiB buffer (MB/s);
# each cold (page cache dropped, a fresh mount, a fresh client process)
# and warm (a second pass in the same process: the mount's and the local
# disk's page cache, the SDK's chunk cache, sized 1 GiB here so the file
# fits as it fits the page cache). Targets (issue 19): the SDK at least
# 0.9x the mount on the small files and 1.0x on the large file. The store
# and the local copy share one disk (BENCH_DISK, default /var/tmp), as in
# bench/mount.sh. Needs root (drop_caches, /dev/fuse) and
# /usr/bin/python3. Median of BENCH_RUNS.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
[ "$(id -u)" = 0 ] || bench_die "sdk.sh needs root (drop_caches, /dev/fuse)"
PY=/usr/bin/python3
[ -x "$PY" ] || bench_die "$PY is not installed"
[ -e "$BENCH_ROOT/build/libt9kfs.so.0" ] || bench_die "build/libt9kfs.so.0 not built (make sdk)"
nfiles=1000 fsize=$((100 << 10)) size=$((512 << 20)) label="512 MiB"
runs=$BENCH_RUNS
results=$(bench_results_file sdk)
bench_machine_json >>"$results"
work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-sdk.XXXX")
export T9KFS_HOME=$work/home T9KFS_BIN=$T9KFS T9KFS_SDK_CACHE=1G
unset T9KFS_SERVER T9KFS_CACHE T9KFS_CACHE_GROUP
mnt=$work/mnt
reader=$BENCH_DIR/sdk_read.py

cleanup() {
	"$T9KFS" umount -l "$mnt" >/dev/null 2>&1 || true
	"$T9KFS" server stop >/dev/null 2>&1 || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

fresh_mount() {
	"$T9KFS" umount "$mnt" >/dev/null 2>&1 || true
	"$T9KFS" mount bench@v1 "$mnt" >/dev/null
}

record() { # workload kind run pass value unit
	bench_json bench=sdk workload="$1" kind="$2" run="$3" pass="$4" value="$5" unit="$6" >>"$results"
}

median_of() { # workload kind pass
	grep "\"workload\":\"$1\",\"kind\":\"$2\",\"run\":[0-9]*,\"pass\":\"$3\"" "$results" |
		bench_json_get value | bench_median
}

# One reader run: prints "cold warm" in the workload's unit.
measure() { # files|seq side where [list threads]
	local out
	out=$("$PY" "$reader" "$@") || bench_die "sdk_read.py $*: failed"
	"$PY" -c 'import json, sys
o = json.loads(sys.argv[1])
if o["mode"] == "files":
    print("%.0f %.0f" % (o["files"] / o["cold"], o["files"] / o["warm"]))
else:
    print("%.0f %.0f" % (o["bytes"] / o["cold"] / 1e6, o["bytes"] / o["warm"] / 1e6))' "$out"
}

bench_log "sdk: writing $nfiles files of 100 KiB and $label to $work"
mkdir -p "$work/data/small" "$mnt"
"$PY" - "$work/data/small" "$nfiles" "$fsize" "$work/list" <<'EOF'
import os, sys
root, n, size, listf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
paths = []
for i in range(n):
    rel = "d%02d/f%05d.bin" % (i % 10, i)
    os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
    with open(os.path.join(root, rel), "wb") as f:
        f.write(os.urandom(size))
    paths.append("small/" + rel)
with open(listf, "w") as f:
    f.write("\n".join(paths) + "\n")
EOF
head -c "$size" /dev/urandom >"$work/data/big.bin"
"$T9KFS" repo create bench >/dev/null
bench_log "sdk: importing"
"$T9KFS" import "$work/data" bench@main -m data >/dev/null
"$T9KFS" tag create bench@v1 >/dev/null

for i in $(seq "$runs"); do
	bench_log "sdk: run $i/$runs"
	for side in local mount sdk; do
		case $side in
		local) files=(files local "$work/data") seq=(seq local "$work/data/big.bin") ;;
		mount) files=(files mount "$mnt") seq=(seq mount "$mnt/big.bin") ;;
		sdk) files=(files sdk bench@v1) seq=(seq sdk bench@v1:big.bin) ;;
		esac
		[ "$side" = mount ] && fresh_mount
		bench_drop_caches
		res=$(measure "${files[@]}" "$work/list" 8)
		read -r cold warm <<<"$res"
		record small_files "$side" "$i" cold "$cold" files/s
		record small_files "$side" "$i" warm "$warm" files/s
		[ "$side" = mount ] && fresh_mount
		bench_drop_caches
		res=$(measure "${seq[@]}")
		read -r cold warm <<<"$res"
		record seq_read "$side" "$i" cold "$cold" MB/s
		record seq_read "$side" "$i" warm "$warm" MB/s
	done
done
"$T9KFS" umount "$mnt" >/dev/null

row() { # workload pass title unit
	local s m l
	s=$(median_of "$1" sdk "$2") m=$(median_of "$1" mount "$2") l=$(median_of "$1" local "$2")
	bench_summary "$results" "sdk (Python, no FUSE): $3" "$4" higher "t9kfs:t9kfs SDK=$s" \
		"peer:t9kfs FUSE mount=$m" "limit:local disk=$l"
	echo "| sdk: $3 | $s $4 | mount: $m $4; local disk: $l $4 | $(bench_div "$s" "$m") |"
}
row small_files cold "$nfiles x 100 KiB, 8 threads, cold" files/s
row small_files warm "$nfiles x 100 KiB, 8 threads, warm" files/s
row seq_read cold "seq read $label, cold" MB/s
row seq_read warm "seq read $label, warm" MB/s
{
	echo "sdk: one Python reader (bench/sdk_read.py) for the SDK, the mount and the local disk; ratios are SDK/mount (targets: >= 0.9 small files, >= 1.0 large file); cold = caches dropped, fresh mount, fresh process; warm = a second pass in that process (SDK chunk cache $T9KFS_SDK_CACHE)"
	echo "sdk results: ${results#"$BENCH_ROOT"/}"
} >>"$BENCH_NOTES"
