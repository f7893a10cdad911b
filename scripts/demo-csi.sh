#!/bin/bash
# The CSI part of `make demo` (run by scripts/demo.sh with its T9KFS_HOME
# and local server, as root with /dev/fuse): starts the node mounter and
# the CSI driver, then calls the driver over gRPC as kubelet would (with
# test/csi/csi.py, python3-grpcio): stages tag toy@v1 and publishes it into
# two pods' directories (one mount), kills the mount daemon with -9 and
# watches the driver report it and mount it again, then unpublishes.
# Stops what it started and unmounts, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
T9KFS=$PWD/t9kfs
D=$T9KFS_HOME/csi
SOCK=unix://$D/csi.sock
MOUNTER=unix://$D/mounter.sock
export CSI_PB=$D/pb
mkdir -p "$D/staging" "$D/pods"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
csi() { step "$1 ${2:-}"; /usr/bin/python3 test/csi/csi.py "$SOCK" "$@"; }

stop() {
	local f
	for f in "$D/driver.pid" "$D/mounter.pid"; do
		[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null && sleep 0.3
	done
	for f in "$D/pods/a" "$D/pods/b" "$D/staging"; do
		mountpoint -q "$f" 2>/dev/null && umount -l "$f"
	done
	"$T9KFS" umount "$D/staging" >/dev/null 2>&1 || true
	return 0
}
trap stop EXIT

/usr/bin/python3 test/csi/csi.py --gen "$CSI_PB" csi
"$T9KFS" tag create toy@v1 --from main >/dev/null
step "t9kfs csi mounter --listen $MOUNTER &    # the node process that runs mount daemons"
("$T9KFS" csi mounter --listen "$MOUNTER" >"$D/mounter.log" 2>&1 & echo $! >"$D/mounter.pid")
step "t9kfs csi --endpoint $SOCK --node-id demo-node --mounter $MOUNTER ... &"
("$T9KFS" csi --endpoint "$SOCK" --node-id demo-node --state-dir "$D/state" \
	--mounter "$MOUNTER" --check-interval 500 >"$D/driver.log" 2>&1 & echo $! >"$D/driver.pid")
for _ in $(seq 50); do
	/usr/bin/python3 test/csi/csi.py "$SOCK" Identity.Probe 2>/dev/null | grep -q true && break
	sleep 0.2
done
csi Identity.GetPluginInfo
csi Identity.Probe

cap='{"mount":{},"access_mode":{"mode":"MULTI_NODE_READER_ONLY"}}'
ctx='{"repo":"toy","ref":"v1"}'
csi Node.NodeStageVolume "{\"volume_id\":\"toy-v1\",\"staging_target_path\":\"$D/staging\",
	\"volume_capability\":$cap,\"volume_context\":$ctx}"
for pod in a b; do
	csi Node.NodePublishVolume "{\"volume_id\":\"toy-v1\",\"staging_target_path\":\"$D/staging\",
		\"target_path\":\"$D/pods/$pod\",\"volume_capability\":$cap,\"readonly\":true,
		\"volume_context\":$ctx}"
done
step "ls $D/pods/a/train $D/pods/b/train; grep fuse.t9kfs /proc/self/mountinfo  (one mount, bound twice)"
ls "$D/pods/a/train" "$D/pods/b/train"
grep -c "fuse.t9kfs t9kfs:toy@" /proc/self/mountinfo
pid=$("$T9KFS" mount | awk -v m="$D/staging" '$1 == m { print $4 }')
step "kill -9 $pid    # the volume's mount daemon"
kill -9 "$pid"
csi Node.NodeGetVolumeStats "{\"volume_id\":\"toy-v1\",\"volume_path\":\"$D/pods/a\"}"
for _ in $(seq 50); do
	ls "$D/pods/a/train" >/dev/null 2>&1 && break
	sleep 0.1
done
step "ls $D/pods/a/train    # mounted and bound again by the driver"
ls "$D/pods/a/train"
csi Node.NodeGetVolumeStats "{\"volume_id\":\"toy-v1\",\"volume_path\":\"$D/pods/a\"}"
for pod in a b; do
	csi Node.NodeUnpublishVolume "{\"volume_id\":\"toy-v1\",\"target_path\":\"$D/pods/$pod\"}"
done
csi Node.NodeUnstageVolume "{\"volume_id\":\"toy-v1\",\"staging_target_path\":\"$D/staging\"}"
step "grep -c fuse.t9kfs /proc/self/mountinfo"
grep -c "fuse.t9kfs t9kfs:toy@" /proc/self/mountinfo || true
