#!/usr/bin/env bash
# Data-loader workload (issue 17): one PyTorch training epoch's reading,
# torchvision's ImageFolder over generated PNGs (3,000 of 64x64 pixels in
# 10 classes; full scale 10,000) through a DataLoader of 4 worker
# processes, batches of 32, shuffled (bench/loader.py), from:
#   - local: the directory on the local disk;
#   - mount: a commit mount of the same files on a file:// store;
#   - daemon: the same commit mounted through the node's cache daemon
#     (--cache, descriptors passed);
#   - s3group: the same files in a repository on s3:// (a one-node Ceph
#     RGW on loopback, test/integration/ceph.sh), mounted through a cache
#     group of one daemon on TCP (--cache-group); skipped with
#     BENCH_LOADER_S3=0 or without Ceph.
# Each side runs two epochs in one process: cold (page cache dropped, a
# fresh mount and, for the daemon sides, a fresh daemon with an empty
# cache, so every chunk comes from the store) and warm (at once again:
# the page cache, keep_cache). Sides alternate, a different one first each
# run; median of BENCH_RUNS; ratios are images/s over the local
# directory's in the same runs. The store, the daemons' directories and
# the local copy share one disk (BENCH_DISK, default /var/tmp). Needs root
# (drop_caches, /dev/fuse) and Debian's python3-torch, python3-torchvision.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=test/integration/ceph.sh
. "$BENCH_ROOT/test/integration/ceph.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
[ "$(id -u)" = 0 ] || bench_die "loader.sh needs root (drop_caches, /dev/fuse)"
PY=/usr/bin/python3
"$PY" -c 'import torch, torchvision, PIL' 2>/dev/null ||
	bench_die "python3-torch and python3-torchvision are not installed (scripts/install-deps.sh)"
if [ "$BENCH_SCALE" = full ]; then
	per_class=1000
else
	per_class=300
fi
classes=10 px=64 workers=4 batch=32
nimages=$((classes * per_class))
runs=$BENCH_RUNS
results=$(bench_results_file loader)
bench_machine_json >>"$results"
work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-loader.XXXX")
export T9KFS_HOME=$work/home
unset T9KFS_CACHE T9KFS_CACHE_GROUP
mnt=$work/mnt
reader=$BENCH_DIR/loader.py
daemon_pid=""

stop_daemon() {
	[ -n "$daemon_pid" ] || return 0
	kill "$daemon_pid" 2>/dev/null || true
	while kill -0 "$daemon_pid" 2>/dev/null; do sleep 0.05; done
	daemon_pid=""
}

cleanup() {
	set +e
	"$T9KFS" umount -l "$mnt" >/dev/null 2>&1
	stop_daemon
	"$T9KFS" server stop >/dev/null 2>&1
	ceph_stop
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# fresh_daemon [--listen ADDR]: a cache daemon with an empty cache.
fresh_daemon() {
	local _
	stop_daemon
	rm -rf "$work/cd"
	"$T9KFS" cache serve --dir "$work/cd" --capacity 4G "$@" >>"$work/daemon.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		"$T9KFS" cache stats --cache "$work/cd/cache.sock" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	bench_die "the cache daemon did not start: $(tail -n 3 "$work/daemon.log")"
}

record() { # kind run pass value
	bench_json bench=loader workload=epoch kind="$1" run="$2" pass="$3" value="$4" \
		unit=images/s >>"$results"
}

median_of() { # kind pass
	grep "\"workload\":\"epoch\",\"kind\":\"$1\",\"run\":[0-9]*,\"pass\":\"$2\"" "$results" |
		bench_json_get value | bench_median
}

value_of() { # kind run pass
	grep "\"workload\":\"epoch\",\"kind\":\"$1\",\"run\":$2,\"pass\":\"$3\"" "$results" |
		bench_json_get value
}

# The median over runs of side $1's ratio to the local directory in the
# same run (pass $2): on a shared machine a run's sides see the same load.
ratio_median() { # kind pass
	local r
	for r in $(seq "$runs"); do
		bench_div "$(value_of "$1" "$r" "$2")" "$(value_of local "$r" "$2")" 3
	done | bench_median
}

bench_log "loader: writing $nimages PNGs of ${px}x$px to $work"
mkdir -p "$work/data" "$mnt"
"$PY" "$reader" gen "$work/data/imgs" "$classes" "$per_class" "$px"
"$T9KFS" repo create bench >/dev/null
"$T9KFS" import "$work/data" bench@main -m data >/dev/null
"$T9KFS" tag create bench@v1 >/dev/null
sides=(local mount daemon)

s3=${BENCH_LOADER_S3:-}
if [ -z "$s3" ]; then
	s3=1
	[ -z "$(ceph_missing)" ] || s3=0
fi
s3_note="loader: the S3 side skipped (BENCH_LOADER_S3=0 or Ceph not installed)"
if [ "$s3" = 1 ]; then
	bench_s3_env
	"$T9KFS" server stop >/dev/null # the embedded server restarts with these credentials
	CEPH_MEMSTORE_BYTES=$((1 << 30))
	if ceph_start "$work/ceph"; then
		bench_log "loader: Ceph RGW at $CEPH_ENDPOINT, up in ${CEPH_START_SECONDS}s"
		_ceph_wait 100 curl -sf --max-time 30 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
			-u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
			-H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
			-X PUT "$CEPH_ENDPOINT/loaderbench" >/dev/null || bench_die "cannot create the bucket"
		"$T9KFS" repo create bench3 --store "s3://loaderbench/t9kfs?endpoint=$CEPH_ENDPOINT" >/dev/null
		"$T9KFS" import "$work/data" bench3@main -m data >/dev/null
		"$T9KFS" tag create bench3@v1 >/dev/null
		read -r port <<<"$(free_ports 1)"
		sides+=(s3group)
		s3_note="loader: s3group reads a repository on a one-node Ceph $(radosgw --version 2>/dev/null | awk '{print $3}') RGW (memstore OSD) on 127.0.0.1 through a cache group of one daemon on TCP 127.0.0.1:$port; RGW shares the CPUs"
	else
		s3_note="loader: the S3 side skipped: the Ceph RGW did not start ($CEPH_ERROR)"
		ceph_stop
	fi
fi

nsides=${#sides[@]}
for run in $(seq "$runs"); do
	for k in $(seq 0 $((nsides - 1))); do
		side=${sides[$(((k + run - 1) % nsides))]}
		dir=$mnt/imgs
		"$T9KFS" umount "$mnt" >/dev/null 2>&1 || true
		case $side in
		local) dir=$work/data/imgs ;;
		mount) "$T9KFS" mount bench@v1 "$mnt" >/dev/null ;;
		daemon)
			fresh_daemon
			"$T9KFS" mount --cache "unix:$work/cd/cache.sock" bench@v1 "$mnt" >/dev/null
			;;
		s3group)
			fresh_daemon --listen "127.0.0.1:$port"
			"$T9KFS" mount --cache-group "127.0.0.1:$port" bench3@v1 "$mnt" >/dev/null
			;;
		esac
		bench_drop_caches
		out=$("$PY" -W ignore "$reader" epoch "$dir" "$workers" "$batch") ||
			bench_die "loader.py epoch $dir failed"
		read -r n cold warm <<<"$("$PY" -c 'import json, sys
o = json.loads(sys.argv[1])
print(o["images"], o["cold"], o["warm"])' "$out")"
		[ "$n" = "$nimages" ] || bench_die "$side: the epoch saw $n images, not $nimages"
		cold=$(awk -v n="$n" -v s="$cold" 'BEGIN { printf "%.0f\n", n / s }')
		warm=$(awk -v n="$n" -v s="$warm" 'BEGIN { printf "%.0f\n", n / s }')
		record "$side" "$run" cold "$cold"
		record "$side" "$run" warm "$warm"
		bench_log "loader: run $run $side: $cold images/s cold, $warm warm"
		"$T9KFS" umount "$mnt" >/dev/null 2>&1 || true
		stop_daemon
	done
done
ceph_stop

declare -A title=([mount]="commit mount, file:// store" [daemon]="through the local cache daemon"
	[s3group]="s3:// through a cache group")
for pass in cold warm; do
	l=$(median_of local "$pass")
	for side in "${sides[@]}"; do
		[ "$side" != local ] || continue
		t=$(median_of "$side" "$pass")
		bench_summary "$results" "loader: ImageFolder epoch, $nimages PNGs, $pass, ${title[$side]}" \
			images/s higher "t9kfs:t9kfs=$t" "limit:local disk=$l"
		echo "| loader: PyTorch ImageFolder epoch, $nimages PNGs ${px}x$px, $workers workers, $pass, ${title[$side]} | $t images/s | local disk: $l images/s | $(bench_div "$t" "$l") (median of the runs' own ratios: $(ratio_median "$side" "$pass" | awk '{ printf "%.2f", $1 }')) |"
	done
done
{
	echo "loader: torch $("$PY" -c 'import torch; print(torch.__version__)'), torchvision $("$PY" -c 'import torchvision; print(torchvision.__version__)'); $nimages PNGs (${px}x$px, $(du -sh "$work/data/imgs" | cut -f1)) in $classes classes, $workers workers, batch $batch, shuffled; cold = caches dropped, fresh mount, fresh daemon; warm = a second epoch in the same process; ratios are images/s over the local directory's"
	echo "$s3_note"
	echo "loader results: ${results#"$BENCH_ROOT"/}"
} >>"$BENCH_NOTES"
