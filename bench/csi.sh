#!/usr/bin/env bash
# CSI workload: the Node service of the CSI driver (t9kfs csi) with its
# mounter, a metadata service on a unix socket and real FUSE mounts, as
# kubelet drives it on one node:
#   - NodeStageVolume + NodePublishVolume of 20 volumes (20 tags of one
#     repository of 1,000 small files; quick: 100), then NodeUnpublishVolume
#     + NodeUnstageVolume of them: p50 and p99 latency, per call, from one
#     long-lived python3-grpcio client (bench/csi_bench.py), over the 20
#     volumes of every run;
#   - with the 20 volumes published: RSS (VmRSS) of the driver, of the
#     mounter and of each idle mount daemon (found by 't9kfs mount' with
#     the mounter's T9KFS_HOME), and of the daemons after one read of
#     their files (first run);
#   - one volume published to 50 targets: the mount daemons serving it
#     (the mounter's children, and 't9kfs mount') and the t9kfs mounts
#     (50 binds + the staging mount), and NodePublishVolume's p50 and p99.
# Targets (the CSI issue): publish p99 < 1 s, an idle mount daemon < 30 MiB.
# Figures are printed with their target; speed never fails the bench.
# Runs in a mount namespace of its own (unshare -m), as root; the state
# dir, store and mount points lie on BENCH_DISK (default /var/tmp).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -z "${T9KFS_BENCH_CSI_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || bench_die "csi.sh needs root (mounts, /dev/fuse)"
	bench_need unshare
	T9KFS_BENCH_CSI_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null ||
	bench_die "python3-grpcio and python3-grpc-tools are not installed (scripts/install-deps.sh)"
if [ "$BENCH_SCALE" = full ]; then
	nfiles=1000
else
	nfiles=100
fi
nvol=20 ntargets=50
runs=$BENCH_RUNS
results=$(bench_results_file csi)
bench_machine_json >>"$results"
work=$(mktemp -d "${BENCH_DISK:-/var/tmp}/t9kfs-bench-csi.XXXX")
export T9KFS_HOME=$work/home T9KFS_SERVER=unix:$work/meta.sock CSI_PB=$work/pb
meta_pid="" mounter_pid="" driver_pid="" client_pid="" client_done=0 complete=0
# bench_tmpdir's trap (when it made BENCH_TMP) runs after ours
eval "set -- $(trap -p EXIT)"
prev_exit=${3:-}

stop_pid() { # PID: SIGTERM, then SIGKILL after 10 s
	local i
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
}

# The t9kfs mounts under $work: MAJOR:MINOR MOUNTPOINT a line. The file
# system type follows the "-" that ends the optional fields.
work_mounts() {
	awk -v w="$work/" '{ for (i = 7; $i != "-"; i++) ; }
		$(i + 1) == "fuse.t9kfs" && index($5, w) == 1 { print $3, $5 }' /proc/self/mountinfo
}

daemon_pids() { # the mount daemons 't9kfs mount' lists under $work
	"$T9KFS" mount | awk -v w="$work/" 'index($1, w) == 1 && $3 == "pid" { print $4 }'
}

# Driver first (it would mount again what goes), then the mounter, the
# mounts (their daemons exit once their mounts are gone), the service.
cleanup() {
	local m f p i
	set +e
	stop_pid "$client_pid"
	stop_pid "$driver_pid"
	stop_pid "$mounter_pid"
	for m in $(work_mounts | awk '{ print $2 }' | sort -r); do
		umount -l "$m"
	done
	for f in "$T9KFS_HOME"/mounts/*.pid; do
		[ -e "$f" ] || continue
		p=$(head -n 1 "$f")
		grep -qF "$work" "/proc/$p/cmdline" 2>/dev/null || continue
		for i in $(seq 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
	done
	stop_pid "$meta_pid"
	rm -rf --one-file-system "$work"
	[ "$complete" = 1 ] || rm -f "$results" # no half run for bench/report.py
	eval "$prev_exit"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE

wait_for() { # SECONDS WHAT COMMAND...: until COMMAND succeeds, or die
	local s=$1 what=$2 i
	shift 2
	for i in $(seq $((s * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	bench_die "$what did not start in $s s: $(tail -n 3 "$work"/*.log)"
}

rss_mib() { # PID: its VmRSS in MiB
	awk '$1 == "VmRSS:" { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"
}

record() { # KEY=VALUE...
	bench_json bench=csi "$@" >>"$results"
}

# pct P FILTER FIELD: the nearest-rank P-th percentile of FIELD over the
# results lines holding FILTER.
pct() {
	grep -F "$2" "$results" | bench_json_get "$3" | sort -g |
		awk -v p="$1" '{ v[NR] = $1 } END { if (!NR) exit 1; print v[int((p * NR + 99) / 100)] }' ||
		bench_die "no $3 in the results lines with $2"
}
ms() { pct "$1" "\"op\":\"$2\"," ms | awk '{ printf "%.1f\n", $1 }'; }

verdict() { # VALUE LIMIT: "met" when VALUE < LIMIT
	awk -v v="$1" -v l="$2" 'BEGIN { printf "%s: %.2f of the target\n", v < l ? "met" : "NOT met", v / l }'
}

# No mount or daemon of ours may outlive an unstage (daemons exit on their own).
check_gone() { # WHEN
	local i
	for i in $(seq 100); do
		[ -z "$(work_mounts)" ] && [ -z "$(daemon_pids)" ] &&
			[ -z "$(ps --ppid "$mounter_pid" -o pid=)" ] && return 0
		sleep 0.1
	done
	bench_die "$1: left behind: $(work_mounts | tr '\n' ' ') daemons $(daemon_pids | tr '\n' ' ')"
}

on_published() { # RUN
	local run=$1 p i ref
	for p in $(daemon_pids); do
		record what=daemon_rss state=idle run="$run" mib="$(rss_mib "$p")"
	done
	record what=daemons run="$run" listed="$(daemon_pids | wc -l)" \
		children="$(ps --ppid "$mounter_pid" -o pid= | wc -l)" mounts="$(work_mounts | wc -l)"
	record what=driver_rss run="$run" mib="$(rss_mib "$driver_pid")"
	record what=mounter_rss run="$run" mib="$(rss_mib "$mounter_pid")"
	for i in $(seq "$nvol"); do
		ref=$(printf 'v%02d' "$i")
		[ "$(cat "$work/pod/$i/version")" = "$ref" ] ||
			bench_die "target $work/pod/$i does not show $ref"
	done
	if [ "$run" = 1 ]; then
		for i in $(seq "$nvol"); do
			find "$work/pod/$i" -type f -exec cat {} + >/dev/null
		done
		for p in $(daemon_pids); do
			record what=daemon_rss state=read run="$run" mib="$(rss_mib "$p")"
		done
	fi
}

on_fanout() { # RUN
	local run=$1 fan=$work/fan/stage
	record what=fanout run="$run" \
		listed="$("$T9KFS" mount | awk -v s="$fan" '$1 == s' | wc -l)" \
		children="$(ps --ppid "$mounter_pid" -o pid= | wc -l)" \
		mounts="$(work_mounts | wc -l)" \
		connections="$(work_mounts | awk '{ print $1 }' | sort -u | wc -l)" \
		binds="$(work_mounts | awk -v s="$fan" '$2 != s' | wc -l)"
	[ "$(cat "$work/fan/t$ntargets/version")" = v01 ] || bench_die "$work/fan/t$ntargets does not show v01"
}

bench_log "csi: $nvol tags of $nfiles files in $work"
/usr/bin/python3 "$BENCH_ROOT/test/csi/csi.py" --gen "$CSI_PB" "$BENCH_ROOT/csi" ||
	bench_die "cannot generate the gRPC stubs from csi/csi.proto"
mkdir -p "$work/data" "$work/ver" "$work/stage" "$work/pod" "$work/fan"
/usr/bin/python3 "$BENCH_DIR/gen_files.py" small "$work/data" "$nfiles"
"$T9KFS" meta serve --listen "$T9KFS_SERVER" >>"$work/meta.log" 2>&1 &
meta_pid=$!
wait_for 10 "the metadata service" "$T9KFS" repo list
"$T9KFS" repo create bench >/dev/null
refs=""
for i in $(seq "$nvol"); do
	ref=$(printf 'v%02d' "$i")
	if [ "$i" = 1 ]; then
		echo "$ref" >"$work/data/version"
		"$T9KFS" import "$work/data" bench@main -m "$ref" >/dev/null
	else
		echo "$ref" >"$work/ver/version"
		"$T9KFS" import "$work/ver" bench@main -m "$ref" >/dev/null
	fi
	"$T9KFS" tag create "bench@$ref" >/dev/null
	refs+=${refs:+,}$ref
	mkdir -p "$work/stage/$i" # kubelet makes the staging directory
done
mkdir -p "$work/fan/stage"
"$T9KFS" csi mounter --listen "unix://$work/mounter.sock" >>"$work/mounter.log" 2>&1 &
mounter_pid=$!
wait_for 10 "the mounter" "$T9KFS" csi mounter --ping --listen "unix://$work/mounter.sock"
"$T9KFS" csi --endpoint "unix://$work/csi.sock" --node --node-id bench-node \
	--state-dir "$work/state" --mounter "unix://$work/mounter.sock" >>"$work/driver.log" 2>&1 &
driver_pid=$!

# The client waits for the driver's Probe, then pauses between phases.
coproc CLIENT { exec /usr/bin/python3 "$BENCH_DIR/csi_bench.py" "unix://$work/csi.sock" "$work" \
	"$results" bench "$refs" "$runs" "$ntargets" 2>>"$work/client.log"; }
# shellcheck disable=SC2153 # CLIENT_PID: set by coproc
client_pid=$CLIENT_PID
exec {from_client}<&"${CLIENT[0]}" {to_client}>&"${CLIENT[1]}"
while IFS= read -r line <&"$from_client"; do
	# shellcheck disable=SC2086 # split the words of the line
	set -- $line
	case $line in
	"pause published "*) bench_log "csi: run $3/$runs: $nvol volumes published"; on_published "$3" ;;
	"pause unstaged "*) check_gone "run $3: after unstaging $nvol volumes" ;;
	"pause fanout "*) bench_log "csi: run $3/$runs: one volume in $ntargets targets"; on_fanout "$3" ;;
	"pause fan_unstaged "*) check_gone "run $3: after the fan-out" ;;
	done) client_done=1; break ;;
	*) bench_die "the CSI client said: $line" ;;
	esac
	echo go >&"$to_client"
done
[ "$client_done" = 1 ] ||
	bench_die "the CSI client failed: $(tail -n 3 "$work/client.log"); driver: $(tail -n 3 "$work/driver.log")"
wait "$client_pid" 2>/dev/null || true
client_pid=""

sp50=$(ms 50 stage_publish) sp99=$(ms 99 stage_publish)
s50=$(ms 50 stage) s99=$(ms 99 stage) p50=$(ms 50 publish) p99=$(ms 99 publish)
uu50=$(ms 50 unpublish_unstage) uu99=$(ms 99 unpublish_unstage)
u50=$(ms 50 unpublish) u99=$(ms 99 unpublish) us50=$(ms 50 unstage) us99=$(ms 99 unstage)
fp50=$(ms 50 fan_publish) fp99=$(ms 99 fan_publish)
idle50=$(pct 50 '"state":"idle"' mib) idle_max=$(pct 100 '"state":"idle"' mib)
read50=$(pct 50 '"state":"read"' mib)
drv=$(pct 50 '"what":"driver_rss"' mib) mnt=$(pct 50 '"what":"mounter_rss"' mib)
# the fan-out's counts: the largest of the runs, so one bad run shows
fan_max() { pct 100 '"what":"fanout"' "$1"; }
fan_daemons=$(fan_max children) fan_listed=$(fan_max listed) fan_mounts=$(fan_max mounts)
fan_conns=$(fan_max connections) fan_binds=$(fan_max binds)
pub_daemons=$(pct 100 '"what":"daemons"' children)
fan_ok="NOT met"
[ "$fan_daemons" = 1 ] && [ "$fan_listed" = 1 ] && [ "$fan_conns" = 1 ] &&
	[ "$fan_binds" = "$ntargets" ] && [ "$fan_mounts" = $((ntargets + 1)) ] && fan_ok=met

bench_summary "$results" "csi: NodeStage+NodePublish p99, $nvol volumes" ms lower \
	"t9kfs:t9kfs=$sp99" "limit:target (publish p99)=1000"
bench_summary "$results" "csi: NodePublish p99, one volume in $ntargets targets" ms lower \
	"t9kfs:t9kfs=$fp99" "limit:target (publish p99)=1000"
bench_summary "$results" "csi: NodeUnpublish+NodeUnstage p99, $nvol volumes" ms lower "t9kfs:t9kfs=$uu99"
bench_summary "$results" "csi: RSS of an idle mount daemon" MiB lower \
	"t9kfs:t9kfs (median of $((nvol * runs)))=$idle50" "limit:target=30"
bench_summary "$results" "csi: RSS of the driver, $nvol volumes published" MiB lower "t9kfs:t9kfs=$drv"
echo "| csi: NodeStage+NodePublish of $nvol volumes (tags), p50 / p99 | $sp50 / $sp99 ms (stage $s50 / $s99, publish $p50 / $p99) | target: publish p99 < 1,000 ms | $(verdict "$sp99" 1000) |"
echo "| csi: NodeUnpublish+NodeUnstage of them, p50 / p99 | $uu50 / $uu99 ms (unpublish $u50 / $u99, unstage $us50 / $us99) | | |"
echo "| csi: one volume published to $ntargets targets, NodePublish p50 / p99 | $fp50 / $fp99 ms; $fan_daemons mount daemon, $fan_mounts t9kfs mounts ($fan_binds binds + staging) on $fan_conns FUSE connection | target: 1 daemon, $((ntargets + 1)) mounts; p99 < 1,000 ms | $fan_ok; $(verdict "$fp99" 1000) |"
echo "| csi: RSS of an idle mount daemon, median / max of $((nvol * runs)) | $idle50 / $idle_max MiB (after one read of its $nfiles files: $read50 MiB) | target: < 30 MiB | $(verdict "$idle_max" 30) |"
echo "| csi: RSS of the driver with $nvol volumes published ($pub_daemons mount daemons) | $drv MiB (mounter $mnt MiB) | | |"
{
	echo "csi: driver (--node, default --workers and --check-interval), mounter and metadata service on unix sockets in a private mount namespace; state, store and mount points on $(df --output=source "$work" | tail -n 1) (${BENCH_DISK:-/var/tmp}); volumes are tags v01-v$nvol of a repository of $nfiles files (4-64 KiB), read-only, MULTI_NODE_READER_ONLY"
	echo "csi: latency per call from one python3-grpcio client on one channel (time.perf_counter), nearest-rank p50/p99 over $nvol volumes x $runs runs (fan-out: $ntargets x $runs); RSS is VmRSS; the idle verdict takes the largest daemon"
	echo "csi results: ${results#"$BENCH_ROOT"/}"
} >>"$BENCH_NOTES"
complete=1
