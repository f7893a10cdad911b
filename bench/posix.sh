#!/usr/bin/env bash
# Metadata-heavy work in a branch mount beside the local disk (issue 16:
# conda environments, archives unpacked with owners):
#   - untar (tar -xpf, as root: owners, modes, mtimes) of 10,000 small
#     files (quick: 1,000) in 100 directories, owned by 4 users;
#   - cp -al of that tree (a hard link per file, conda's environments);
#   - rm -rf of both trees.
# Each step runs in a branch mount (-o allow_other,default_permissions)
# and in a directory on the disk the store is on (BENCH_DISK, default
# /var/tmp), alternating; the ratio is mount time / local time (lower is
# better, 1 is the local disk). A step that fails in the mount (link()
# before hard links existed) shows as "fails" and ends that run's later
# steps on the mount. Needs root (owners, /dev/fuse). Median of
# BENCH_RUNS.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
bench_need tar
[ "$(id -u)" = 0 ] || bench_die "posix.sh needs root (owners, /dev/fuse)"
if [ "$BENCH_SCALE" = full ]; then
	nfiles=10000 label="10,000"
else
	nfiles=1000 label="1,000"
fi
runs=$BENCH_RUNS
results=$(bench_results_file posix)
bench_machine_json >>"$results"
work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-posix.XXXX")
export T9KFS_HOME=$work/home
mnt=$work/mnt

cleanup() {
	"$T9KFS" umount -l "$mnt" >/dev/null 2>&1 || true
	"$T9KFS" server stop >/dev/null 2>&1 || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

record() { # workload kind run value
	bench_json bench=posix workload="$1" kind="$2" run="$3" value="$4" unit=s >>"$results"
}

median_of() { # workload kind
	grep "\"workload\":\"$1\",\"kind\":\"$2\"" "$results" | bench_json_get value | bench_median
}

# Prints the seconds "$@" takes, or "fails" (and the first error line to
# stderr) when it fails.
secs_or_fail() {
	local t0 t1
	t0=$(date +%s.%N)
	if ! "$@" >"$work/step.out" 2>&1; then
		bench_log "posix: failed: $* ($(head -n 1 "$work/step.out"))"
		echo fails
		return
	fi
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

bench_log "posix: writing $label small files with owners to $work"
mkdir -p "$work/src" "$mnt" "$work/local"
/usr/bin/python3 - "$work/src" "$nfiles" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
owners = [(0, 0), (1001, 1001), (1002, 2000), (65534, 65534)]
for i in range(n):
    d = os.path.join(root, "d%03d" % (i * 100 // n))
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "f%06d" % i)
    with open(p, "w") as f:
        f.write("file %d\n" % i * (1 + i % 7))
    os.chown(p, *owners[i % len(owners)])
    os.chmod(p, (0o644, 0o755, 0o600, 0o4755)[i % 4])
    os.utime(p, ns=(1700000000 * 10**9 + i, 1700000000 * 10**9 + i * 1001))
EOF
tar -C "$work/src" --numeric-owner -cf "$work/files.tar" .
"$T9KFS" repo create bench >/dev/null
"$T9KFS" mount -o allow_other,default_permissions bench@main "$mnt" >/dev/null

for i in $(seq "$runs"); do
	bench_log "posix: run $i/$runs"
	for kind in local t9kfs; do
		if [ "$kind" = local ]; then d=$work/local; else d=$mnt; fi
		mkdir "$d/untar-$i"
		sync
		s=$(secs_or_fail tar -C "$d/untar-$i" -xpf "$work/files.tar")
		record untar "$kind" "$i" "$s"
		if [ "$s" != fails ]; then
			s=$(secs_or_fail cp -al "$d/untar-$i" "$d/links-$i")
		fi
		record cp_al "$kind" "$i" "$s"
		s=$(secs_or_fail rm -rf "$d/untar-$i" "$d/links-$i")
		record rm_rf "$kind" "$i" "$s"
	done
done
"$T9KFS" umount "$mnt" >/dev/null

# The median over runs; "fails" if any run failed.
med() { # workload kind
	if grep "\"workload\":\"$1\",\"kind\":\"$2\"" "$results" | grep -q '"value":"fails"'; then
		echo fails
	else
		median_of "$1" "$2"
	fi
}

row() { # workload what
	local t l ratio
	t=$(med "$1" t9kfs) l=$(med "$1" local)
	bench_summary "$results" "branch mount: $2" s lower "t9kfs:t9kfs branch mount=$t" "limit:local disk=$l"
	if [ "$t" = fails ] || [ "$l" = fails ]; then
		ratio="fails"
		[ "$t" = fails ] || t="$t s"
	else
		ratio="$(bench_div "$t" "$l" 1)x local time"
		t="$(printf "%.3f" "$t") s"
	fi
	[ "$l" = fails ] || l=$(printf "%.3f" "$l")
	echo "| branch mount: $2 | $t | local disk: $l s | $ratio |"
}

row untar "untar $label small files with owners (tar -xp, as root)"
row cp_al "cp -al of those $label files (hard links)"
row rm_rf "rm -rf of both trees"
{
	echo "posix: the branch mount's store and the local directory on $(df --output=source "$work" | tail -n 1) (${BENCH_DISK:-/var/tmp}); ratios are mount time / local time"
	echo "posix results: ${results#"$BENCH_ROOT"/}"
} >>"$BENCH_NOTES"
