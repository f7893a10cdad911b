#!/usr/bin/env bash
# S3 workload: upload (t9kfs import -m) and download (t9kfs export) through
# the s3:// store of one 1 GiB file of random bytes (quick: 256 MiB) and of
# 1,000 files of 1 MiB (quick: 200), beside `rclone copy` and s3fs (`cp -r`
# into and out of an s3fs mount) on the same data and the same server: a
# one-node Ceph RGW (memstore OSD) on loopback, started here with
# test/integration/ceph.sh. Each tool and run gets a fresh bucket, removed
# after it; median of BENCH_RUNS runs alternating the tools. Downloads read
# from the RGW (objects in RAM): t9kfs and rclone over HTTP, s3fs through a
# fresh mount, so that no page cache of the upload serves them. Also the
# CPU seconds of the client, of the t9kfs server or s3fs daemon, of radosgw
# and of the OSD, and radosgw's request counts, to show where the time
# goes. Stops everything it started, also on failure or a signal. Peers run
# with their default settings, and so does t9kfs (on s3:// that means packs
# of 16 MiB for the large file). Needs root (s3fs; Ceph is installed when
# missing).
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
bench_need rclone s3fs fusermount3 curl
if [ "$BENCH_SCALE" = full ]; then
	big=$((1 << 30)) biglabel="1 GiB" nfiles=1000
else
	big=$((256 << 20)) biglabel="256 MiB" nfiles=200
fi
fsize=$((1 << 20))

bench_s3_env

work=$BENCH_TMP/s3-work
mnt=$BENCH_TMP/s3-mnt
s3fs_pid="" t9kfs_home="" op_pid=""

s3fs_umount() {
	[ -n "$s3fs_pid" ] || return 0
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	kill "$s3fs_pid" 2>/dev/null || true
	wait "$s3fs_pid" 2>/dev/null || true
	s3fs_pid=""
}

t9kfs_stop() {
	[ -n "$t9kfs_home" ] || return 0
	T9KFS_HOME=$t9kfs_home "$T9KFS" server stop >/dev/null 2>&1 || true
	t9kfs_home=""
}

cleanup() {
	set +e
	if [ -n "$op_pid" ]; then
		kill -KILL -- "-$op_pid" 2>/dev/null
		wait "$op_pid" 2>/dev/null
	fi
	s3fs_umount
	t9kfs_stop
	ceph_stop
	[ "$own_tmp" = 0 ] || rm -rf --one-file-system "$BENCH_TMP"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

missing=$(ceph_missing)
if [ -n "$missing" ]; then
	bench_log "s3: installing Ceph (missing: $missing)"
	ceph_install "$BENCH_TMP/apt.log" || bench_die "cannot install Ceph: $CEPH_ERROR"
fi

# Every tool and run writes at most one data set, removed after it.
CEPH_MEMSTORE_BYTES=$((big + (4 << 30)))
if ! ceph_start "$BENCH_TMP/ceph"; then
	tail -n 5 "$BENCH_TMP"/ceph/log/*.log >&2 || true
	bench_die "the Ceph RGW did not start: $CEPH_ERROR"
fi
ep=$CEPH_ENDPOINT
bench_log "s3: Ceph RGW at $ep, up in ${CEPH_START_SECONDS}s"

s3_req() { # METHOD PATH: a signed request
	curl -sf --max-time 30 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		-u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
		-X "$1" "$ep$2" >/dev/null
}

bucket_rm() { # BUCKET: every object too, at once (the gc threads are off)
	timeout 120 radosgw-admin -c "$CEPH_CONF" bucket rm --bucket="$1" --purge-objects \
		--bypass-gc >>"$BENCH_TMP/ceph/log/setup.log" 2>&1 </dev/null ||
		bench_die "cannot remove bucket $1"
}

# rclone's remote "rgw:", configured by the environment alone. rclone 1.60
# fails with LoadCustomCABundleError when AWS_CA_BUNDLE is set.
export RCLONE_CONFIG=$BENCH_TMP/rclone.conf
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph
export RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_RGW_ENDPOINT=$ep RCLONE_CONFIG_RGW_REGION=$AWS_REGION

echo "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$BENCH_TMP/s3fs.passwd"
chmod 600 "$BENCH_TMP/s3fs.passwd"
mkdir -p "$mnt" "$BENCH_TMP/s3fs-tmp"
s3fs_mount() { # BUCKET
	s3fs "$1" "$mnt" -f -o "passwd_file=$BENCH_TMP/s3fs.passwd,url=$ep" \
		-o "use_path_request_style,endpoint=$AWS_REGION,tmpdir=$BENCH_TMP/s3fs-tmp" \
		</dev/null >>"$BENCH_TMP/s3fs.log" 2>&1 &
	s3fs_pid=$!
	_ceph_wait 200 mountpoint -q "$mnt" || {
		tail -n 5 "$BENCH_TMP/s3fs.log" >&2
		bench_die "s3fs did not mount bucket $1"
	}
}

# Prints radosgw's request counters "REQUESTS PUTS GETS" so far, from its
# admin socket (the protocol: a JSON command and a NUL; a 4-byte length and
# JSON back).
rgw_reqs() {
	/usr/bin/python3 - "$CEPH_DIR/run/client.rgw.gw.asok" <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"prefix": "perf dump"}\0')
def read(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit("rgw admin socket: short answer")
        b += c
    return b
d = json.loads(read(struct.unpack(">I", read(4))[0]))["rgw"]
print(d["req"], d["put"], d["get"])
EOF
}

tck=$(getconf CLK_TCK)
ticks() { # PID...: user+system CPU ticks of the processes so far
	local p t=0 v
	for p in "$@"; do
		v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# op TOOL DIR DAEMON_PID CMD...: runs CMD and appends one JSON line for it,
# with the wall time, the CPU seconds of CMD (client), of DAEMON_PID (the
# t9kfs server or s3fs; none: "") and of radosgw and the OSD.
op() {
	local tool=$1 dir=$2 dpid=$3 t0 t1 d0 d1 r0 r1 o0 o1 secs q0 p0 g0 q1 p1 g1
	shift 3
	read -r q0 p0 g0 < <(rgw_reqs) || bench_die "cannot read radosgw's counters"
	# shellcheck disable=SC2086 # no daemon: no PID
	d0=$(ticks $dpid) r0=$(ticks "$CEPH_RGW_PID") o0=$(ticks "$CEPH_OSD_PID")
	t0=$(date +%s%N)
	# In a session of its own, so that cleanup can kill all of it; waited
	# for with `wait`, so that a signal stops the bench at once.
	setsid /usr/bin/time -f "%U %S" -o "$BENCH_TMP/time" "$@" >/dev/null 2>"$BENCH_TMP/err" &
	op_pid=$!
	wait "$op_pid" || { cat "$BENCH_TMP/err" >&2; bench_die "failed: $*"; }
	op_pid=""
	t1=$(date +%s%N)
	# shellcheck disable=SC2086
	d1=$(ticks $dpid) r1=$(ticks "$CEPH_RGW_PID") o1=$(ticks "$CEPH_OSD_PID")
	read -r q1 p1 g1 < <(rgw_reqs) || bench_die "cannot read radosgw's counters"
	secs=$(bench_div "$((t1 - t0))" 1000000000 3)
	read -r cu cs <"$BENCH_TMP/time"
	bench_json bench=s3 data="$label" dir="$dir" tool="$tool" run="$run" bytes="$bytes" \
		files="$files" seconds="$secs" mb_per_s="$(bench_div "$bytes" "$(((t1 - t0) / 1000))" 1)" \
		requests="$((q1 - q0))" puts="$((p1 - p0))" gets="$((g1 - g0))" \
		client_cpu_s="$(awk -v u="$cu" -v s="$cs" 'BEGIN {printf "%.2f", u + s}')" \
		daemon_cpu_s="$(bench_div "$((d1 - d0))" "$tck")" \
		rgw_cpu_s="$(bench_div "$((r1 - r0))" "$tck")" \
		osd_cpu_s="$(bench_div "$((o1 - o0))" "$tck")" >>"$results"
	bench_log "s3: $label $dir $tool run $run: ${secs}s"
}

same() { # SRC COPY: the download must be the data
	diff -r "$1" "$2" >/dev/null || bench_die "$tool: the download differs from $1"
}

run_t9kfs() { # SRC BUCKET
	local pid
	export T9KFS_HOME=$work/home
	t9kfs_home=$T9KFS_HOME
	"$T9KFS" server start >/dev/null
	pid=$(cat "$T9KFS_HOME/server.pid")
	"$T9KFS" repo create bench --store "s3://$2/t9kfs?endpoint=$ep" >/dev/null
	op t9kfs upload "$pid" "$T9KFS" import "$1" bench@main -m "bench import"
	op t9kfs download "$pid" "$T9KFS" export bench@main "$work/out"
	same "$1" "$work/out"
	t9kfs_stop
	unset T9KFS_HOME
}

run_rclone() { # SRC BUCKET
	op rclone upload "" env -u AWS_CA_BUNDLE rclone copy "$1" "rgw:$2/rclone"
	op rclone download "" env -u AWS_CA_BUNDLE rclone copy "rgw:$2/rclone" "$work/out"
	same "$1" "$work/out"
}

run_s3fs() { # SRC BUCKET
	s3fs_mount "$2"
	# shellcheck disable=SC2016 # expanded by that sh
	op s3fs upload "$s3fs_pid" sh -c 'cp -r "$1" "$2" && sync -f "$2"' sh "$1" "$mnt/s3fs"
	# A fresh mount: nothing of the data in s3fs or in the page cache.
	s3fs_umount
	s3fs_mount "$2"
	op s3fs download "$s3fs_pid" cp -r "$mnt/s3fs" "$work/out"
	s3fs_umount
	same "$1" "$work/out"
}

median_of() { # DIR TOOL FIELD
	grep "\"data\":\"$label\",\"dir\":\"$1\",\"tool\":\"$2\"" "$results" |
		bench_json_get "$3" | bench_median
}

mbs() { # SECONDS: MB/s of $bytes
	bench_div "$bytes" "$1" 0 | awk '{printf "%.0f", $1 / 1e6}'
}

measure() { # LABEL SRC BYTES FILES SHOWN
	label=$1 bytes=$3 files=$4
	local src=$2 shown=$5 tool dir b t r s
	for run in $(seq "$BENCH_RUNS"); do
		for tool in t9kfs rclone s3fs; do
			rm -rf "$work"
			mkdir -p "$work"
			b=bench-$tool-$run-$RANDOM
			_ceph_wait 100 s3_req PUT "/$b" || bench_die "cannot create bucket $b"
			"run_$tool" "$src" "$b"
			bucket_rm "$b"
		done
	done
	rm -rf "$work"
	for dir in upload download; do
		t=$(median_of $dir t9kfs seconds)
		r=$(median_of $dir rclone seconds)
		s=$(median_of $dir s3fs seconds)
		bench_json bench=s3_summary data="$label" dir="$dir" runs="$BENCH_RUNS" \
			t9kfs_mb_s="$(mbs "$t")" rclone_mb_s="$(mbs "$r")" s3fs_mb_s="$(mbs "$s")" \
			vs_rclone="$(bench_div "$r" "$t")" vs_s3fs="$(bench_div "$s" "$t")" >>"$results"
		bench_summary "$results" "S3 $dir ($([ $dir = upload ] && echo import || echo export)), $shown" \
			MB/s higher "t9kfs:t9kfs=$(mbs "$t")" "peer:rclone copy=$(mbs "$r")" \
			"peer:s3fs cp=$(mbs "$s")"
		echo "| s3 $dir ($([ $dir = upload ] && echo import || echo export)), $shown | $(mbs "$t") MB/s | rclone copy: $(mbs "$r") MB/s; s3fs cp: $(mbs "$s") MB/s | $(bench_div "$r" "$t")x rclone (target 1.5x), $(bench_div "$s" "$t")x s3fs (target 2x) |"
		local line=""
		for tool in t9kfs rclone s3fs; do
			line+="; $tool: client $(median_of $dir $tool client_cpu_s)"
			case $tool in
			t9kfs) line+=" + server $(median_of $dir $tool daemon_cpu_s)" ;;
			s3fs) line+=" + s3fs $(median_of $dir $tool daemon_cpu_s)" ;;
			esac
			line+=", radosgw $(median_of $dir $tool rgw_cpu_s), OSD $(median_of $dir $tool osd_cpu_s)"
			line+=" in $(median_of $dir $tool seconds) s wall, $(median_of $dir $tool requests) requests"
			line+=" ($(median_of $dir $tool puts) PUT, $(median_of $dir $tool gets) GET)"
		done
		echo "s3 $dir $shown, CPU seconds (medians)${line#;}" >>"$BENCH_NOTES"
	done
}

results=$(bench_results_file s3)
bench_machine_json >>"$results"
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
ceph_v=$(radosgw --version 2>/dev/null | awk '{print $3}')
rclone_v=$(rclone version 2>/dev/null | awk 'NR == 1 {print $2}')
s3fs_v=$(s3fs --version 2>/dev/null | sed -n '1s/.*V\([0-9.]*\).*/\1/p')
bench_json bench=s3_server server="Ceph RGW $ceph_v" osd=memstore endpoint="$ep" \
	rclone="$rclone_v" s3fs="$s3fs_v" loadavg="$loadavg" >>"$results"
data=$BENCH_TMP/s3-data

bench_log "s3: generating one $biglabel file"
mkdir -p "$data/big"
/usr/bin/python3 "$BENCH_DIR/gen_files.py" big "$data/big/file.bin" "$big"
measure "one $biglabel file" "$data/big" "$big" 1 "one $biglabel file"
rm -rf "$data/big"

bench_log "s3: generating $nfiles files of 1 MiB"
/usr/bin/python3 "$BENCH_DIR/gen_files.py" fixed "$data/many" "$nfiles" "$fsize"
measure "$nfiles files of 1 MiB" "$data/many" "$((nfiles * fsize))" "$nfiles" \
	"$(echo "$nfiles" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') files of 1 MiB"
rm -rf "$data"

echo "s3: Ceph $ceph_v RGW (beast, one memstore OSD) on loopback, sharing the $(nproc) CPUs with the clients; rclone $rclone_v and s3fs $s3fs_v at their defaults (s3fs tmpdir on tmpfs); load average at start: $loadavg" >>"$BENCH_NOTES"
echo "s3 results: ${results#"$BENCH_ROOT"/}" >>"$BENCH_NOTES"
# Alone, nobody else prints the notes.
[ "$own_tmp" = 0 ] || sed 's/^/bench: note: /' "$BENCH_NOTES" >&2
