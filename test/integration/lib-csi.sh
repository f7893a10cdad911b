# Helpers for the tests of the CSI driver. Source it instead of lib.sh:
#
#   . "$(dirname "$0")/lib-csi.sh"
#
# The script first re-runs itself in a private mount namespace (unshare -m),
# so no mount it makes is seen outside, then sources lib.sh and lib-mount.sh
# (root and FUSE, or skip). It gives a metadata service on a unix socket
# (T9KFS_SERVER), and:
#   csi_start_mounter              t9kfs csi mounter on $MOUNTER (pid $D/mounter.pid)
#   csi_start_driver [ARGS...]     t9kfs csi on $CSI_SOCK as PID 1 of a PID
#                                  namespace of its own (unshare --pid --fork
#                                  --kill-child), the way a container runs;
#                                  returns once it answers Probe
#   csi_kill_driver                kills that namespace with everything in it
#   csi_stop_driver                SIGTERM, and waits
#   csi METHOD [JSON]              one call (Service.Method) with python3-grpcio;
#                                  the answer as JSON on stdout
#   csi_must_fail CODE METHOD [JSON]  the call must fail with gRPC status CODE
#                                  (NOT_FOUND, ...); its message goes to stdout
#   CAP_RO, CAP_RW                 volume_capability JSON (mount, reader/writer)
#   t9kfs_mounts                   the fuse.t9kfs mount points, one a line
#   mountinfo_fuse                 "DEVICE MOUNTPOINT" of each of them
#   csi_logs_clean                 fails when a log has a sanitizer report
# At the end the driver and mounter stop and every mount of the test goes.
if [ -z "${T9KFS_CSI_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP $(basename "$0" .sh): needs root"; exit 77; }
	command -v unshare >/dev/null || { echo "1..0 # SKIP: no unshare"; exit 77; }
	T9KFS_CSI_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/integration/lib-mount.sh
. "$(dirname "$0")/lib-mount.sh"

/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null ||
	skip_all "python3-grpcio and python3-grpc-tools are not installed (scripts/install-deps.sh)"

D="$TEST_DIR/csi"
CSI_SOCK="$D/csi.sock"
MOUNTER="unix://$D/mounter.sock"
STATE="$D/state"
export CSI_PB="$D/pb"
CAP_RW='{"mount":{},"access_mode":{"mode":"SINGLE_NODE_WRITER"}}'
CAP_RO='{"mount":{},"access_mode":{"mode":"MULTI_NODE_READER_ONLY"}}'
mkdir -p "$D"
/usr/bin/python3 "$TOP/test/csi/csi.py" --gen "$CSI_PB" "$TOP/csi" ||
	{ echo "cannot generate the gRPC stubs from csi/csi.proto"; exit 1; }

# The metadata service: its own process on a unix socket (never the
# embedded default: a test must see it stop when it is stopped).
export T9KFS_SERVER="unix:$D/meta.sock"
csi_start_meta() {
	("$T9KFS_BIN" meta serve --listen "$T9KFS_SERVER" >>"$D/meta.log" 2>&1 &
	 echo $! >"$D/meta.pid")
	test_wait 10 "$T9KFS_BIN" repo list >/dev/null 2>&1
}
csi_stop_meta() {
	local pid
	pid=$(cat "$D/meta.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f "$D/meta.pid"
}

csi_start_mounter() {
	("$T9KFS_BIN" csi mounter --listen "$MOUNTER" >>"$D/mounter.log" 2>&1 &
	 echo $! >"$D/mounter.pid")
	test_wait 10 "$T9KFS_BIN" csi mounter --ping --listen "$MOUNTER" >/dev/null 2>&1
}

csi_start_driver() {
	(unshare --pid --fork --kill-child "$T9KFS_BIN" csi --endpoint "unix://$CSI_SOCK" \
		--node-id node-1 --state-dir "$STATE" --mounter "$MOUNTER" \
		--check-interval 500 "$@" >>"$D/driver.log" 2>&1 &
	 echo $! >"$D/driver.pid")
	test_wait 20 csi_ready
}

csi_ready() {
	csi Identity.Probe 2>/dev/null | grep -q '"ready": true'
}

# The driver's namespace dies with its PID 1, as a container's does.
csi_kill_driver() {
	local pid
	pid=$(cat "$D/driver.pid" 2>/dev/null) || return 0
	pkill -KILL -P "$pid"
	kill -KILL "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f "$D/driver.pid"
}

csi_stop_driver() {
	local pid
	pid=$(cat "$D/driver.pid" 2>/dev/null) || return 0
	pkill -TERM -P "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f "$D/driver.pid"
}

csi() {
	/usr/bin/python3 "$TOP/test/csi/csi.py" "unix://$CSI_SOCK" "$@"
}

csi_must_fail() {
	local code=$1 out rc=0
	shift
	out=$(csi "$@" 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ]; then
		echo "csi_must_fail: $1 succeeded: $out"
		return 1
	fi
	case $out in
	"$code: "*) echo "$out" ;;
	*) echo "csi_must_fail: $1: wanted $code, got: $out"; return 1 ;;
	esac
}

t9kfs_mounts() {
	mountinfo_fuse | awk '{ print $2 }'
}

# "DEVICE MOUNTPOINT" of each fuse.t9kfs mount (the file system type
# follows the " - " after a varying number of optional fields).
mountinfo_fuse() {
	awk '{ for (i = 7; $i != "-"; i++) ; if ($(i + 1) == "fuse.t9kfs") print $3, $5 }' \
		/proc/self/mountinfo
}

csi_logs_clean() {
	if grep -qE "Sanitizer|runtime error" "$D"/*.log; then
		grep -E -A40 "Sanitizer|runtime error" "$D"/*.log | head -n 150
		return 1
	fi
	mount_logs_clean
}

# The end: driver, mounter, then every mount of this namespace (their
# daemons exit once their mounts are gone), then the service.
csi_cleanup() {
	local m f
	csi_kill_driver
	f="$D/mounter.pid"
	[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
	for m in $(t9kfs_mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	for f in "$T9KFS_HOME"/mounts/*.pid; do
		[ -e "$f" ] || continue
		test_wait 10 sh -c "! kill -0 $(head -n 1 "$f") 2>/dev/null" ||
			kill -9 "$(head -n 1 "$f")" 2>/dev/null
	done
	csi_stop_meta
}
test_cleanup csi_cleanup

csi_start_meta || { cat "$D/meta.log"; exit 1; }
