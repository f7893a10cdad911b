#!/usr/bin/env bash
# Cache workload (issue 7): warm sequential reads of a 1 GiB file (quick:
# 256 MiB) through a fresh mount whose chunks a cache daemon already holds,
# against reading the same bytes from the local disk:
#   - local daemon over its unix socket, chunks read through passed file
#     descriptors (the default), and with -o cache_data (bytes over the
#     socket);
#   - a peer over TCP loopback (the mount reads the group of one member
#     directly: every chunk crosses TCP);
# and warm-up throughput (t9kfs warmup into an empty daemon) from the
# file:// store and, with BENCH_CACHE_S3=1 (the default when Ceph is
# installed), from an s3:// store on a one-node Ceph RGW on loopback
# (test/integration/ceph.sh, as in bench/s3.sh). Page caches are dropped
# before every timed read, so the daemon's files come from the disk as the
# local copy does; the store, cache directories and the local copy share
# one disk (BENCH_DISK, default /var/tmp). Kinds alternate within each
# run; median of BENCH_RUNS. Needs root (drop_caches, /dev/fuse).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=test/integration/ceph.sh
. "$BENCH_ROOT/test/integration/ceph.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
[ "$(id -u)" = 0 ] || bench_die "cache.sh needs root (drop_caches, /dev/fuse)"
if [ "$BENCH_SCALE" = full ]; then
	size=$((1 << 30)) label="1 GiB"
else
	size=$((256 << 20)) label="256 MiB"
fi
runs=$BENCH_RUNS
results=$(bench_results_file cache)
bench_machine_json >>"$results"
work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-cache.XXXX")
export T9KFS_HOME=$work/home
mnt=$work/mnt
pids=()

cleanup() {
	"$T9KFS" umount -l "$mnt" >/dev/null 2>&1 || true
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	done
	"$T9KFS" server stop >/dev/null 2>&1 || true
	ceph_stop
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

record() { # workload kind run value unit
	bench_json bench=cache workload="$1" kind="$2" run="$3" value="$4" unit="$5" >>"$results"
}

median_of() { # workload kind
	grep "\"workload\":\"$1\",\"kind\":\"$2\"" "$results" | bench_json_get value | bench_median
}

# start_daemon DIR ARGS...: a cache daemon, ready when its stats answer.
start_daemon() {
	local dir=$1 i
	shift
	"$T9KFS" cache serve --dir "$dir" "$@" >>"$work/daemons.log" 2>&1 &
	pids+=($!)
	for i in $(seq 100); do
		"$T9KFS" cache stats --cache "$dir/cache.sock" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	bench_die "cache daemon in $dir did not start: $(tail -n 3 "$work/daemons.log")"
}

stop_last_daemon() {
	local p=${pids[-1]}
	kill "$p"
	while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	unset 'pids[-1]'
}

# timed_read KIND MOUNT-ARGS...: fresh mount, caches dropped, dd of the file.
timed_read() {
	local kind=$1 i=$2 s
	shift 2
	"$T9KFS" umount "$mnt" >/dev/null 2>&1 || true
	"$T9KFS" mount "$@" bench@v1 "$mnt" >/dev/null
	bench_drop_caches
	s=$(bench_secs dd if="$mnt/big.bin" of=/dev/null bs=1M)
	record warm_read "$kind" "$i" "$(bench_mbps "$size" "$s")" MB/s
	"$T9KFS" umount "$mnt" >/dev/null
}

read -r port <<<"$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
bench_log "cache: writing $label to $work"
mkdir -p "$work/data" "$mnt"
head -c "$size" /dev/urandom >"$work/data/big.bin"
"$T9KFS" repo create bench >/dev/null
"$T9KFS" import "$work/data" bench@main -m data >/dev/null
"$T9KFS" tag create bench@v1 >/dev/null
cap=$((size * 2))
start_daemon "$work/local" --capacity "$cap"
start_daemon "$work/peer" --capacity "$cap" --listen "127.0.0.1:$port"
"$T9KFS" warmup bench@v1 --cache "$work/local/cache.sock" >/dev/null
"$T9KFS" warmup bench@v1 --group "127.0.0.1:$port" >/dev/null
fetches() { # daemon dir: its store reads so far
	"$T9KFS" cache stats --cache "$1/cache.sock" | awk '$1 == "store_fetches" { print $2 }'
}
f_local=$(fetches "$work/local") f_peer=$(fetches "$work/peer")

for i in $(seq "$runs"); do
	bench_log "cache: run $i/$runs"
	bench_drop_caches
	s=$(bench_secs dd if="$work/data/big.bin" of=/dev/null bs=1M)
	record warm_read local "$i" "$(bench_mbps "$size" "$s")" MB/s
	timed_read daemon_fd "$i" --cache "$work/local/cache.sock"
	timed_read daemon_data "$i" --cache "$work/local/cache.sock" -o cache_data
	timed_read peer_tcp "$i" --cache-group "127.0.0.1:$port"
	# warm-up into an empty daemon, from the file:// store
	rm -rf "$work/cold"
	start_daemon "$work/cold" --capacity "$cap"
	bench_drop_caches
	out=$("$T9KFS" warmup bench@v1 --cache "$work/cold/cache.sock")
	record warmup file "$i" "$(echo "$out" | sed -n 's/.*(\([0-9]*\) MB\/s).*/\1/p')" MB/s
	stop_last_daemon
done
# warm-up from s3://: the same file in a repo on a local Ceph RGW
s3=${BENCH_CACHE_S3:-}
if [ -z "$s3" ]; then
	s3=1
	[ -z "$(ceph_missing)" ] || s3=0
fi
s3_note="cache: S3 warm-up skipped (BENCH_CACHE_S3=0 or Ceph not installed)"
if [ "$s3" = 1 ]; then
	bench_s3_env
	"$T9KFS" server stop >/dev/null # the embedded server restarts with these credentials
	CEPH_MEMSTORE_BYTES=$((size + (2 << 30)))
	if ceph_start "$work/ceph"; then
		bench_log "cache: Ceph RGW at $CEPH_ENDPOINT, up in ${CEPH_START_SECONDS}s"
		curl -sf --max-time 30 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
			-u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
			-H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
			-X PUT "$CEPH_ENDPOINT/cachebench" >/dev/null || bench_die "cannot create the bucket"
		"$T9KFS" repo create bench3 --store "s3://cachebench/t9kfs?endpoint=$CEPH_ENDPOINT" >/dev/null
		"$T9KFS" import "$work/data" bench3@main -m data >/dev/null
		for i in $(seq "$runs"); do
			rm -rf "$work/cold3"
			start_daemon "$work/cold3" --capacity "$cap"
			out=$("$T9KFS" warmup bench3@main --cache "$work/cold3/cache.sock")
			record warmup s3 "$i" "$(echo "$out" | sed -n 's/.*(\([0-9]*\) MB\/s).*/\1/p')" MB/s
			stop_last_daemon
		done
		ceph_stop
		s3_note="cache: S3 warm-up from a one-node Ceph RGW (memstore OSD) on 127.0.0.1 (warmup -j 8)"
	else
		s3_note="cache: S3 warm-up skipped: the Ceph RGW did not start ($CEPH_ERROR)"
		ceph_stop
	fi
fi

# every warm read was served by the daemons, not the store
[ "$(fetches "$work/local")" = "$f_local" ] && [ "$(fetches "$work/peer")" = "$f_peer" ] ||
	bench_die "a daemon read the store during the warm reads"

local_r=$(median_of warm_read local)
fd_r=$(median_of warm_read daemon_fd)
data_r=$(median_of warm_read daemon_data)
peer_r=$(median_of warm_read peer_tcp)
warm_r=$(median_of warmup file)
bench_summary "$results" "cache: warm read $label via the local daemon" MB/s higher \
	"t9kfs:t9kfs mount + daemon (fd passing)=$fd_r" "limit:local disk=$local_r"
bench_summary "$results" "cache: warm read $label from a peer over TCP" MB/s higher \
	"t9kfs:t9kfs peer over TCP loopback=$peer_r" "limit:local daemon (same run)=$fd_r" \
	"limit:local disk=$local_r"
echo "| cache: warm read $label via local daemon (fd passing), caches dropped | $fd_r MB/s | local disk: $local_r MB/s | $(bench_div "$fd_r" "$local_r") |"
echo "| cache: warm read $label via local daemon (bytes over the socket) | $data_r MB/s | local disk: $local_r MB/s | $(bench_div "$data_r" "$local_r") |"
echo "| cache: warm read $label from a peer over TCP loopback | $peer_r MB/s | local disk: $local_r MB/s | $(bench_div "$peer_r" "$local_r") |"
echo "| cache: warmup $label from a file:// store into an empty daemon | $warm_r MB/s | local disk: $local_r MB/s | $(bench_div "$warm_r" "$local_r") |"
if grep -q '"kind":"s3"' "$results"; then
	s3_r=$(median_of warmup s3)
	echo "| cache: warmup $label from s3:// (local Ceph RGW) into an empty daemon | $s3_r MB/s | local disk: $local_r MB/s | $(bench_div "$s3_r" "$local_r") |"
fi
{
	echo "cache: daemons, store and local copy on $(df --output=source "$work" | tail -n 1) (${BENCH_DISK:-/var/tmp}); page caches dropped before each timed read; ratios are t9kfs/local disk"
	echo "cache: the peer is a daemon on 127.0.0.1 read by the mount as a group of one (--cache-group), so every chunk crosses TCP"
	echo "$s3_note"
	echo "cache results: ${results#"$BENCH_ROOT"/}"
} >>"$BENCH_NOTES"
