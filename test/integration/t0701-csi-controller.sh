#!/bin/bash
# The CSI Controller service through a real gRPC client, with the real
# metadata service, mounter and FUSE mounts: CreateVolume (a branch with a
# marker commit, its answer, names hashed to valid branches, idempotent
# retries, ALREADY_EXISTS for another volume of the same name, every bad
# request with its code and a message naming the field, nothing created by
# a failed call), DeleteVolume by onDelete and its refusal to drop or
# commit a branch the driver did not make, snapshots (a commit of the
# staged changes plus a tag), DeleteSnapshot, ListSnapshots and its pages,
# ValidateVolumeCapabilities, and the data flow through the Node service:
# files written into a published PVC are in its snapshot, a volume
# restored from that snapshot holds exactly them, a clone holds the
# source's staged files too.
. "$(dirname "$0")/lib-csi.sh"

ST="$D/staging" # staging paths, as kubelet makes them
PODS="$D/pods"  # targets
CAP_BLOCK='{"block":{},"access_mode":{"mode":"SINGLE_NODE_WRITER"}}'
X121=$(printf "%0121d" 0 | tr 0 x)
LONG_A="ns/Vol:${X121}"          # 128 bytes, not a valid branch name
LONG_B="ns/Vol:${X121%x}y"       # the same but for the last byte

# A JSON object of the K=V arguments, all values strings (protobuf's JSON
# takes "5" for an int32 too).
obj() {
	local kv out="" sep=""
	for kv; do
		out="$out$sep\"${kv%%=*}\":\"${kv#*=}\""
		sep=,
	done
	echo "{$out}"
}

# vol_req NAME [K=V...]: a CreateVolumeRequest with these StorageClass
# parameters; these set other fields instead: .cap=BYTES (required_bytes),
# .snapshot=ID and .volume=ID (volume_content_source), .caps=JSON
# (volume_capabilities, default [CAP_RW]).
vol_req() {
	local name=$1 kv p=() more="" caps="[$CAP_RW]"
	shift
	for kv; do
		case $kv in
		.cap=*) more="$more,\"capacity_range\":{\"required_bytes\":${kv#*=}}" ;;
		.snapshot=*) more="$more,\"volume_content_source\":{\"snapshot\":$(obj "snapshot_id=${kv#*=}")}" ;;
		.volume=*) more="$more,\"volume_content_source\":{\"volume\":$(obj "volume_id=${kv#*=}")}" ;;
		.caps=*) caps=${kv#*=} ;;
		*) p+=("$kv") ;;
		esac
	done
	echo "{\"name\":\"$name\",\"volume_capabilities\":$caps,\"parameters\":$(obj ${p[@]+"${p[@]}"})$more}"
}

create() {
	csi Controller.CreateVolume "$(vol_req "$@")"
}
delete_volume() {
	csi Controller.DeleteVolume "$(obj "volume_id=$1")"
}
snapshot() {
	csi Controller.CreateSnapshot "$(obj "name=$1" "source_volume_id=$2")"
}
delete_snapshot() {
	csi Controller.DeleteSnapshot "$(obj "snapshot_id=$1")"
}

# jget PATH: the value at the dotted PATH of the JSON on stdin, a string
# bare, anything else as JSON with sorted keys; fails when it is missing.
jget() {
	/usr/bin/python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split(".") if sys.argv[1] else []:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1"
}

# meta_of REPO@REF KEY: the value of KEY in the metadata of REF's commit.
meta_of() {
	t9kfs log --json -n 1 "$1" | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["commits"][0]["meta"][sys.argv[1]])' "$2"
}

# The snapshot ids of a ListSnapshots answer on stdin, one a line.
snap_ids() {
	/usr/bin/python3 -c '
import json, sys
for e in json.load(sys.stdin).get("entries", []):
    print(e["snapshot"]["snapshot_id"])'
}

# The commit id REPO@REF is at.
head_of() {
	t9kfs log --json -n 1 "$1" | jget commits.0.id
}

# Every repository, each of its branches and tags, and its commit, one a
# line, as the metadata service has them (GET /repos, /repos/R/refs). One
# python3 process, not the CLI: this runs before and after every failing
# call, and each ASan-built t9kfs takes a good part of a second to start.
all_refs() {
	/usr/bin/python3 - "$D/meta.sock" "$T9KFS_HOME/token" <<'PY'
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sys.argv[1])
token = open(sys.argv[2]).read().strip()
def get(path):
    c = Conn("t9kfs")
    c.request("GET", "/api/v1" + path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("GET %s: HTTP %d %s" % (path, r.status, body))
    return json.loads(body)
for repo in get("/repos")["repos"]:
    print(repo["name"])
    for ref in get("/repos/%s/refs" % repo["name"])["refs"]:
        print(repo["name"], ref["name"], ref["commit"])
PY
}

# fails CODE WHAT METHOD JSON: the call fails with gRPC status CODE, its
# message (printed) names WHAT, and no repository, branch or tag appeared,
# went or moved.
fails() {
	local code=$1 what=$2 msg
	shift 2
	all_refs >refs.before || return 1
	msg=$(csi_must_fail "$code" "$@") || { echo "$msg"; return 1; }
	echo "$msg"
	case $msg in
	*"$what"*) ;;
	*) echo "the message does not name '$what'"; return 1 ;;
	esac
	all_refs >refs.after && test_cmp refs.before refs.after
}

# mount_vol NAME ANSWER CAP READONLY: stages the volume of a CreateVolume
# answer (file ANSWER: its id and volume_context) at $ST/NAME and
# publishes it at $PODS/NAME.
mount_vol() {
	local id ctx
	id=$(jget volume.volume_id <"$2") && ctx=$(jget volume.volume_context <"$2") &&
	csi Node.NodeStageVolume "{\"volume_id\":\"$id\",\"staging_target_path\":\"$ST/$1\",
		\"volume_capability\":$3,\"volume_context\":$ctx}" >/dev/null &&
	csi Node.NodePublishVolume "{\"volume_id\":\"$id\",\"staging_target_path\":\"$ST/$1\",
		\"target_path\":\"$PODS/$1\",\"volume_capability\":$3,\"readonly\":$4,
		\"volume_context\":$ctx}" >/dev/null
}
umount_vol() {
	local id
	id=$(jget volume.volume_id <"$2") &&
	csi Node.NodeUnpublishVolume "$(obj "volume_id=$id" "target_path=$PODS/$1")" >/dev/null &&
	csi Node.NodeUnstageVolume "$(obj "volume_id=$id" "staging_target_path=$ST/$1")" >/dev/null
}

test_expect_success 'setup: repository data (tags v1, v2 = main), other, the driver' '
	mkdir -p src/d "$ST" "$PODS" &&
	echo one >src/a && echo two >src/d/b && head -c 300000 /dev/urandom >src/d/big &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m v1 >/dev/null &&
	t9kfs tag create data@v1 >/dev/null &&
	echo three >src/c &&
	t9kfs import src data@main -m v2 >/dev/null && t9kfs tag create data@v2 >/dev/null &&
	t9kfs repo create other >/dev/null &&
	all_refs >refs && grep -q "^data tag/v1 $(head_of data@v1)\$" refs && grep -qx other refs &&
	csi_start_mounter && csi_start_driver
'

test_expect_success 'ControllerGetCapabilities: volumes, snapshots, their list, clones' '
	csi Controller.ControllerGetCapabilities >caps.json &&
	for i in 0 1 2 3; do jget capabilities.$i.rpc.type <caps.json >>types || exit 1; done &&
	test_must_fail jget capabilities.4 <caps.json &&
	printf "%s\n" CLONE_VOLUME CREATE_DELETE_SNAPSHOT CREATE_DELETE_VOLUME LIST_SNAPSHOTS >want &&
	sort types >got && test_cmp want got
'

# ---- CreateVolume ----

test_expect_success 'CreateVolume: branch pvc-NAME from main; id, capacity, volume_context' '
	main=$(head_of data@main) &&
	create vol1 repo=data fromRef=main onDelete=delete cacheGroup=@g1 prefetch=4 \
		.cap=1073741824 >vol1.json &&
	cat vol1.json &&
	test "$(jget volume.volume_id <vol1.json)" = data@pvc-vol1/delete &&
	test "$(jget volume.capacity_bytes <vol1.json)" = 1073741824 &&
	echo "{\"cacheGroup\": \"@g1\", \"prefetch\": \"4\", \"ref\": \"pvc-vol1\", \"repo\": \"data\"}" >want &&
	jget volume.volume_context <vol1.json >got && test_cmp want got &&
	t9kfs log --json -n 1 data@pvc-vol1 >log.json &&
	test "$(jget commits.0.parents <log.json)" = "[\"$main\"]" &&
	t9kfs ls -R data@main >want && t9kfs ls -R data@pvc-vol1 >got && test_cmp want got
'

test_expect_success 'CreateVolume: the marker commit records the volume (log --meta)' '
	t9kfs log --meta -n 1 data@pvc-vol1 >log &&
	cat log &&
	grep -q "^    csi: volume created" log &&
	echo "Meta:   csi.branch=pvc-vol1 csi.capacity=1073741824" \
		"csi.params=cacheGroup=@g1;fromRef=main;onDelete=delete;prefetch=4;repo=data" \
		"csi.source=ref:main csi.volume=vol1" >want &&
	grep "^Meta:" log >got && test_cmp want got
'

test_expect_success 'CreateVolume: fromRef a tag, branchPrefix; a name with the prefix keeps it' '
	create vol2 repo=data fromRef=v1 branchPrefix=team-a- onDelete=retain >vol2.json &&
	test "$(jget volume.volume_id <vol2.json)" = data@team-a-vol2/retain &&
	echo "{\"ref\": \"team-a-vol2\", \"repo\": \"data\"}" >want &&
	jget volume.volume_context <vol2.json >got && test_cmp want got &&
	test_must_fail jget volume.capacity_bytes <vol2.json &&
	t9kfs log --json -n 1 data@team-a-vol2 >log.json &&
	test "$(jget commits.0.parents <log.json)" = "[\"$(head_of data@v1)\"]" &&
	test "$(meta_of data@team-a-vol2 csi.source)" = ref:v1 &&
	t9kfs ls -R data@v1 >want && t9kfs ls -R data@team-a-vol2 >got && test_cmp want got &&
	create pvc-given repo=data >given.json &&
	test "$(jget volume.volume_id <given.json)" = data@pvc-given/delete &&
	t9kfs branch list data >refs && grep -q "^pvc-given " refs && ! grep -q pvc-pvc refs
'

test_expect_success 'CreateVolume: a 128-byte name gets a valid, hashed branch, the same each time' '
	test ${#LONG_A} = 128 &&
	create "$LONG_A" repo=data >long.json &&
	create "$LONG_A" repo=data >long2.json && test_cmp long.json long2.json &&
	create "$LONG_B" repo=data >longb.json &&
	hash=$(printf %s "$LONG_A" | sha256sum | cut -c1-16) &&
	want=$(printf "pvc-%s" "$LONG_A" | tr -c "A-Za-z0-9._-" - | cut -c1-47)-$hash &&
	test ${#want} = 64 &&
	test "$(jget volume.volume_context.ref <long.json)" = "$want" &&
	test "$(jget volume.volume_id <long.json)" = "data@$want/delete" &&
	t9kfs branch list data | grep -q "^$want " &&
	test "$(meta_of "data@$want" csi.volume)" = "$LONG_A" &&
	b=$(jget volume.volume_context.ref <longb.json) &&
	test "$b" != "$want" && t9kfs branch list data | grep -q "^$b "
'

test_expect_success 'CreateVolume again, the same request: the same answer, no new commit' '
	all_refs >before &&
	create vol1 repo=data fromRef=main onDelete=delete cacheGroup=@g1 prefetch=4 \
		.cap=1073741824 >again.json &&
	test_cmp vol1.json again.json &&
	create vol1 prefetch=4 repo=data cacheGroup=@g1 onDelete=delete fromRef=main \
		.cap=1073741824 >again.json &&
	test_cmp vol1.json again.json &&
	all_refs >after && test_cmp before after
'

test_expect_success 'CreateVolume, same name: another capacity, fromRef or parameter is ALREADY_EXISTS' '
	p="repo=data fromRef=main onDelete=delete cacheGroup=@g1 prefetch=4" &&
	fails ALREADY_EXISTS "vol1" Controller.CreateVolume "$(vol_req vol1 $p .cap=2147483648)" &&
	fails ALREADY_EXISTS "vol1" Controller.CreateVolume "$(vol_req vol1 $p)" &&
	fails ALREADY_EXISTS "vol1" Controller.CreateVolume \
		"$(vol_req vol1 repo=data fromRef=v1 onDelete=delete cacheGroup=@g1 prefetch=4 .cap=1073741824)" &&
	fails ALREADY_EXISTS "vol1" Controller.CreateVolume \
		"$(vol_req vol1 repo=data fromRef=main onDelete=delete cacheGroup=@g1 prefetch=8 .cap=1073741824)" &&
	fails ALREADY_EXISTS "vol1" Controller.CreateVolume \
		"$(vol_req vol1 repo=data fromRef=main onDelete=delete prefetch=4 .cap=1073741824)" &&
	fails ALREADY_EXISTS "vol1" Controller.CreateVolume \
		"$(vol_req vol1 repo=data fromRef=main onDelete=retain cacheGroup=@g1 prefetch=4 .cap=1073741824)"
'

test_expect_success 'CreateVolume: a hand-made branch of that name is ALREADY_EXISTS, kept' '
	t9kfs branch create data@pvc-hand --from v1 >/dev/null &&
	fails ALREADY_EXISTS "pvc-hand" Controller.CreateVolume "$(vol_req hand repo=data)" &&
	test "$(head_of data@pvc-hand)" = "$(head_of data@v1)"
'

test_expect_success 'CreateVolume: missing name, capabilities, block access are INVALID_ARGUMENT' '
	fails INVALID_ARGUMENT "name" Controller.CreateVolume "$(vol_req "" repo=data)" &&
	fails INVALID_ARGUMENT "volume_capabilities" Controller.CreateVolume \
		"$(vol_req bad repo=data ".caps=[]")" &&
	fails INVALID_ARGUMENT "block" Controller.CreateVolume \
		"$(vol_req bad repo=data ".caps=[$CAP_BLOCK]")" &&
	fails INVALID_ARGUMENT "block" Controller.CreateVolume \
		"$(vol_req bad repo=data ".caps=[$CAP_RW,$CAP_BLOCK]")"
'

test_expect_success 'CreateVolume: bad parameters are INVALID_ARGUMENT naming the parameter' '
	fails INVALID_ARGUMENT "repo" Controller.CreateVolume "$(vol_req bad prefetch=4)" &&
	fails INVALID_ARGUMENT "colour" Controller.CreateVolume "$(vol_req bad repo=data colour=red)" &&
	fails INVALID_ARGUMENT "onDelete" Controller.CreateVolume \
		"$(vol_req bad repo=data onDelete=shred)" &&
	fails INVALID_ARGUMENT "path=d/../.." Controller.CreateVolume \
		"$(vol_req bad repo=data path=d/../..)" &&
	fails INVALID_ARGUMENT "branchPrefix" Controller.CreateVolume \
		"$(vol_req bad repo=data branchPrefix=a/b)" &&
	fails INVALID_ARGUMENT "prefetch" Controller.CreateVolume \
		"$(vol_req bad repo=data prefetch=lots)" &&
	fails INVALID_ARGUMENT "repo" Controller.CreateVolume "$(vol_req bad repo=no/such)"
'

test_expect_success 'CreateVolume: unknown repo or fromRef is NOT_FOUND naming it' '
	fails NOT_FOUND "nosuchrepo" Controller.CreateVolume "$(vol_req bad repo=nosuchrepo)" &&
	fails NOT_FOUND "nosuchref" Controller.CreateVolume \
		"$(vol_req bad repo=data fromRef=nosuchref)" &&
	fails NOT_FOUND "main~9" Controller.CreateVolume "$(vol_req bad repo=data fromRef=main~9)" &&
	! t9kfs repo list | grep -q nosuchrepo
'

# ---- DeleteVolume ----

test_expect_success 'DeleteVolume, onDelete=delete: the branch and its staged changes go' '
	create vdel repo=data onDelete=delete >vdel.json &&
	echo staged >f && t9kfs put f data@pvc-vdel:staged.txt >/dev/null &&
	t9kfs status data@pvc-vdel | grep -q staged.txt &&
	main=$(head_of data@main) &&
	delete_volume data@pvc-vdel/delete >out && test "$(cat out)" = "{}" &&
	! t9kfs branch list data | grep -q "^pvc-vdel " &&
	test_must_fail t9kfs status data@pvc-vdel 2>err && grep -q pvc-vdel err &&
	t9kfs branch create data@pvc-vdel >/dev/null &&
	t9kfs status data@pvc-vdel >st && grep -q "nothing staged" st &&
	t9kfs branch delete data@pvc-vdel >/dev/null &&
	test "$(head_of data@main)" = "$main" &&
	delete_volume data@pvc-vdel/delete >out && test "$(cat out)" = "{}"
'

test_expect_success 'DeleteVolume, onDelete=retain: the branch and its staged changes stay' '
	create vret repo=data onDelete=retain >vret.json &&
	echo kept >f && t9kfs put f data@pvc-vret:kept.txt >/dev/null &&
	head=$(head_of data@pvc-vret) &&
	delete_volume data@pvc-vret/retain >/dev/null &&
	delete_volume data@pvc-vret/retain >/dev/null &&
	test "$(head_of data@pvc-vret)" = "$head" &&
	t9kfs status data@pvc-vret | grep -q kept.txt
'

test_expect_success 'DeleteVolume, onDelete=commit: staged changes committed, the branch kept' '
	create vcom repo=data onDelete=commit >vcom.json &&
	echo committed >f && t9kfs put f data@pvc-vcom:c.txt >/dev/null &&
	marker=$(head_of data@pvc-vcom) &&
	delete_volume data@pvc-vcom/commit >/dev/null &&
	t9kfs log --json -n 1 data@pvc-vcom >log.json &&
	test "$(jget commits.0.parents <log.json)" = "[\"$marker\"]" &&
	test "$(t9kfs cat data@pvc-vcom:c.txt)" = committed &&
	t9kfs status data@pvc-vcom | grep -q "nothing staged" &&
	head=$(head_of data@pvc-vcom) &&
	delete_volume data@pvc-vcom/commit >/dev/null &&
	test "$(head_of data@pvc-vcom)" = "$head"
'

test_expect_success 'DeleteVolume: a missing volume or a malformed id is OK; no id is INVALID_ARGUMENT' '
	all_refs >before &&
	for id in data@pvc-never/delete data@pvc-never/commit nosuchrepo@pvc-x/delete \
		garbage data@pvc-vol1 data@pvc-vol1/shred @x/delete "data@a b/delete"; do
		delete_volume "$id" >out && test "$(cat out)" = "{}" || { echo "$id"; exit 1; }
	done &&
	all_refs >after && test_cmp before after &&
	fails INVALID_ARGUMENT "volume_id" Controller.DeleteVolume "{}"
'

test_expect_success 'DeleteVolume never drops a branch it did not make (FAILED_PRECONDITION)' '
	t9kfs branch create data@pvc-copy --from pvc-vol1 >/dev/null &&
	fails FAILED_PRECONDITION "main" Controller.DeleteVolume "$(obj volume_id=data@main/delete)" &&
	fails FAILED_PRECONDITION "pvc-hand" Controller.DeleteVolume \
		"$(obj volume_id=data@pvc-hand/delete)" &&
	fails FAILED_PRECONDITION "pvc-copy" Controller.DeleteVolume \
		"$(obj volume_id=data@pvc-copy/delete)" &&
	t9kfs branch list data >refs && grep -q "^main " refs && grep -q "^pvc-hand " refs &&
	grep -q "^pvc-copy " refs && grep -q "^pvc-vol1 " refs
'

test_expect_success 'DeleteVolume, onDelete=commit, never commits a branch it did not make' '
	echo wip >f && t9kfs put f data@main:wip.txt >/dev/null &&
	main=$(head_of data@main) &&
	fails FAILED_PRECONDITION "main" Controller.DeleteVolume "$(obj volume_id=data@main/commit)" &&
	test "$(head_of data@main)" = "$main" &&
	t9kfs status data@main | grep -q wip.txt &&
	t9kfs reset data@main >/dev/null
'

# ---- snapshots ----

test_expect_success 'CreateSnapshot: commits the staged changes, tags snap-NAME, ready' '
	echo s1 >f && t9kfs put f data@pvc-vol1:s1.txt >/dev/null &&
	marker=$(head_of data@pvc-vol1) &&
	t0=$(date +%s) &&
	snapshot s1 data@pvc-vol1/delete >s1.json &&
	cat s1.json &&
	commit=$(head_of data@pvc-vol1) && test "$commit" != "$marker" &&
	test "$(jget snapshot.snapshot_id <s1.json)" = "data@$commit" &&
	test "$(jget snapshot.source_volume_id <s1.json)" = data@pvc-vol1/delete &&
	test "$(jget snapshot.ready_to_use <s1.json)" = true &&
	t=$(date -d "$(jget snapshot.creation_time <s1.json)" +%s) &&
	test "$t" -ge "$((t0 - 1))" && test "$t" -le "$(($(date +%s) + 1))" &&
	t9kfs tag list data | grep -q "^snap-s1 *${commit:0:12}" &&
	test "$(t9kfs cat data@snap-s1:s1.txt)" = s1 &&
	t9kfs status data@pvc-vol1 | grep -q "nothing staged" &&
	t9kfs log --json -n 1 data@snap-s1 >log.json &&
	test "$(jget commits.0.meta <log.json)" = \
		"{\"csi.snapshot\": \"s1\", \"csi.snapshot.source\": \"data@pvc-vol1/delete\"}"
'

test_expect_success 'CreateSnapshot again: the same answer, no new commit' '
	all_refs >before &&
	snapshot s1 data@pvc-vol1/delete >again.json && test_cmp s1.json again.json &&
	echo more >f && t9kfs put f data@pvc-vol1:more.txt >/dev/null &&
	snapshot s1 data@pvc-vol1/delete >again.json && test_cmp s1.json again.json &&
	all_refs >after && test_cmp before after &&
	t9kfs status data@pvc-vol1 | grep -q more.txt
'

test_expect_success 'CreateSnapshot: the name for another source is ALREADY_EXISTS' '
	fails ALREADY_EXISTS "s1" Controller.CreateSnapshot \
		"$(obj name=s1 source_volume_id=data@team-a-vol2/retain)" &&
	t9kfs tag create data@snap-byhand --from v1 >/dev/null &&
	fails ALREADY_EXISTS "byhand" Controller.CreateSnapshot \
		"$(obj name=byhand source_volume_id=data@pvc-vol1/delete)"
'

test_expect_success 'CreateSnapshot: unknown source NOT_FOUND, missing fields INVALID_ARGUMENT' '
	for src in data@pvc-never/delete nosuchrepo@pvc-x/delete garbage; do
		fails NOT_FOUND "$src" Controller.CreateSnapshot "$(obj name=s9 source_volume_id=$src)" ||
			exit 1
	done &&
	fails INVALID_ARGUMENT "name" Controller.CreateSnapshot \
		"$(obj source_volume_id=data@pvc-vol1/delete)" &&
	fails INVALID_ARGUMENT "source_volume_id" Controller.CreateSnapshot "$(obj name=s9)"
'

test_expect_success 'ListSnapshots by snapshot_id, by source_volume_id, all' '
	snapshot s2 data@pvc-vol1/delete >s2.json &&
	snapshot s3 data@team-a-vol2/retain >s3.json &&
	create ovol repo=other >ovol.json &&
	snapshot os1 other@pvc-ovol/delete >os1.json &&
	for s in s1 s2 s3 os1; do jget snapshot.snapshot_id <$s.json; done | sort >all.ids &&
	csi Controller.ListSnapshots "$(obj "snapshot_id=$(jget snapshot.snapshot_id <s2.json)")" >l.json &&
	jget entries <l.json >got && echo "[$(cat s2.json)]" | jget "" >want && test_cmp want got &&
	csi Controller.ListSnapshots "$(obj source_volume_id=data@pvc-vol1/delete)" >l.json &&
	snap_ids <l.json | sort >got &&
	for s in s1 s2; do jget snapshot.snapshot_id <$s.json; done | sort >want && test_cmp want got &&
	csi Controller.ListSnapshots >l.json &&
	snap_ids <l.json | sort >got && test_cmp all.ids got &&
	test_must_fail jget next_token <l.json &&
	csi Controller.ListSnapshots >again.json && test_cmp l.json again.json
'

test_expect_success 'ListSnapshots: unknown ids give no entries' '
	zero=$(printf "%064d" 0) &&
	for q in "snapshot_id=data@$zero" "snapshot_id=nosuchrepo@$zero" snapshot_id=garbage \
		"snapshot_id=$(jget snapshot.snapshot_id <s1.json)&source_volume_id=data@team-a-vol2/retain" \
		source_volume_id=data@pvc-never/delete source_volume_id=nosuchrepo@x/delete \
		source_volume_id=garbage; do
		csi Controller.ListSnapshots "$(obj ${q//&/ })" >l.json &&
		test "$(cat l.json)" = "{}" || { echo "$q: $(cat l.json)"; exit 1; }
	done
'

test_expect_success 'ListSnapshots: pages of max_entries follow next_token to the end' '
	tok="" && : >got &&
	for i in 1 2 3 4 5; do
		csi Controller.ListSnapshots "$(obj max_entries=1 ${tok:+starting_token=$tok})" >l.json &&
		snap_ids <l.json >ids && test "$(wc -l <ids)" = 1 && cat ids >>got || exit 1
		tok=$(jget next_token <l.json 2>/dev/null) || break
	done &&
	test "$i" = 4 &&
	sort got >got.sorted && test_cmp all.ids got.sorted &&
	csi Controller.ListSnapshots "$(obj max_entries=3)" >l.json &&
	test "$(jget next_token <l.json)" = 3 &&
	csi Controller.ListSnapshots "$(obj max_entries=3 starting_token=3)" >l.json &&
	test_must_fail jget next_token <l.json &&
	test "$(jget entries.0.snapshot.snapshot_id <l.json)" = "$(sed -n 4p got)"
'

test_expect_success 'ListSnapshots: a bad starting_token is ABORTED, negative max_entries INVALID' '
	fails ABORTED "starting_token" Controller.ListSnapshots "$(obj starting_token=zzz)" &&
	fails ABORTED "starting_token" Controller.ListSnapshots "$(obj starting_token=99)" &&
	fails INVALID_ARGUMENT "max_entries" Controller.ListSnapshots "$(obj max_entries=-1)"
'

test_expect_success 'DeleteSnapshot drops the tag only; the commit stays; retries are OK' '
	id=$(jget snapshot.snapshot_id <s2.json) && commit=${id#data@} &&
	head=$(head_of data@pvc-vol1) &&
	delete_snapshot "$id" >out && test "$(cat out)" = "{}" &&
	! t9kfs tag list data | grep -q "^snap-s2 " &&
	t9kfs tag list data | grep -q "^snap-s1 " &&
	test "$(head_of data@pvc-vol1)" = "$head" &&
	test "$(t9kfs cat data@$commit:s1.txt)" = s1 &&
	csi Controller.ListSnapshots "$(obj snapshot_id=$id)" >l.json && test "$(cat l.json)" = "{}" &&
	delete_snapshot "$id" >out && test "$(cat out)" = "{}" &&
	all_refs >before &&
	delete_snapshot "data@$(printf "%064d" 0)" >/dev/null && delete_snapshot garbage >/dev/null &&
	all_refs >after && test_cmp before after &&
	fails INVALID_ARGUMENT "snapshot_id" Controller.DeleteSnapshot "{}"
'

test_expect_success 'DeleteSnapshot leaves a tag that no longer names the snapshot' '
	id=$(jget snapshot.snapshot_id <s3.json) &&
	t9kfs tag delete data@snap-s3 >/dev/null &&
	t9kfs tag create data@snap-s3 --from v1 >/dev/null &&
	delete_snapshot "$id" >/dev/null &&
	t9kfs tag list data | grep -q "^snap-s3 "
'

test_expect_success 'CreateVolume from a snapshot or volume that does not exist is NOT_FOUND' '
	zero=$(printf "%064d" 0) &&
	for sid in "data@$zero" garbage "$(jget snapshot.snapshot_id <s2.json)" \
		"$(head_of data@main | sed "s/^/data@/")"; do
		fails NOT_FOUND "$sid" Controller.CreateVolume "$(vol_req bad repo=data .snapshot=$sid)" ||
			exit 1
	done &&
	for vid in data@pvc-never/delete garbage nosuchrepo@x/delete; do
		fails NOT_FOUND "$vid" Controller.CreateVolume "$(vol_req bad repo=data .volume=$vid)" ||
			exit 1
	done
'

test_expect_success 'CreateVolume from a snapshot or volume of another repository is INVALID_ARGUMENT' '
	fails INVALID_ARGUMENT "other" Controller.CreateVolume \
		"$(vol_req bad repo=data .snapshot=$(jget snapshot.snapshot_id <os1.json))" &&
	fails INVALID_ARGUMENT "other" Controller.CreateVolume \
		"$(vol_req bad repo=data .volume=other@pvc-ovol/delete)"
'

# ---- the data flow through the Node service ----

test_expect_success 'a PVC staged and published read-write shows fromRef, takes writes' '
	create flow repo=data fromRef=v2 >flow.json &&
	mount_vol flow flow.json "$CAP_RW" false &&
	t9kfs_mounts >mounts && grep -qx "$ST/flow" mounts && grep -qx "$PODS/flow" mounts &&
	diff -r src "$PODS/flow" &&
	cp -a src local && head -c 400000 /dev/urandom >blob &&
	for t in local "$PODS/flow"; do
		echo new >"$t/new.txt" && echo changed >"$t/a" && rm "$t/c" &&
		mkdir -p "$t/dir/sub" && cp blob "$t/dir/sub/blob" || exit 1
	done &&
	diff -r local "$PODS/flow" &&
	t9kfs status data@pvc-flow >st && cat st &&
	for p in new.txt a c dir/sub/blob; do grep -q " $p\$" st || exit 1; done
'

test_expect_success 'CreateSnapshot of the PVC: its commit holds exactly the files written' '
	snapshot flow-snap data@pvc-flow/delete >fs.json &&
	id=$(jget snapshot.snapshot_id <fs.json) && commit=${id#data@} &&
	test "$(head_of data@pvc-flow)" = "$commit" &&
	t9kfs status data@pvc-flow | grep -q "nothing staged" &&
	(cd local && find . -mindepth 1 \( -type d -printf "%P/\n" -o -printf "%P\n" \)) |
		sort >want && t9kfs ls -R data@$commit | sort >got && test_cmp want got &&
	t9kfs export data@$commit exported >/dev/null && diff -r local exported
'

test_expect_success 'CreateVolume from the snapshot, read-only: exactly the snapshot files' '
	id=$(jget snapshot.snapshot_id <fs.json) &&
	create restored repo=data .snapshot=$id >restored.json &&
	test "$(jget volume.content_source.snapshot.snapshot_id <restored.json)" = "$id" &&
	t9kfs log --json -n 1 data@pvc-restored >log.json &&
	test "$(jget commits.0.parents <log.json)" = "[\"${id#data@}\"]" &&
	test "$(meta_of data@pvc-restored csi.source)" = "snapshot:$id" &&
	create restored repo=data .snapshot=$id >again.json && test_cmp restored.json again.json &&
	mount_vol restored restored.json "$CAP_RO" true &&
	diff -r local "$PODS/restored" &&
	test_must_fail touch "$PODS/restored/x" 2>err && grep -q "Read-only" err
'

test_expect_success 'a clone of the volume holds its staged files too' '
	echo later >"$PODS/flow/later.txt" && rm "$PODS/flow/new.txt" &&
	cp -a local local2 && echo later >local2/later.txt && rm local2/new.txt &&
	t9kfs status data@pvc-flow | grep -q later.txt &&
	create clone repo=data .volume=data@pvc-flow/delete >clone.json &&
	test "$(jget volume.content_source.volume.volume_id <clone.json)" = data@pvc-flow/delete &&
	test "$(meta_of data@pvc-clone csi.source)" = volume:data@pvc-flow/delete &&
	mount_vol clone clone.json "$CAP_RW" false &&
	diff -r local2 "$PODS/clone" && diff -r local2 "$PODS/flow"
'

test_expect_success 'a clone retried, or refused, leaves the source volume alone' '
	echo again >"$PODS/flow/again.txt" &&
	all_refs >before &&
	create clone repo=data .volume=data@pvc-flow/delete >again.json &&
	test_cmp clone.json again.json &&
	all_refs >after && test_cmp before after &&
	fails ALREADY_EXISTS "clone" Controller.CreateVolume \
		"$(vol_req clone repo=data prefetch=2 .volume=data@pvc-flow/delete)" &&
	t9kfs status data@pvc-flow | grep -q again.txt &&
	test ! -e "$PODS/clone/again.txt"
'

test_expect_success 'ValidateVolumeCapabilities confirms mount capabilities' '
	id=$(jget volume.volume_id <flow.json) && ctx=$(jget volume.volume_context <flow.json) &&
	csi Controller.ValidateVolumeCapabilities "{\"volume_id\":\"$id\",
		\"volume_capabilities\":[$CAP_RW,$CAP_RO],\"volume_context\":$ctx}" >v.json &&
	cat v.json &&
	test_must_fail jget message <v.json &&
	echo "[$CAP_RW,$CAP_RO]" | jget "" >want && jget confirmed.volume_capabilities <v.json >got &&
	test_cmp want got &&
	echo "$ctx" | jget "" >want && jget confirmed.volume_context <v.json >got && test_cmp want got
'

test_expect_success 'ValidateVolumeCapabilities: block or a bad context is not confirmed' '
	id=$(jget volume.volume_id <flow.json) &&
	csi Controller.ValidateVolumeCapabilities "{\"volume_id\":\"$id\",
		\"volume_capabilities\":[$CAP_RW,$CAP_BLOCK]}" >v.json &&
	cat v.json && test_must_fail jget confirmed <v.json && jget message <v.json | grep -q block &&
	csi Controller.ValidateVolumeCapabilities "{\"volume_id\":\"$id\",
		\"volume_capabilities\":[$CAP_RW],\"volume_context\":{\"repo\":\"data\",\"colour\":\"red\"}}" >v.json &&
	cat v.json && test_must_fail jget confirmed <v.json && jget message <v.json | grep -q colour
'

test_expect_success 'ValidateVolumeCapabilities: unknown volume NOT_FOUND, no capabilities INVALID' '
	for id in data@pvc-never/delete nosuchrepo@x/delete garbage; do
		fails NOT_FOUND "$id" Controller.ValidateVolumeCapabilities \
			"{\"volume_id\":\"$id\",\"volume_capabilities\":[$CAP_RW]}" || exit 1
	done &&
	fails INVALID_ARGUMENT "volume_capabilities" Controller.ValidateVolumeCapabilities \
		"$(obj volume_id=data@pvc-flow/delete)" &&
	fails INVALID_ARGUMENT "volume_id" Controller.ValidateVolumeCapabilities \
		"{\"volume_capabilities\":[$CAP_RW]}"
'

# ---- the end ----

test_expect_success 'unpublish and unstage everything: no t9kfs mount is left' '
	for v in flow restored clone; do umount_vol $v $v.json || exit 1; done &&
	test -z "$(t9kfs_mounts)" &&
	test -z "$(find "$ST" "$PODS" -mindepth 1)"
'

test_expect_success 'DeleteVolume of the data-flow volumes drops their branches' '
	for v in flow restored clone; do delete_volume "$(jget volume.volume_id <$v.json)" >/dev/null ||
		exit 1; done &&
	t9kfs branch list data >refs && cat refs &&
	! grep -q -e "^pvc-flow " -e "^pvc-restored " -e "^pvc-clone " refs &&
	t9kfs tag list data | grep -q "^snap-flow-snap "
'

test_expect_success 'no sanitizer report in any log' '
	csi_stop_driver &&
	csi_logs_clean
'

test_done
