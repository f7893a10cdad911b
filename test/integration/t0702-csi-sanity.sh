#!/bin/bash
# CSI conformance: csi-sanity v5.3.1, the Kubernetes CSI project's suite
# (built offline from ../shared/vendor/csi-test-5.3.1 with Debian's
# golang-go), against the driver serving the Controller and Node services
# on one socket, with real mounts, a real mounter and metadata service.
# Specs it skips by itself (the driver does not claim the capability):
# ListVolumes, GetCapacity, ControllerPublish/Unpublish, expansion,
# ModifyVolume, group snapshots, ControllerGetVolume, node attach limits.
. "$(dirname "$0")/lib-csi.sh"

SANITY="$TOP/../shared/tools/csi-sanity"
[ -x "$SANITY" ] || skip_all "$SANITY is not here (the project's shared tools)"
command -v go >/dev/null || skip_all "golang-go is not installed (scripts/install-deps.sh)"

test_expect_success 'build csi-sanity' '
	"$SANITY" "$TOP/build/csi-sanity" >/dev/null
'

test_expect_success 'setup: a repository, the mounter and the driver' '
	mkdir -p src && echo data >src/f && head -c 300000 /dev/urandom >src/big &&
	t9kfs repo create sanity >/dev/null &&
	t9kfs import src sanity@main -m v1 >/dev/null &&
	printf "repo: sanity\n" >"$D/params.yaml" &&
	csi_start_mounter && csi_start_driver
'

exec 3>&1
test_expect_success 'csi-sanity passes' '
	mkdir -p "$D/sanity" &&
	"$SANITY" "$TOP/build/csi-sanity" --csi.endpoint "unix://$CSI_SOCK" \
		--csi.mountdir "$D/sanity/mount" --csi.stagingdir "$D/sanity/staging" \
		--csi.testvolumeparameters "$D/params.yaml" \
		--ginkgo.no-color --ginkgo.junit-report "$D/sanity.xml" >"$D/sanity.out" 2>&1 ||
		{ grep -E "^\s*\[FAIL\]|FAIL!|Ran [0-9]+" "$D/sanity.out"; tail -n 80 "$D/sanity.out"; false; } &&
	grep -q "SUCCESS!" "$D/sanity.out" &&
	grep -E "^Ran [0-9]+ of [0-9]+ Specs" "$D/sanity.out" | sed "s/^/# /" >&3 &&
	/usr/bin/python3 - "$D/sanity.xml" >&3 <<-\EOF
	import sys, xml.etree.ElementTree as ET
	skipped = sorted({" ".join(c.get("name").replace("[It] ", "").split())
	                  for c in ET.parse(sys.argv[1]).iter("testcase")
	                  if c.find("skipped") is not None})
	print("# skipped by csi-sanity (a capability the driver does not claim):")
	for name in skipped:
	    print("#   " + name)
	EOF
'

test_expect_success 'nothing is left mounted, no sanitizer report' '
	csi_stop_driver &&
	[ -z "$(t9kfs_mounts)" ] &&
	csi_logs_clean
'

test_done
