#!/bin/bash
# Restarts, as Kubernetes does them: the driver runs as PID 1 of its own
# PID namespace and is killed with everything in it while three volumes
# are published (a tag, a read-write branch, an inline volume); reads and
# writes go on, and the restarted driver knows them and unpublishes them
# cleanly. A mount daemon killed with -9 is reported abnormal and serves
# again in every target within 5 s, also inside a "pod": a mount
# namespace that sees the targets through slave propagation, as
# mountPropagation: HostToContainer gives a container. Files open across
# the daemon's death are not kept (the stretch goal, not reached): this
# test pins down what they do.
. "$(dirname "$0")/lib-csi.sh"

P="$D/pods"
S="$D/staging"

stage() {
	csi Node.NodeStageVolume "{\"volume_id\":\"$1\",\"staging_target_path\":\"$2\",
		\"volume_capability\":$3,\"volume_context\":$4}"
}
publish() {
	csi Node.NodePublishVolume "{\"volume_id\":\"$1\",\"staging_target_path\":\"$2\",
		\"target_path\":\"$3\",\"volume_capability\":$4,\"readonly\":$5,\"volume_context\":$6}"
}
unpublish() {
	csi Node.NodeUnpublishVolume "{\"volume_id\":\"$1\",\"target_path\":\"$2\"}"
}
unstage() {
	csi Node.NodeUnstageVolume "{\"volume_id\":\"$1\",\"staging_target_path\":\"$2\"}"
}
stats() {
	csi Node.NodeGetVolumeStats "{\"volume_id\":\"$1\",\"volume_path\":\"$2\"}"
}
# The pid of the mount daemon serving mount point $1.
daemon_of() {
	t9kfs mount | awk -v mp="$1" '$1 == mp { print $4 }'
}
# The mount at $1 is served by a live daemon other than pid $2.
new_daemon() {
	local p
	p=$(daemon_of "$1")
	[ -n "$p" ] && [ "$p" != "$2" ] && kill -0 "$p" 2>/dev/null
}
# Runs a command in the pod's mount namespace (it starts at its root:
# give absolute paths).
in_pod() {
	nsenter -t "$(cat "$D/pod.pid")" -m -- "$@"
}
# A file of the target reads as expected, through a new open.
reads() {
	cmp -s "$1" "$2"
}
pod_reads() {
	in_pod cmp -s "$1" "$2"
}
staged() {
	t9kfs status ds@work | grep -q "$1"
}
abnormal() {
	stats "$1" "$2" | grep -q "\"abnormal\": true"
}
INLINE="{\"repo\":\"ds\",\"ref\":\"v1\",\"path\":\"val\",\"csi.storage.k8s.io/ephemeral\":\"true\"}"

kill_pod() {
	[ -e "$D/pod.pid" ] && kill "$(cat "$D/pod.pid")" 2>/dev/null
	umount -l "$P" 2>/dev/null
}
test_cleanup kill_pod

test_expect_success 'setup: a dataset, the mounter, the driver, a pod that sees the targets' '
	mkdir -p src/val "$P" "$S/t" "$S/w" &&
	head -c 20000000 /dev/urandom >src/big.bin && echo v >src/val/v.txt &&
	t9kfs repo create ds >/dev/null && t9kfs import src ds@main -m v1 >/dev/null &&
	t9kfs tag create ds@v1 --from main >/dev/null &&
	t9kfs branch create ds@work --from main >/dev/null &&
	mount --bind "$P" "$P" && mount --make-rshared "$P" &&
	(unshare -m --propagation slave sleep 3600 & echo $! >"$D/pod.pid") &&
	test_wait 5 in_pod test -d "$P" &&
	csi_start_mounter && csi_start_driver
'

test_expect_success 'three volumes published: a tag, a read-write branch, an inline volume' '
	stage vol-t "$S/t" "$CAP_RO" "{\"repo\":\"ds\",\"ref\":\"v1\"}" &&
	publish vol-t "$S/t" "$P/t" "$CAP_RO" true "{}" &&
	stage vol-w "$S/w" "$CAP_RW" "{\"repo\":\"ds\",\"ref\":\"work\"}" &&
	publish vol-w "$S/w" "$P/w" "$CAP_RW" false "{}" &&
	publish csi-inline "" "$P/e" "$CAP_RO" true "$INLINE" &&
	pod_reads "$TEST_DIR/src/big.bin" "$P/t/big.bin" && pod_reads "$TEST_DIR/src/val/v.txt" "$P/e/v.txt" &&
	in_pod sh -c "echo from-pod >$P/w/pod.txt" && test_wait 10 staged pod.txt
'

test_expect_success 'the driver killed with its namespace: volumes keep serving' '
	csi_kill_driver &&
	reads src/big.bin "$P/t/big.bin" && reads src/val/v.txt "$P/e/v.txt" &&
	echo after-kill >want-after && cp want-after "$P/w/after.txt" &&
	test_wait 10 staged after.txt &&
	pod_reads "$TEST_DIR/src/big.bin" "$P/t/big.bin" && in_pod cat "$P/w/after.txt" | grep -q after-kill
'

test_expect_success 'the restarted driver knows the volumes: retries change nothing' '
	csi_start_driver &&
	grep -q "3 staged volumes" "$D/driver.log" &&
	n=$(t9kfs_mounts | wc -l) &&
	stage vol-t "$S/t" "$CAP_RO" "{\"repo\":\"ds\",\"ref\":\"v1\"}" &&
	publish vol-t "$S/t" "$P/t" "$CAP_RO" true "{}" &&
	publish vol-w "$S/w" "$P/w" "$CAP_RW" false "{}" &&
	publish csi-inline "" "$P/e" "$CAP_RO" true "$INLINE" &&
	[ "$(t9kfs_mounts | wc -l)" = "$n" ] &&
	stats vol-w "$P/w" | grep -q "\"message\": \"ok\""
'

# Kills the daemon of a mount with -9; abnormal at once, serving within
# 5 s. The mounter is paused while NodeGetVolumeStats is asked, so the
# driver cannot have mounted the volume again before the question (the
# answer is abnormal either way: the mount is dead, or being mounted).
kill_daemon_and_wait() {
	local stage=$1 vol=$2 target=$3 file=$4 want=$5 pid t0 t1 mounter
	pid=$(daemon_of "$stage") && [ -n "$pid" ] || { echo "no daemon for $stage"; return 1; }
	mounter=$(cat "$D/mounter.pid")
	t0=$(date +%s.%N)
	kill -STOP "$mounter"
	kill -9 "$pid"
	abnormal "$vol" "$target" || {
		kill -CONT "$mounter"
		echo "not reported abnormal"; stats "$vol" "$target"; return 1
	}
	kill -CONT "$mounter"
	# a new daemon first: a file the kernel has cached still reads from
	# the dead mount (no-open: its opens never reach the daemon)
	test_wait 5 new_daemon "$stage" "$pid" || return 1
	test_wait 5 reads "$want" "$target/$file" || return 1
	t1=$(date +%s.%N)
	echo "# $vol: served again $(echo "$t1 - $t0" | bc) s after kill -9 (the mounter" \
		"paused for one stats call)" >&3
	test_wait 5 pod_reads "$want" "$target/$file" || return 1
	test_wait 5 sh -c "! kill -0 $pid 2>/dev/null"
	[ "$(daemon_of "$stage")" != "$pid" ]
}
exec 3>&1

test_expect_success 'kill -9 of a tag volume daemon: abnormal, then serving again in 5 s' '
	kill_daemon_and_wait "$S/t" vol-t "$P/t" big.bin "$TEST_DIR/src/big.bin" &&
	stats vol-t "$P/t" | grep -q "\"message\": \"ok\""
'

test_expect_success 'kill -9 of a read-write branch daemon: closed files kept, serving again' '
	kill_daemon_and_wait "$S/w" vol-w "$P/w" after.txt "$TEST_DIR/want-after" &&
	echo again >want-again && cp want-again "$P/w/again.txt" && test_wait 10 staged again.txt
'

test_expect_success 'kill -9 of an inline volume daemon: serving again' '
	kill_daemon_and_wait "$STATE/ephemeral/$(ls "$STATE/ephemeral")" csi-inline "$P/e" v.txt \
		"$TEST_DIR/src/val/v.txt"
'

# The stretch goal (keep the FUSE connection across a daemon restart so
# open files keep working) is not reached: a file open across the death
# reads what the kernel had cached (dropped here) and then fails; a new
# open works.
test_expect_success 'stretch goal not reached: a file open across the death fails, a new open works' '
	exec 8<"$P/t/big.bin" &&
	head -c 4096 <&8 >/dev/null &&
	pid=$(daemon_of "$S/t") && kill -9 "$pid" &&
	test_wait 5 new_daemon "$S/t" "$pid" &&
	sync && echo 3 >/proc/sys/vm/drop_caches &&
	test_wait 5 reads src/big.bin "$P/t/big.bin" &&
	! cat <&8 >/dev/null 2>err &&
	grep -qE "Transport endpoint is not connected|Input/output error|No such device" err &&
	exec 8<&-
'

test_expect_success 'a daemon killed while the driver is down is remounted by the restarted one' '
	csi_kill_driver &&
	pid=$(daemon_of "$S/w") && kill -9 "$pid" &&
	test_wait 5 sh -c "! kill -0 $pid 2>/dev/null" &&
	test_must_fail cat "$P/w/again.txt" &&
	csi_start_driver &&
	test_wait 5 reads want-again "$P/w/again.txt" &&
	test_wait 5 pod_reads "$TEST_DIR/want-again" "$P/w/again.txt"
'

# One request to the mounter's socket (csi/mounter.h), as the driver makes it.
mounter_call() {
	/usr/bin/python3 - "${MOUNTER#unix://}" "$1" <<-\EOF
	import socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1])
	s.sendall(sys.argv[2].encode() + b"\n")
	answer = s.makefile().readline()
	print(answer, end="")
	sys.exit(0 if '"ok":true' in answer else 1)
	EOF
}
orphan_gone() {
	! t9kfs_mounts | grep -q orphan
}

test_expect_success 'an inline mount left without a record is unmounted by the restarted driver' '
	csi_kill_driver &&
	mkdir "$STATE/ephemeral/orphan" &&
	req="{\"op\":\"mount\",\"spec\":\"ds@v1\",\"mountpoint\":\"$STATE/ephemeral/orphan\"}" &&
	mounter_call "$req" &&
	t9kfs_mounts | grep -q orphan &&
	csi_start_driver &&
	test_wait 5 orphan_gone && test_wait 5 test ! -e "$STATE/ephemeral/orphan" &&
	reads "$TEST_DIR/want-again" "$P/w/again.txt"
'

test_expect_success 'the restarted driver unpublishes and unstages everything cleanly' '
	unpublish vol-t "$P/t" && unstage vol-t "$S/t" &&
	unpublish vol-w "$P/w" && unstage vol-w "$S/w" &&
	unpublish csi-inline "$P/e" &&
	[ -z "$(t9kfs_mounts)" ] && [ -z "$(ls -A "$STATE/stages")" ] && [ -z "$(ls -A "$STATE/ephemeral")" ] &&
	! test -e "$P/t" && ! test -e "$P/e" && test -d "$S/t" &&
	test_wait 10 sh -c "! \"$T9KFS_BIN\" mount | grep -q \" pid \"" &&
	in_pod cat /proc/self/mountinfo >pod-mounts &&
	! grep " $P/" pod-mounts
'

test_expect_success 'logs clean' '
	csi_stop_driver && csi_logs_clean || { cat "$D/driver.log"; false; }
'

test_done
