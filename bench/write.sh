#!/usr/bin/env bash
# Small writes with fsync through a branch mount against the local disk
# (issue 23: what an fsync or close costs should be what changed):
#   - append one line and fsync, 200 times, on one open file of 100 MiB
#     (full scale: also 1 GiB), as a job's log or metrics file;
#   - random 4 KiB writes, each followed by an fsync, on one open file:
#     200 on 64 MiB (full scale: also 1,000 on 256 MiB), as an index or a
#     database.
# Each reports ms per write+fsync on both sides (the median of the calls;
# the mean, with the first call's copy-up, goes to the results file), the
# ratio mount/local (lower is better, 1 is the local disk), and what the
# store grew by per fsync: bytes and objects (the local disk's growth is
# the bytes written). The store and the local files share one disk
# (BENCH_DISK, default /var/tmp), as in mount.sh. Needs root (/dev/fuse).
# Median of BENCH_RUNS (each run on the files as the last left them).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
[ "$(id -u)" = 0 ] || bench_die "write.sh needs root (/dev/fuse)"
appends=(100) randoms=("64:200")
if [ "$BENCH_SCALE" = full ]; then
	appends=(100 1024) randoms=("64:200" "256:1000")
fi
runs=$BENCH_RUNS
results=$(bench_results_file write)
bench_machine_json >>"$results"
work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-write.XXXX")
export T9KFS_HOME=$work/home
mnt=$work/mnt
store=$work/home/store/bench

cleanup() {
	"$T9KFS" umount -l "$mnt" >/dev/null 2>&1 || true
	"$T9KFS" server stop >/dev/null 2>&1 || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# writes.py FILE append|random N SEED: the write+fsync loop on one open
# file (fresh bytes for each seed, so that nothing deduplicates between
# runs); prints "median_ms mean_ms".
cat >"$work/writes.py" <<'EOF'
import os, random, sys, time
path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = random.Random(int(sys.argv[4]))
fd = os.open(path, os.O_WRONLY | (os.O_APPEND if mode == "append" else 0))
size = os.fstat(fd).st_size
ts = []
for i in range(n):
    if mode == "append":
        buf = b"%06d step=%d loss=%.6f lr=0.001 a metrics line\n" % (i, i * 10, r.random())
    else:
        buf, off = r.randbytes(4096), r.randrange(0, size // 4096) * 4096
    t0 = time.perf_counter()
    if mode == "append":
        os.write(fd, buf)
    else:
        os.pwrite(fd, buf, off)
    os.fsync(fd)
    ts.append(time.perf_counter() - t0)
os.close(fd)
ts.sort()
print("%.3f %.3f" % (1000 * ts[len(ts) // 2], 1000 * sum(ts) / len(ts)))
EOF

record() { # workload kind run key value
	bench_json bench=write workload="$1" kind="$2" run="$3" "$4"="$5" >>"$results"
}

median_of() { # workload kind key
	grep "\"workload\":\"$1\",\"kind\":\"$2\",\"run\":[0-9]*,\"$3\"" "$results" |
		bench_json_get "$3" | bench_median
}

bench_log "write: files on $work"
mkdir -p "$work/src" "$work/local" "$mnt"
for mb in "${appends[@]}"; do
	/usr/bin/python3 - "$work/src/log-$mb.txt" "$mb" <<'EOF'
import base64, os, sys
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2]) * 16):
        f.write(base64.b64encode(os.urandom(49152)).replace(b"A", b"\n")[:65536])
EOF
done
for spec in "${randoms[@]}"; do
	head -c "$((${spec%%:*} << 20))" /dev/urandom >"$work/src/db-${spec%%:*}.bin"
done
"$T9KFS" repo create bench >/dev/null
bench_log "write: importing"
"$T9KFS" import "$work/src" bench@main -m data >/dev/null
cp "$work"/src/* "$work/local/"

workloads=()
for mb in "${appends[@]}"; do workloads+=("append:log-$mb.txt:200"); done
for spec in "${randoms[@]}"; do workloads+=("random:db-${spec%%:*}.bin:${spec##*:}"); done

for i in $(seq "$runs"); do
	bench_log "write: run $i/$runs"
	for w in "${workloads[@]}"; do
		IFS=: read -r mode file n <<<"$w"
		read -r med mean < <(/usr/bin/python3 "$work/writes.py" "$work/local/$file" "$mode" "$n" "$i")
		record "$w" local "$i" ms "$med"
		record "$w" local "$i" mean_ms "$mean"
		"$T9KFS" mount bench@main "$mnt" >/dev/null
		b0=$(du -sb "$store" | cut -f1) o0=$(find "$store" -type f | wc -l)
		read -r med mean < <(/usr/bin/python3 "$work/writes.py" "$mnt/$file" "$mode" "$n" "$i")
		b1=$(du -sb "$store" | cut -f1) o1=$(find "$store" -type f | wc -l)
		"$T9KFS" umount "$mnt" >/dev/null
		record "$w" t9kfs "$i" ms "$med"
		record "$w" t9kfs "$i" mean_ms "$mean"
		record "$w" t9kfs "$i" bytes_per_fsync "$(((b1 - b0) / n))"
		record "$w" t9kfs "$i" objects_per_fsync "$(bench_div "$((o1 - o0))" "$n" 2)"
	done
done

for w in "${workloads[@]}"; do
	IFS=: read -r mode file n <<<"$w"
	t=$(median_of "$w" t9kfs ms) l=$(median_of "$w" local ms)
	tm=$(median_of "$w" t9kfs mean_ms) lm=$(median_of "$w" local mean_ms)
	b=$(median_of "$w" t9kfs bytes_per_fsync) o=$(median_of "$w" t9kfs objects_per_fsync)
	size=$(du -h --apparent-size "$work/src/$file" | cut -f1)
	if [ "$mode" = append ]; then
		what="append 1 line + fsync x$n, $size file"
		lb=60
	else
		what="random 4 KiB write + fsync x$n, $size file"
		lb=4096
	fi
	bench_summary "$results" "branch mount: $what" ms lower "t9kfs:t9kfs branch mount=$t" \
		"limit:local disk=$l"
	echo "| branch mount: $what | $t ms (mean $tm); store +$b B, $o objects per fsync | local disk: $l ms (mean $lm); ~$lb B | $(bench_div "$t" "$l" 1)x local time |"
done
{
	echo "write: the branch mount's store and the local files on $(df --output=source "$work" | tail -n 1) (${BENCH_DISK:-/var/tmp}); ratios are mount time / local time per write+fsync (medians; means include the first call's copy-up)"
	echo "write results: ${results#"$BENCH_ROOT"/}"
} >>"$BENCH_NOTES"
