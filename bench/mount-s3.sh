#!/usr/bin/env bash
# Mount workload over S3: sequential read of one large file (2 GiB; quick:
# 256 MiB), a data-loader read of many small files (20,000 x 100 KiB with 8
# threads in shuffled order; quick: 1,000) and `ls -lR` of those files,
# through three FUSE mounts of the same bytes on the same S3 server,
# against the local disk:
#   - t9kfs: a commit of a repository on s3:// (bench@v1), `t9kfs mount`;
#   - rclone mount --vfs-cache-mode full of the file uploaded as one object
#     (rclone copy) to another bucket;
#   - s3fs of that same bucket.
# Cold: page cache dropped (echo 3 >/proc/sys/vm/drop_caches) and each
# tool's own caches emptied: every mount is fresh (t9kfs's chunk cache and
# s3fs's stat cache live in memory), rclone's VFS cache directory is
# removed. Warm: the same read again at once (whatever each tool keeps:
# page cache, rclone's VFS cache). The server is a one-node Ceph RGW
# (memstore OSD) on loopback, started with test/integration/ceph.sh as
# bench/s3.sh does; it shares the CPUs with the mounts. The local copy and
# rclone's cache sit on BENCH_DISK (default /var/tmp). Runs alternate the
# tools; median of BENCH_RUNS. Peers run at their defaults apart from
# rclone's full VFS cache. Every mount and daemon started here is stopped,
# also on failure or a signal. Needs root (drop_caches, FUSE).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=test/integration/ceph.sh
. "$BENCH_ROOT/test/integration/ceph.sh"

own_tmp=0
[ -n "${BENCH_TMP:-}" ] || own_tmp=1
bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
[ "$(id -u)" = 0 ] || bench_die "mount-s3.sh needs root (drop_caches, /dev/fuse)"
bench_need rclone s3fs fusermount3 curl mountpoint
if [ "$BENCH_SCALE" = full ]; then
	size=$((2 << 30)) label="2 GiB" nsmall=20000
else
	size=$((256 << 20)) label="256 MiB" nsmall=1000
fi
small_bytes=$((nsmall * 100 * 1024))
READ_FILES=${READ_FILES:-$BENCH_ROOT/build/release/bench/read_files}
[ -x "$READ_FILES" ] || bench_die "$READ_FILES not built (make build/release/bench/read_files)"

bench_s3_env

work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-mount-s3.XXXX")
export T9KFS_HOME=$work/home
declare -A mnt=([t9kfs]=$work/m-t9kfs [rclone]=$work/m-rclone [s3fs]=$work/m-s3fs)
declare -A pid=([rclone]="" [s3fs]="")
file=big.bin

peer_umount() { # TOOL
	local p=${pid[$1]}
	[ -n "$p" ] || return 0
	fusermount3 -u "${mnt[$1]}" 2>/dev/null || umount -l "${mnt[$1]}" 2>/dev/null || true
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	pid[$1]=""
}

cleanup() {
	set +e
	"$T9KFS" umount -l "${mnt[t9kfs]}" >/dev/null 2>&1
	peer_umount rclone
	peer_umount s3fs
	"$T9KFS" server stop >/dev/null 2>&1
	ceph_stop
	rm -rf --one-file-system "$work"
	[ "$own_tmp" = 0 ] || rm -rf --one-file-system "$BENCH_TMP"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

missing=$(ceph_missing)
if [ -n "$missing" ]; then
	bench_log "mount-s3: installing Ceph (missing: $missing)"
	ceph_install "$BENCH_TMP/apt.log" || bench_die "cannot install Ceph: $CEPH_ERROR"
fi
CEPH_MEMSTORE_BYTES=$((2 * (size + small_bytes) + (1 << 30)))
if ! ceph_start "$BENCH_TMP/ceph-mount"; then
	tail -n 5 "$BENCH_TMP"/ceph-mount/log/*.log >&2 || true
	bench_die "the Ceph RGW did not start: $CEPH_ERROR"
fi
ep=$CEPH_ENDPOINT
bench_log "mount-s3: Ceph RGW at $ep, up in ${CEPH_START_SECONDS}s"

s3_put_bucket() { # BUCKET
	curl -sf --max-time 30 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		-u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
		-X PUT "$ep/$1" >/dev/null
}
_ceph_wait 100 s3_put_bucket bench-t9kfs || bench_die "cannot create bucket bench-t9kfs"
_ceph_wait 100 s3_put_bucket bench-raw || bench_die "cannot create bucket bench-raw"

# rclone's remote "rgw:", configured by the environment alone; rclone
# 1.60 fails with LoadCustomCABundleError when AWS_CA_BUNDLE is set.
export RCLONE_CONFIG=$BENCH_TMP/rclone-mount.conf
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph
export RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_RGW_ENDPOINT=$ep RCLONE_CONFIG_RGW_REGION=$AWS_REGION
echo "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$BENCH_TMP/s3fs-mount.passwd"
chmod 600 "$BENCH_TMP/s3fs-mount.passwd"
mkdir -p "${mnt[t9kfs]}" "${mnt[rclone]}" "${mnt[s3fs]}" "$work/local" "$work/s3fs-tmp"

bench_log "mount-s3: writing $label of random bytes to $work/local"
head -c "$size" /dev/urandom >"$work/local/$file"
bench_log "mount-s3: writing $nsmall files of 100 KiB to $work/local/small"
/usr/bin/python3 "$BENCH_DIR/gen_files.py" fixed "$work/local/small" "$nsmall" $((100 * 1024))
bench_log "mount-s3: storing it with t9kfs import and rclone copy"
"$T9KFS" server start >/dev/null
"$T9KFS" repo create bench --store "s3://bench-t9kfs/t9kfs?endpoint=$ep" >/dev/null
"$T9KFS" import "$work/local" bench@main -m data >/dev/null
"$T9KFS" tag create bench@v1 >/dev/null
env -u AWS_CA_BUNDLE rclone copy "$work/local/$file" rgw:bench-raw
env -u AWS_CA_BUNDLE rclone copy --transfers 16 "$work/local/small" rgw:bench-raw/small

mount_fresh() { # TOOL: a fresh mount with empty caches of its own
	local m=${mnt[$1]}
	case $1 in
	t9kfs)
		"$T9KFS" umount "$m" >/dev/null 2>&1 || true
		"$T9KFS" mount bench@v1 "$m" >/dev/null
		;;
	rclone)
		peer_umount rclone
		rm -rf "$work/rclone-cache"
		env -u AWS_CA_BUNDLE rclone mount rgw:bench-raw "$m" --read-only \
			--vfs-cache-mode full --cache-dir "$work/rclone-cache" \
			</dev/null >>"$BENCH_TMP/rclone-mount.log" 2>&1 &
		pid[rclone]=$!
		;;
	s3fs)
		peer_umount s3fs
		s3fs bench-raw "$m" -f -o "ro,passwd_file=$BENCH_TMP/s3fs-mount.passwd,url=$ep" \
			-o "use_path_request_style,endpoint=$AWS_REGION,tmpdir=$work/s3fs-tmp" \
			</dev/null >>"$BENCH_TMP/s3fs-mount.log" 2>&1 &
		pid[s3fs]=$!
		;;
	esac
	[ "$1" = t9kfs ] || _ceph_wait 400 test -e "$m/$file" ||
		bench_die "$1 did not mount (see its log in $BENCH_TMP)"
}

ls_seconds() { # DIR: seconds of one ls -lR
	local t0 t1
	t0=$(date +%s%N)
	ls -lR "$1" >/dev/null || bench_die "ls -lR $1 failed"
	t1=$(date +%s%N)
	awk -v ns="$((t1 - t0))" 'BEGIN { printf "%.3f\n", ns / 1e9 }'
}

loader_files_per_s() { # DIR: files/s of read_files with 8 threads
	local line
	line=$("$READ_FILES" --threads 8 "$1") || bench_die "read_files $1 failed"
	[ "$(echo "$line" | bench_json_get files)" = "$nsmall" ] ||
		bench_die "read_files saw $(echo "$line" | bench_json_get files) files under $1, not $nsmall"
	echo "$line" | bench_json_get files_per_s
}

read_mbps() { # FILE: MB/s of one sequential read
	local t0 t1
	t0=$(date +%s%N)
	dd if="$1" of=/dev/null bs=1M 2>/dev/null || bench_die "cannot read $1"
	t1=$(date +%s%N)
	awk -v b="$size" -v ns="$((t1 - t0))" 'BEGIN { printf "%.0f\n", b / ns * 1e3 }'
}

results=$(bench_results_file mount-s3)
bench_machine_json >>"$results"
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
rclone_v=$(rclone version 2>/dev/null | awk 'NR == 1 {print $2}')
s3fs_v=$(s3fs --version 2>/dev/null | sed -n '1s/.*V\([0-9.]*\).*/\1/p')
ceph_v=$(radosgw --version 2>/dev/null | awk '{print $3}')
bench_json bench=mount_s3_setup server="Ceph RGW $ceph_v" endpoint="$ep" rclone="$rclone_v" \
	s3fs="$s3fs_v" size="$size" loadavg="$loadavg" >>"$results"

tools=(local t9kfs rclone s3fs)
for run in $(seq "$BENCH_RUNS"); do
	# a different tool goes first each run
	for k in 0 1 2 3; do
		tool=${tools[$(((k + run - 1) % 4))]}
		if [ "$tool" = local ]; then
			path=$work/local/$file
		else
			mount_fresh "$tool"
			path=${mnt[$tool]}/$file
		fi
		dir=$(dirname "$path")/small
		# metadata first, on the fresh mount: nothing of the tree is known yet
		bench_drop_caches
		ls_s=$(ls_seconds "$dir")
		bench_drop_caches
		cold=$(read_mbps "$path")
		warm=$(read_mbps "$path")
		bench_drop_caches
		small_cold=$(loader_files_per_s "$dir")
		small_warm=$(loader_files_per_s "$dir")
		if [ "$run" = 1 ] && [ "$tool" != local ]; then # the same bytes, untimed
			cmp "$path" "$work/local/$file" || bench_die "$tool: $file differs from the local copy"
		fi
		bench_json bench=mount_s3 workload=seq_read_cold tool="$tool" run="$run" value="$cold" \
			unit=MB/s >>"$results"
		bench_json bench=mount_s3 workload=seq_read_warm tool="$tool" run="$run" value="$warm" \
			unit=MB/s >>"$results"
		bench_json bench=mount_s3 workload=ls_lR tool="$tool" run="$run" value="$ls_s" \
			unit=s >>"$results"
		bench_json bench=mount_s3 workload=small_read_cold tool="$tool" run="$run" \
			value="$small_cold" unit=files/s >>"$results"
		bench_json bench=mount_s3 workload=small_read_warm tool="$tool" run="$run" \
			value="$small_warm" unit=files/s >>"$results"
		bench_log "mount-s3: run $run $tool: cold $cold MB/s, warm $warm MB/s; ls -lR ${ls_s}s; small files $small_cold/s cold, $small_warm/s warm"
		[ "$tool" != t9kfs ] || "$T9KFS" umount "${mnt[t9kfs]}" >/dev/null
		[ "$tool" = local ] || [ "$tool" = t9kfs ] || peer_umount "$tool"
	done
done

median_of() { # WORKLOAD TOOL
	grep "\"workload\":\"$1\",\"tool\":\"$2\"" "$results" | bench_json_get value | bench_median
}
for w in cold warm; do
	l=$(median_of "seq_read_$w" local) t=$(median_of "seq_read_$w" t9kfs)
	r=$(median_of "seq_read_$w" rclone) s=$(median_of "seq_read_$w" s3fs)
	bench_json bench=mount_s3_summary workload="seq_read_$w" runs="$BENCH_RUNS" local_mb_s="$l" \
		t9kfs_mb_s="$t" rclone_mb_s="$r" s3fs_mb_s="$s" t9kfs_vs_local="$(bench_div "$t" "$l")" \
		rclone_vs_local="$(bench_div "$r" "$l")" s3fs_vs_local="$(bench_div "$s" "$l")" \
		vs_rclone="$(bench_div "$t" "$r")" vs_s3fs="$(bench_div "$t" "$s")" >>"$results"
	if [ $w = cold ]; then
		what="caches dropped, fresh mounts, rclone's VFS cache emptied"
	else
		what="read again at once"
	fi
	bench_summary "$results" "mount over S3: seq read $label, $w" MB/s higher "t9kfs:t9kfs=$t" \
		"limit:local disk=$l" "peer:rclone mount=$r" "peer:s3fs=$s"
	echo "| mount over S3: seq read $label, $w ($what) | $t MB/s ($(bench_div "$t" "$l")x local) | local disk: $l MB/s; rclone mount --vfs-cache-mode full: $r MB/s ($(bench_div "$r" "$l")x); s3fs: $s MB/s ($(bench_div "$s" "$l")x) | $(bench_div "$t" "$r")x rclone, $(bench_div "$t" "$s")x s3fs |"
done
for w in cold warm; do
	l=$(median_of "small_read_$w" local) t=$(median_of "small_read_$w" t9kfs)
	r=$(median_of "small_read_$w" rclone) s=$(median_of "small_read_$w" s3fs)
	bench_summary "$results" "mount over S3: $nsmall x 100 KiB, 8 readers, $w" files/s higher \
		"t9kfs:t9kfs=$t" "limit:local disk=$l" "peer:rclone mount=$r" "peer:s3fs=$s"
	echo "| mount over S3: read $nsmall files of 100 KiB, 8 threads, shuffled, $w | $t files/s ($(bench_div "$t" "$l")x local) | local disk: $l files/s; rclone mount: $r files/s; s3fs: $s files/s | $(bench_div "$t" "$r")x rclone, $(bench_div "$t" "$s")x s3fs |"
done
l=$(median_of ls_lR local) t=$(median_of ls_lR t9kfs) r=$(median_of ls_lR rclone) s=$(median_of ls_lR s3fs)
bench_summary "$results" "mount over S3: ls -lR of $nsmall files, fresh mount" s lower \
	"t9kfs:t9kfs=$t" "limit:local disk=$l" "peer:rclone mount=$r" "peer:s3fs=$s"
echo "| mount over S3: ls -lR of $nsmall files, fresh mount, caches dropped | $t s | local disk: $l s; rclone mount: $r s; s3fs: $s s | $(bench_div "$r" "$t")x rclone, $(bench_div "$s" "$t")x s3fs (time) |"
{
	echo "mount-s3: t9kfs (a commit on s3://), rclone $rclone_v mount --vfs-cache-mode full and s3fs $s3fs_v read the same $label from one Ceph $ceph_v RGW (memstore OSD) on loopback that shares the $(nproc) CPUs; local copy and rclone's cache on $(df --output=source "$work" | tail -n 1); ratios are speed / local disk speed; load average at start: $loadavg"
	echo "mount-s3 results: ${results#"$BENCH_ROOT"/}"
} >>"$BENCH_NOTES"
[ "$own_tmp" = 0 ] || sed 's/^/bench: note: /' "$BENCH_NOTES" >&2
