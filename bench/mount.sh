#!/usr/bin/env bash
# Mount workload: a commit mounted with FUSE against the same data on the
# local disk.
#   - sequential read of a 2 GiB file (quick: 512 MiB), page cache dropped
#     (echo 3 >/proc/sys/vm/drop_caches), from a fresh mount each run;
#   - hot re-read of it (page cache, keep_cache), after one more untimed
#     read: on a shared machine other jobs' cache drops evict pages;
#   - ls -lR of 100,000 files (quick: 10,000) in 100 directories, caches
#     dropped, fresh mount;
#   - sequential write of a 2 GiB checkpoint (quick: 512 MiB) into a branch
#     mount with dd conv=fsync (stored, deduplicated and staged when fsync
#     returns) against dd conv=fsync on the local disk; fresh random bytes
#     each run, so nothing deduplicates.
# The store and the local copies share one disk (BENCH_DISK, default
# /var/tmp), so both sides read the same device; tmpfs would flatter the
# mount. The peers (rclone mount, s3fs) read over S3: bench/mount-s3.sh.
# Needs root (drop_caches, /dev/fuse, the mount's readahead). Median of
# BENCH_RUNS.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
[ "$(id -u)" = 0 ] || bench_die "mount.sh needs root (drop_caches, /dev/fuse)"
if [ "$BENCH_SCALE" = full ]; then
	size=$((2 << 30)) label="2 GiB" nfiles=100000
else
	size=$((512 << 20)) label="512 MiB" nfiles=10000
fi
runs=$BENCH_RUNS
results=$(bench_results_file mount)
bench_machine_json >>"$results"
work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-mount.XXXX")
export T9KFS_HOME=$work/home
mnt=$work/mnt

cleanup() {
	"$T9KFS" umount -l "$mnt" >/dev/null 2>&1 || true
	"$T9KFS" server stop >/dev/null 2>&1 || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

mount_commit() {
	"$T9KFS" umount "$mnt" >/dev/null 2>&1 || true
	"$T9KFS" mount bench@v1 "$mnt" >/dev/null
}

record() { # workload kind run value unit
	bench_json bench=mount workload="$1" kind="$2" run="$3" value="$4" unit="$5" >>"$results"
}

median_of() { # workload kind
	grep "\"workload\":\"$1\",\"kind\":\"$2\"" "$results" | bench_json_get value | bench_median
}

bench_log "mount: writing $label and $nfiles small files to $work"
mkdir -p "$work/data/tree" "$mnt"
head -c "$size" /dev/urandom >"$work/data/big.bin"
/usr/bin/python3 - "$work/data/tree" "$nfiles" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i * 100 // n))
    if i % (n // 100) == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "w") as f:
        f.write("file %d\n" % i)
EOF
"$T9KFS" repo create bench >/dev/null
bench_log "mount: importing"
"$T9KFS" import "$work/data" bench@main -m data >/dev/null
"$T9KFS" tag create bench@v1 >/dev/null

for i in $(seq "$runs"); do
	bench_log "mount: run $i/$runs"
	# cold sequential read: local first, then a fresh mount
	bench_drop_caches
	s=$(bench_secs dd if="$work/data/big.bin" of=/dev/null bs=1M)
	record seq_read local "$i" "$(bench_mbps "$size" "$s")" MB/s
	cat "$work/data/big.bin" >/dev/null # pages other jobs' drops took
	s=$(bench_secs dd if="$work/data/big.bin" of=/dev/null bs=1M)
	record hot_read local "$i" "$(bench_mbps "$size" "$s")" MB/s
	mount_commit
	dpid=$(awk 'NR == 1 { print $1 }' "$T9KFS_HOME"/mounts/*.pid)
	bench_drop_caches
	c0=$(bench_cpu_ticks "$dpid")
	s=$(bench_secs dd if="$mnt/big.bin" of=/dev/null bs=1M)
	c1=$(bench_cpu_ticks "$dpid")
	record seq_read t9kfs "$i" "$(bench_mbps "$size" "$s")" MB/s
	read -r u y <<<"$(bench_cpu_per_gib "$size" "$c0" "$c1")"
	record cpu_daemon_user t9kfs "$i" "$u" CPU-s/GiB
	record cpu_daemon_sys t9kfs "$i" "$y" CPU-s/GiB
	cat "$mnt/big.bin" >/dev/null
	s=$(bench_secs dd if="$mnt/big.bin" of=/dev/null bs=1M)
	record hot_read t9kfs "$i" "$(bench_mbps "$size" "$s")" MB/s
	# ls -lR, cold
	bench_drop_caches
	record ls_lR local "$i" "$(bench_secs ls -lR "$work/data/tree")" s
	mount_commit
	bench_drop_caches
	record ls_lR t9kfs "$i" "$(bench_secs ls -lR "$mnt/tree")" s
	# checkpoint write: fresh bytes, cached, written to each side
	"$T9KFS" umount "$mnt" >/dev/null
	head -c "$size" /dev/urandom >"$work/ckpt.src"
	cat "$work/ckpt.src" >/dev/null
	rm -f "$work/ckpt.local"
	s=$(bench_secs dd if="$work/ckpt.src" of="$work/ckpt.local" bs=1M conv=fsync)
	record seq_write local "$i" "$(bench_mbps "$size" "$s")" MB/s
	rm -f "$work/ckpt.local"
	"$T9KFS" mount bench@main "$mnt" >/dev/null
	s=$(bench_secs dd if="$work/ckpt.src" of="$mnt/ckpt-$i.bin" bs=1M conv=fsync)
	record seq_write t9kfs "$i" "$(bench_mbps "$size" "$s")" MB/s
	"$T9KFS" umount "$mnt" >/dev/null
	"$T9KFS" commit bench@main -m "checkpoint $i" >/dev/null
	cmp "$work/ckpt.src" <("$T9KFS" cat "bench@main:ckpt-$i.bin") ||
		bench_die "the checkpoint read back differs"
done

read_t=$(median_of seq_read t9kfs) read_l=$(median_of seq_read local)
hot_t=$(median_of hot_read t9kfs) hot_l=$(median_of hot_read local)
ls_t=$(median_of ls_lR t9kfs) ls_l=$(median_of ls_lR local)
wr_t=$(median_of seq_write t9kfs) wr_l=$(median_of seq_write local)
bench_summary "$results" "mount (file:// store): seq read $label, cold" MB/s higher \
	"t9kfs:t9kfs=$read_t" "limit:local disk=$read_l"
bench_summary "$results" "mount: hot re-read $label" MB/s higher "t9kfs:t9kfs=$hot_t" \
	"limit:local page cache=$hot_l"
bench_summary "$results" "mount: ls -lR $nfiles files, cold" s lower "t9kfs:t9kfs=$ls_t" \
	"limit:local disk=$ls_l"
bench_summary "$results" "checkpoint write $label, fsync" MB/s higher "t9kfs:t9kfs branch mount=$wr_t" \
	"limit:local disk=$wr_l"
du=$(median_of cpu_daemon_user t9kfs) ds=$(median_of cpu_daemon_sys t9kfs)
echo "| mount: seq read $label, caches dropped | $read_t MB/s | local disk: $read_l MB/s | $(bench_div "$read_t" "$read_l") |"
echo "| mount: the mount daemon's CPU in that cold read | $(awk -v u="$du" -v y="$ds" 'BEGIN { print u + y }') CPU-s/GiB (user $du, sys $ds) | target <= 1.0 | |"
echo "| mount: hot re-read $label (page cache) | $hot_t MB/s | local page cache: $hot_l MB/s | $(bench_div "$hot_t" "$hot_l") |"
echo "| mount: ls -lR $nfiles files, caches dropped | $ls_t s | local: $ls_l s | $(bench_div "$ls_l" "$ls_t") |"
echo "| mount: write $label checkpoint, fsync | $wr_t MB/s | local disk: $wr_l MB/s | $(bench_div "$wr_t" "$wr_l") |"
{
	echo "mount: store and local copies on $(df --output=source "$work" | tail -n 1) (${BENCH_DISK:-/var/tmp}); ratios are t9kfs/local speed (ls: local time / t9kfs time)"
	echo "mount: FUSE with keep_cache reaches about 0.45x a native page-cache read on this kernel (notes/machine-facts.md), the hot re-read's reference"
	echo "mount results: ${results#"$BENCH_ROOT"/}"
} >>"$BENCH_NOTES"
