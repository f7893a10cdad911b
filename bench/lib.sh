# shellcheck shell=bash
# Helpers shared by the benchmark workloads (bench/*.sh), sourced, never run.
# Workloads write JSON lines to a results file and Markdown table rows to
# stdout; run.sh prints the table header and the notes they leave.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this
BENCH_ROOT=$(dirname "$BENCH_DIR")

bench_die() {
	echo "bench: $*" >&2
	exit 1
}

# Prints to stderr, so progress never mixes with the table.
bench_log() {
	echo "bench: $*" >&2
}

# Sets BENCH_SCALE (quick|full, default full) or dies.
bench_scale() {
	BENCH_SCALE=${BENCH_SCALE:-full}
	case $BENCH_SCALE in
	quick | full) ;;
	*) bench_die "BENCH_SCALE must be quick or full, not '$BENCH_SCALE'" ;;
	esac
	export BENCH_SCALE
}

# Sets BENCH_RUNS (runs per workload and kind, default 3) or dies.
bench_runs() {
	BENCH_RUNS=${BENCH_RUNS:-3}
	[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || bench_die "BENCH_RUNS must be a count, not '$BENCH_RUNS'"
	export BENCH_RUNS
}

# Sets and exports BENCH_TMP, a private directory on tmpfs (so the store's
# disk is not what we measure), removed on exit; kept if already set by a
# parent. Also BENCH_NOTES, a file of lines to print after the table.
bench_tmpdir() {
	if [ -z "${BENCH_TMP:-}" ]; then
		local base=/dev/shm
		if [ ! -w "$base" ]; then
			base=${TMPDIR:-/tmp}
			bench_log "warning: /dev/shm is not writable, using $base (not tmpfs?)"
		fi
		BENCH_TMP=$(mktemp -d "$base/t9kfs-bench.XXXX")
		# shellcheck disable=SC2064 # expand now: the path is fixed
		trap "rm -rf '$BENCH_TMP'" EXIT
		trap 'exit 1' HUP INT TERM
		export BENCH_TMP
	fi
	BENCH_NOTES=${BENCH_NOTES:-$BENCH_TMP/notes}
	export BENCH_NOTES
}

# Sets T9KFS, the binary under test ($T9KFS_BIN, default the repo's
# ./t9kfs), or dies when it is not built.
bench_t9kfs() {
	T9KFS=${T9KFS_BIN:-$BENCH_ROOT/t9kfs}
	[ -x "$T9KFS" ] || bench_die "$T9KFS not built"
}

# Dies naming the first of the commands given that is not installed.
bench_need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || bench_die "$tool is not installed (scripts/install-deps.sh)"
	done
}

# Prints a new results file path for workload $1 and creates its folder.
bench_results_file() {
	mkdir -p "$BENCH_DIR/results"
	echo "$BENCH_DIR/results/$1-$(date +%Y%m%d-%H%M%S).jsonl"
}

# Prints one JSON object from KEY=VALUE arguments; values that look like
# numbers stay bare, the others become strings.
bench_json() {
	local kv k v sep="" out="{"
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		if [[ ! $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then
			v=${v//\\/\\\\}
			v="\"${v//\"/\\\"}\""
		fi
		out+="$sep\"$k\":$v"
		sep=","
	done
	echo "$out}"
}

# Prints the value of field $1 in the flat JSON object on stdin.
bench_json_get() {
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# Prints the median of the numbers on stdin, one a line.
bench_median() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) exit 1
			if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# Prints $1 / $2 with $3 decimals (default 2).
bench_div() {
	awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b == 0) exit 1; printf "%.*f\n", d, a / b }'
}

bench_cpu_model() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
	echo "${cpu:-unknown CPU}"
}

# The machine as a line for people, and as a JSON line for results files.
bench_machine() {
	echo "machine: $(nproc) CPUs, $(bench_cpu_model), $(date '+%Y-%m-%d %H:%M:%S %Z')"
}

bench_machine_json() {
	bench_json bench=machine nproc="$(nproc)" cpu="$(bench_cpu_model)" \
		kernel="$(uname -r)" date="$(date -Iseconds)"
}

# Writes one summary line for the report (bench/report.py) to results file
# $1: workload title $2, unit $3, which way is better $4 (higher|lower),
# then the series as KIND:NAME=VALUE with KIND t9kfs, limit or peer, e.g.
#   bench_summary "$results" "seq read 1 GiB" MB/s higher \
#       "t9kfs:t9kfs=1045" "limit:local disk=1200" "peer:rclone mount=380"
# A series whose value is empty or not a number is left out.
bench_summary() {
	local results=$1 workload=$2 unit=$3 better=$4 s kind name value sep="" series=""
	shift 4
	case $better in higher | lower) ;; *) bench_die "bench_summary: better is '$better'" ;; esac
	for s in "$@"; do
		kind=${s%%:*}
		s=${s#*:}
		name=${s%%=*}
		value=${s#*=}
		case $kind in t9kfs | limit | peer) ;; *) bench_die "bench_summary: kind is '$kind'" ;; esac
		[[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]] || continue
		series+="$sep{\"kind\":\"$kind\",\"name\":\"${name//\"/\\\"}\",\"value\":$value}"
		sep=","
	done
	echo "{\"bench\":\"summary\",\"workload\":\"${workload//\"/\\\"}\",\"unit\":\"$unit\",\"better\":\"$better\",\"series\":[$series]}" >>"$results"
}

# Drops the page cache (and dentries, inodes) for a cold figure; root only.
bench_drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# Prints the seconds that "$@" takes (its output discarded); dies if it fails.
bench_secs() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || bench_die "failed: $*"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

# CPU time of process $1 (all its threads) as "USER SYS" clock ticks.
bench_cpu_ticks() {
	awk '{ print $14, $15 }' "/proc/$1/stat"
}

# CPU-s per GiB of $1 bytes from two bench_cpu_ticks readings ($2, $3):
# prints "USER SYS" seconds per GiB.
bench_cpu_per_gib() {
	local tck
	tck=$(getconf CLK_TCK)
	awk -v b="$1" -v t="$tck" -v a="$2" -v z="$3" 'BEGIN {
		split(a, x, " "); split(z, y, " "); g = b / 1073741824
		printf "%.2f %.2f\n", (y[1] - x[1]) / t / g, (y[2] - x[2]) / t / g }'
}

# Prints MB/s for $1 bytes in $2 seconds.
bench_mbps() {
	awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f\n", b / s / 1e6 }'
}

# The S3 user of the bench's local RGW (test/integration/ceph.sh creates
# it from these variables), and no proxy that could see loopback requests.
bench_s3_env() { # needs test/integration/ceph.sh sourced (the S3 workloads do)
	ceph_client_env T9KFSBENCHACCESSKEY1 t9kfs-bench-secret-key-0123456789abcdefghi
}
