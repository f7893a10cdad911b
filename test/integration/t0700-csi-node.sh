#!/bin/bash
# The CSI driver's Identity and Node services through a real gRPC client
# (python3-grpcio, stubs from csi/csi.proto), with the real metadata
# service, mounter and FUSE mounts, in a private mount namespace: staging
# and publishing commits, tags and branches (read-only, read-write,
# following), a directory of a ref, inline ephemeral volumes shared per
# ref, stats, every error code for bad input with nothing left behind, and
# idempotent retries of every call.
. "$(dirname "$0")/lib-csi.sh"

P="$D/pods"     # targets
S="$D/staging"  # staging paths, as kubelet makes them

# stage VOLUME_ID STAGING CAP CONTEXT-JSON
stage() {
	csi Node.NodeStageVolume "{\"volume_id\":\"$1\",\"staging_target_path\":\"$2\",
		\"volume_capability\":$3,\"volume_context\":$4}"
}
# publish VOLUME_ID STAGING TARGET CAP READONLY CONTEXT-JSON
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
# Whether ds@work has PATH staged.
staged() {
	t9kfs status ds@work | grep -q "$1"
}
# Whether no mount daemon runs.
no_daemons() {
	daemons_are 0 >/dev/null
}
# The daemons serving mounts (one per FUSE connection).
daemons() {
	t9kfs mount >"$D/daemons"
	grep -c " pid " "$D/daemons"
}
# Fails, showing the mount daemons, unless there are N.
daemons_are() {
	[ "$(daemons)" = "$1" ] || { echo "want $1 mount daemons, have:"; cat "$D/daemons"; return 1; }
}
# The FUSE connections (devices) mounted under a directory.
devices_under() {
	mountinfo_fuse | awk -v d="$1/" 'index($2, d) == 1 { print $1 }' | sort -u | wc -l
}
nothing_under() {
	[ "$(devices_under "$1")" = 0 ] || { grep "$1" /proc/self/mountinfo; return 1; }
}

test_expect_success 'setup: a dataset (tag v1), a branch, the mounter and the driver' '
	mkdir -p src/train/cats src/val "$P" "$S" &&
	echo meow >src/train/cats/1.txt && echo val >src/val/v.txt &&
	head -c 3000000 /dev/urandom >src/train/big.bin &&
	ln -s /etc src/train/escape && ln -s cats src/train/inner &&
	t9kfs repo create ds >/dev/null &&
	t9kfs import src ds@main -m v1 >/dev/null &&
	t9kfs tag create ds@v1 --from main >/dev/null &&
	t9kfs branch create ds@work --from main >/dev/null &&
	git_commit=$(t9kfs log ds@v1 | awk "/^commit/ { print \$2; exit }") &&
	echo "$git_commit" >v1.commit &&
	csi_start_mounter && csi_start_driver
'

test_expect_success 'Identity: plugin info, capabilities, Probe' '
	csi Identity.GetPluginInfo >out && grep -q "\"name\": \"csi.t9kfs.io\"" out &&
	grep -q "\"vendor_version\": \"$(t9kfs version | cut -d" " -f2)\"" out &&
	csi Identity.GetPluginCapabilities >out && grep -q CONTROLLER_SERVICE out &&
	grep -q VOLUME_ACCESSIBILITY_CONSTRAINTS out &&
	csi Identity.Probe | grep -q "\"ready\": true"
'

test_expect_success 'Probe is not ready while the metadata service is down' '
	csi_stop_meta &&
	csi Identity.Probe >out && ! grep -q "\"ready\": true" out &&
	csi_start_meta && test_wait 10 csi_ready
'

test_expect_success 'NodeGetInfo and NodeGetCapabilities' '
	csi Node.NodeGetInfo >out &&
	grep -q "\"node_id\": \"node-1\"" out && grep -q "\"t9kfs.io/node\": \"node-1\"" out &&
	csi Node.NodeGetCapabilities >out &&
	grep -q STAGE_UNSTAGE_VOLUME out && grep -q GET_VOLUME_STATS out && grep -q VOLUME_CONDITION out
'

test_expect_success 'a tag stages read-only, pinned to its commit, and publishes' '
	mkdir "$S/tag" &&
	stage vol-tag "$S/tag" "$CAP_RO" "{\"repo\":\"ds\",\"ref\":\"v1\"}" &&
	grep -q "fuse.t9kfs t9kfs:ds@$(cat v1.commit) " /proc/self/mountinfo &&
	publish vol-tag "$S/tag" "$P/a" "$CAP_RO" true "{\"repo\":\"ds\",\"ref\":\"v1\"}" &&
	test_cmp src/train/cats/1.txt "$P/a/train/cats/1.txt" &&
	cmp src/train/big.bin "$P/a/train/big.bin" &&
	test_must_fail touch "$P/a/new" 2>err && grep -q "Read-only" err
'

test_expect_success 'a second target of the volume shares its mount; rw asked on a tag is read-only' '
	publish vol-tag "$S/tag" "$P/b" "$CAP_RW" false "{\"repo\":\"ds\",\"ref\":\"v1\"}" &&
	test_cmp src/val/v.txt "$P/b/val/v.txt" &&
	test_must_fail touch "$P/b/new" &&
	daemons_are 1 &&
	[ "$(awk -v p="$P/b" "\$5 == p { print \$6 }" /proc/self/mountinfo | cut -d, -f1)" = ro ] &&
	grep " $P/b " /proc/self/mountinfo | grep -q nosuid,nodev
'

test_expect_success 'every Node call retried is the same' '
	stage vol-tag "$S/tag" "$CAP_RO" "{\"repo\":\"ds\",\"ref\":\"v1\"}" &&
	publish vol-tag "$S/tag" "$P/a" "$CAP_RO" true "{\"repo\":\"ds\",\"ref\":\"v1\"}" &&
	daemons_are 1 &&
	[ "$(grep -c " $P/a " /proc/self/mountinfo)" = 1 ]
'

test_expect_success 'NodeGetVolumeStats: bytes and inodes, healthy; NOT_FOUND elsewhere' '
	csi Node.NodeGetVolumeStats "{\"volume_id\":\"vol-tag\",\"volume_path\":\"$P/a\"}" >out &&
	grep -q "\"unit\": \"BYTES\"" out && grep -q "\"unit\": \"INODES\"" out &&
	grep -q "\"volume_condition\": {\"message\": \"ok\"}" out &&
	csi_must_fail NOT_FOUND Node.NodeGetVolumeStats \
		"{\"volume_id\":\"vol-tag\",\"volume_path\":\"$D\"}" &&
	csi_must_fail NOT_FOUND Node.NodeGetVolumeStats \
		"{\"volume_id\":\"other\",\"volume_path\":\"$P/a\"}" &&
	csi_must_fail INVALID_ARGUMENT Node.NodeGetVolumeStats "{\"volume_id\":\"vol-tag\"}" &&
	csi_must_fail INVALID_ARGUMENT Node.NodeGetVolumeStats "{\"volume_path\":\"$P/a\"}"
'

test_expect_success 'incompatible re-stage: ALREADY_EXISTS, nothing changes' '
	csi_must_fail ALREADY_EXISTS Node.NodeStageVolume "{\"volume_id\":\"vol-other\",
		\"staging_target_path\":\"$S/tag\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"ds\",\"ref\":\"v1\"}}" &&
	csi_must_fail ALREADY_EXISTS Node.NodeStageVolume "{\"volume_id\":\"vol-tag\",
		\"staging_target_path\":\"$S/tag\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"ds\",\"ref\":\"main\"}}" &&
	daemons_are 1 && [ "$(grep -c " $P/a " /proc/self/mountinfo)" = 1 ] &&
	test_cmp src/val/v.txt "$P/a/val/v.txt"
'

test_expect_success 'unpublish and unstage undo exactly what they did; retries succeed' '
	unpublish vol-tag "$P/a" && unpublish vol-tag "$P/a" &&
	! test -e "$P/a" && test_cmp src/val/v.txt "$P/b/val/v.txt" &&
	csi_must_fail FAILED_PRECONDITION Node.NodeUnstageVolume \
		"{\"volume_id\":\"vol-tag\",\"staging_target_path\":\"$S/tag\"}" &&
	unpublish vol-tag "$P/b" &&
	unstage vol-tag "$S/tag" && unstage vol-tag "$S/tag" &&
	test -d "$S/tag" && nothing_under "$D" &&
	test_wait 10 no_daemons &&
	[ -z "$(ls "$STATE/stages")" ]
'

test_expect_success 'a branch stages read-write: files written appear in its staging' '
	mkdir "$S/work" &&
	stage vol-work "$S/work" "$CAP_RW" "{\"repo\":\"ds\",\"ref\":\"work\"}" &&
	publish vol-work "$S/work" "$P/w" "$CAP_RW" false "{\"repo\":\"ds\",\"ref\":\"work\"}" &&
	echo "epoch 1" >"$P/w/ckpt.txt" &&
	test_wait 10 staged ckpt.txt &&
	publish vol-work "$S/work" "$P/wro" "$CAP_RW" true "{\"repo\":\"ds\",\"ref\":\"work\"}" &&
	csi_must_fail ALREADY_EXISTS Node.NodePublishVolume "{\"volume_id\":\"vol-work\",
		\"staging_target_path\":\"$S/work\",\"target_path\":\"$P/wro\",
		\"volume_capability\":$CAP_RW,\"readonly\":false,\"volume_context\":{}}" >msg &&
	grep -q "$P/wro" msg && grep -q read-only msg &&
	test_cmp "$P/w/ckpt.txt" "$P/wro/ckpt.txt" &&
	test_must_fail sh -c "echo x >\"$P/wro/other\"" &&
	unpublish vol-work "$P/wro" && unpublish vol-work "$P/w" && unstage vol-work "$S/work" &&
	t9kfs commit ds@work -m "from the volume" >/dev/null &&
	t9kfs cat ds@work:ckpt.txt | grep -q "epoch 1" &&
	nothing_under "$D"
'

test_expect_success 'a read-only branch volume follows its branch' '
	mkdir "$S/follow" &&
	stage vol-follow "$S/follow" "$CAP_RO" \
		"{\"repo\":\"ds\",\"ref\":\"work\",\"readOnly\":\"true\",\"poll\":\"1\"}" &&
	publish vol-follow "$S/follow" "$P/f" "$CAP_RO" true "{}" &&
	! test -e "$P/f/later.txt" &&
	echo later >later.txt && t9kfs put later.txt ds@work:later.txt >/dev/null &&
	t9kfs commit ds@work -m later >/dev/null &&
	test_wait 10 test -e "$P/f/later.txt" &&
	test_must_fail touch "$P/f/x" &&
	unpublish vol-follow "$P/f" && unstage vol-follow "$S/follow" && nothing_under "$D"
'

test_expect_success 'path: a directory of the ref; no way out of the dataset' '
	mkdir "$S/sub" &&
	stage vol-sub "$S/sub" "$CAP_RO" "{\"repo\":\"ds\",\"ref\":\"v1\",\"path\":\"train\"}" &&
	publish vol-sub "$S/sub" "$P/s" "$CAP_RO" true "{}" &&
	test_cmp src/train/cats/1.txt "$P/s/cats/1.txt" && ! test -e "$P/s/val" &&
	unpublish vol-sub "$P/s" && unstage vol-sub "$S/sub" &&
	csi_must_fail INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"x\",
		\"staging_target_path\":\"$S/sub\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"ds\",\"ref\":\"v1\",\"path\":\"train/../..\"}}" &&
	csi_must_fail NOT_FOUND Node.NodeStageVolume "{\"volume_id\":\"x\",
		\"staging_target_path\":\"$S/sub\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"ds\",\"ref\":\"v1\",\"path\":\"train/escape\"}}" >msg &&
	grep -q symlinks msg &&
	csi_must_fail NOT_FOUND Node.NodeStageVolume "{\"volume_id\":\"x\",
		\"staging_target_path\":\"$S/sub\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"ds\",\"ref\":\"v1\",\"path\":\"train/inner\"}}" &&
	csi_must_fail NOT_FOUND Node.NodeStageVolume "{\"volume_id\":\"x\",
		\"staging_target_path\":\"$S/sub\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"ds\",\"ref\":\"v1\",\"path\":\"nope\"}}" &&
	nothing_under "$D" && [ -z "$(ls "$STATE/stages")" ]
'

test_expect_success 'inline ephemeral volumes of one ref share one mount, dropped with the last' '
	ctx="{\"repo\":\"ds\",\"ref\":\"v1\",\"csi.storage.k8s.io/ephemeral\":\"true\",
		\"csi.storage.k8s.io/pod.name\":\"p\"}" &&
	publish csi-e1 "" "$P/e1" "$CAP_RW" true "$ctx" &&
	publish csi-e2 "" "$P/e2" "$CAP_RW" true "$ctx" &&
	publish csi-e2 "" "$P/e2" "$CAP_RW" true "$ctx" &&
	test_cmp src/val/v.txt "$P/e1/val/v.txt" && test_cmp src/val/v.txt "$P/e2/val/v.txt" &&
	daemons_are 1 && [ "$(devices_under "$D")" = 1 ] &&
	publish csi-e3 "" "$P/e3" "$CAP_RW" true \
		"{\"repo\":\"ds\",\"ref\":\"v1\",\"path\":\"val\",\"csi.storage.k8s.io/ephemeral\":\"true\"}" &&
	test_cmp src/val/v.txt "$P/e3/v.txt" && daemons_are 1 &&
	unpublish csi-e1 "$P/e1" && test_cmp src/val/v.txt "$P/e2/val/v.txt" &&
	unpublish csi-e3 "$P/e3" && unpublish csi-e2 "$P/e2" && unpublish csi-e2 "$P/e2" &&
	nothing_under "$D" && [ -z "$(ls "$STATE/ephemeral")" ] && [ -z "$(ls "$STATE/stages")" ] &&
	test_wait 10 no_daemons
'

test_expect_success 'an inline volume of a branch is read-write unless asked otherwise' '
	ctx="{\"repo\":\"ds\",\"ref\":\"work\",\"csi.storage.k8s.io/ephemeral\":\"true\"}" &&
	publish csi-w1 "" "$P/w1" "$CAP_RW" false "$ctx" &&
	publish csi-w2 "" "$P/w2" "$CAP_RW" true "$ctx" &&
	daemons_are 2 &&
	echo x >"$P/w1/inline.txt" && test_must_fail touch "$P/w2/y" &&
	unpublish csi-w1 "$P/w1" && unpublish csi-w2 "$P/w2" &&
	t9kfs status ds@work | grep -q inline.txt && nothing_under "$D"
'

# Each bad call: the code, and nothing mounted or created.
bad() {
	local code=$1 method=$2 json=$3
	csi_must_fail "$code" "$method" "$json" >msg || return 1
	nothing_under "$D" || return 1
	! test -e "$P/bad" || { echo "$P/bad was left behind"; return 1; }
	[ -z "$(ls "$STATE/stages")" ] || { echo "a stage was recorded:"; cat "$STATE"/stages/*; return 1; }
}

test_expect_success 'bad input: a clear status, nothing mounted, nothing left behind' '
	mkdir -p "$S/bad" &&
	ok="{\"repo\":\"ds\",\"ref\":\"v1\"}" &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"staging_target_path\":\"$S/bad\",
		\"volume_capability\":$CAP_RO,\"volume_context\":$ok}" &&
	grep -q volume_id msg &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"volume_capability\":$CAP_RO,\"volume_context\":$ok}" &&
	grep -q staging_target_path msg &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"volume_context\":$ok}" &&
	grep -q volume_capability msg &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"volume_capability\":{\"block\":{},
		\"access_mode\":{\"mode\":\"SINGLE_NODE_WRITER\"}},\"volume_context\":$ok}" &&
	grep -q block msg &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"volume_capability\":$CAP_RO,\"volume_context\":{}}" &&
	grep -q repo msg &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"ds\",\"colour\":\"red\"}}" &&
	grep -q colour msg &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"ds\",\"prefetch\":\"lots\"}}" &&
	grep -q prefetch msg &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"volume_capability\":{\"mount\":{\"mount_flags\":
		[\"suid\"]},\"access_mode\":{\"mode\":\"SINGLE_NODE_WRITER\"}},\"volume_context\":$ok}" &&
	grep -q suid msg &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"volume_capability\":$CAP_RO,
		\"volume_context\":{\"repo\":\"../etc\"}}" &&
	bad INVALID_ARGUMENT Node.NodeStageVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"relative/path\",\"volume_capability\":$CAP_RO,
		\"volume_context\":$ok}" &&
	bad NOT_FOUND Node.NodeStageVolume "{\"volume_id\":\"v\",\"staging_target_path\":\"$S/bad\",
		\"volume_capability\":$CAP_RO,\"volume_context\":{\"repo\":\"nosuch\"}}" &&
	grep -q nosuch msg &&
	bad NOT_FOUND Node.NodeStageVolume "{\"volume_id\":\"v\",\"staging_target_path\":\"$S/bad\",
		\"volume_capability\":$CAP_RO,\"volume_context\":{\"repo\":\"ds\",\"ref\":\"v9\"}}" &&
	grep -q v9 msg &&
	bad FAILED_PRECONDITION Node.NodePublishVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"target_path\":\"$P/bad\",
		\"volume_capability\":$CAP_RO,\"volume_context\":$ok}" &&
	bad FAILED_PRECONDITION Node.NodePublishVolume "{\"volume_id\":\"v\",
		\"target_path\":\"$P/bad\",\"volume_capability\":$CAP_RO,\"volume_context\":$ok}" &&
	bad INVALID_ARGUMENT Node.NodePublishVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"volume_capability\":$CAP_RO}" &&
	bad INVALID_ARGUMENT Node.NodePublishVolume "{\"staging_target_path\":\"$S/bad\",
		\"target_path\":\"$P/bad\",\"volume_capability\":$CAP_RO}" &&
	bad INVALID_ARGUMENT Node.NodePublishVolume "{\"volume_id\":\"v\",
		\"staging_target_path\":\"$S/bad\",\"target_path\":\"$P/bad\"}" &&
	bad NOT_FOUND Node.NodePublishVolume "{\"volume_id\":\"e\",\"target_path\":\"$P/bad\",
		\"volume_capability\":$CAP_RO,\"volume_context\":{\"repo\":\"ds\",\"ref\":\"nope\",
		\"csi.storage.k8s.io/ephemeral\":\"true\"}}" &&
	bad NOT_FOUND Node.NodePublishVolume "{\"volume_id\":\"e\",\"target_path\":\"$P/bad\",
		\"volume_capability\":$CAP_RO,\"volume_context\":{\"repo\":\"ds\",\"ref\":\"v1\",
		\"path\":\"train/escape\",\"csi.storage.k8s.io/ephemeral\":\"true\"}}" &&
	bad INVALID_ARGUMENT Node.NodeUnpublishVolume "{\"target_path\":\"$P/bad\"}" &&
	bad INVALID_ARGUMENT Node.NodeUnpublishVolume "{\"volume_id\":\"v\"}" &&
	bad INVALID_ARGUMENT Node.NodeUnstageVolume "{\"staging_target_path\":\"$S/bad\"}" &&
	bad INVALID_ARGUMENT Node.NodeUnstageVolume "{\"volume_id\":\"v\"}" &&
	[ -z "$(ls "$STATE/ephemeral")" ] &&
	unpublish v "$P/never" && unstage v "$S/never"
'

test_expect_success 'a call the driver does not serve is UNIMPLEMENTED' '
	/usr/bin/python3 - "$CSI_SOCK" <<-\EOF
	import grpc, sys
	ch = grpc.insecure_channel("unix://" + sys.argv[1])
	call = ch.unary_unary("/csi.v1.Node/NodeExpandVolume")
	try:
	    call(b"", timeout=10)
	    sys.exit("NodeExpandVolume succeeded")
	except grpc.RpcError as e:
	    assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e
	EOF
'

test_expect_success 'a garbled request is INVALID_ARGUMENT' '
	/usr/bin/python3 - "$CSI_SOCK" <<-\EOF
	import grpc, sys
	ch = grpc.insecure_channel("unix://" + sys.argv[1])
	call = ch.unary_unary("/csi.v1.Node/NodeStageVolume")
	try:
	    call(b"\xff\xff\xff\xff", timeout=10)
	    sys.exit("a garbled request succeeded")
	except grpc.RpcError as e:
	    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
	EOF
'

test_expect_success 'the driver stops cleanly; nothing mounted; logs clean' '
	csi_stop_driver &&
	nothing_under "$D" &&
	csi_logs_clean
'

test_done
