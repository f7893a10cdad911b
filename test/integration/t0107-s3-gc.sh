#!/bin/bash
# gc on a real S3 server (Ceph RGW), with packs, through a fault-injecting
# proxy on loopback that fails every listing page after the first: a
# deleted branch's packs go whole after their chunk index entries (a
# re-import then uploads again instead of pointing at a deleted pack) and
# exactly what `du` predicted is freed; chunks that died inside a pack
# that lives are reported, not lost; every ref reads back (export, a
# mount); an import and a branch mount write during a run lose nothing;
# kill -9 of the service mid-run, then another run; and a listing error
# mid-run deletes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-gc.sh"

export T9KFS_AUTHOR=tester
PROXY=$TOP/test/integration/s3-fault-proxy.py
plog=$TEST_DIR/proxy.log
/usr/bin/python3 "$PROXY" --upstream "${S3_ENDPOINT##*:}" --port-file "$TEST_DIR/proxy.port" \
	--log "$plog" --rule "500:continuation-token:1000000" </dev/null >"$TEST_DIR/proxy.out" 2>&1 &
proxy_pid=$!
test_cleanup "kill $proxy_pid; wait $proxy_pid"
test_wait 10 test -s "$TEST_DIR/proxy.port" || exit 1
proxy=http://127.0.0.1:$(cat "$TEST_DIR/proxy.port")
URL="s3://$S3_BUCKET/repos/gs?endpoint=$proxy&deadline=3&timeout=2"
count() { store_tool "$(s3_url repos/gs)" count "$1"; }

test_expect_success 'setup: a repository with packs, behind the proxy' '
	t9kfs repo create gs --store "$URL" --min 64K --avg 256K --max 1M --pack-size 4M >/dev/null &&
	t9kfs retention set gs --min-grace 0 >/dev/null &&
	mkdir -p src/a src2 &&
	for i in $(seq 10); do seeded 6000 $i >src/a/f$i; done &&
	seeded 6000000 100 >src/big1 &&
	t9kfs import src gs@main -m v1 >/dev/null &&
	t9kfs branch create gs@exp >/dev/null &&
	seeded 9000000 200 >src2/u && seeded 7000 201 >src2/small &&
	t9kfs import src2 gs@exp:more -m exp >/dev/null &&
	[ "$(count packs/)" -ge 4 ]
'

test_expect_success 'a deleted branch: its packs go whole, du predicted the bytes' '
	t9kfs du gs@exp --json >du.json &&
	ub=$(jq_ du.json "d[\"ref\"][\"unique\"][\"bytes\"]") &&
	[ "$ub" -gt 9000000 ] &&
	packs=$(count packs/) &&
	t9kfs branch delete gs@exp >/dev/null &&
	gc_json res.json gs --grace 0 &&
	[ "$(jq_ res.json "d[\"ok\"]")" = true ] &&
	[ "$(jq_ res.json "d[\"deleted\"][\"bytes\"]")" = "$ub" ] &&
	dp=$(jq_ res.json "d[\"deleted\"][\"packs\"][\"objects\"]") && [ "$dp" -ge 2 ] &&
	[ "$(count packs/)" = $((packs - dp)) ] &&
	[ "$(jq_ res.json "d[\"index_entries_dropped\"]")" -ge 9 ] &&
	[ "$(jq_ res.json "d[\"store\"][\"requests\"]")" -lt 100 ]
'

test_expect_success 'what remains reads back; a re-import stores the dropped chunks again' '
	t9kfs export gs@main out1 >/dev/null && diff -r src out1 &&
	mount_t9kfs gs@main mnt && diff -r src mnt && umount_t9kfs mnt &&
	t9kfs import src2 gs@main:again -m again >/dev/null &&
	t9kfs export gs@main:again out2 >/dev/null && diff -r src2 out2
'

test_expect_success 'chunks that died in a pack that lives: reported, the live ones kept' '
	t9kfs branch create gs@y >/dev/null &&
	mkdir -p ab aonly && seeded 5000000 300 >ab/C && head -c 2500000 ab/C >aonly/A &&
	t9kfs import ab gs@y -m ab >/dev/null &&
	t9kfs import aonly gs@main:aonly -m a >/dev/null &&
	t9kfs branch delete gs@y >/dev/null &&
	gc_json res.json gs --grace 0 &&
	[ "$(jq_ res.json "d[\"packs\"][\"dead_bytes_in_live\"]")" -ge 1000000 ] &&
	t9kfs export gs@main:aonly out3 >/dev/null && cmp aonly/A out3/A
'

test_expect_success 'an import and a branch mount write during a run lose nothing' '
	t9kfs branch create gs@junk >/dev/null && t9kfs branch create gs@live >/dev/null &&
	mkdir -p j && seeded 3000000 400 >j/j1 && t9kfs import j gs@junk -m j >/dev/null &&
	t9kfs branch delete gs@junk >/dev/null &&
	mkdir -p big && for i in $(seq 8); do seeded 1500000 $((500 + i)) >big/f$i; done &&
	seeded 12000000 600 >big/large && seeded 6000000 700 >w.bin &&
	sleep 5 &&
	mount_t9kfs gs@main mntw
	{ t9kfs import big gs@live -m live >imp.log 2>&1; echo $? >imp.rc; } &
	{ cp w.bin mntw/w.bin && sync -f mntw/w.bin; echo $? >cp.rc; } &
	sleep 0.5 &&
	gc_json res.json gs --grace 4s &&
	wait &&
	[ "$(cat imp.rc)" = 0 ] && [ "$(cat cp.rc)" = 0 ] &&
	[ "$(jq_ res.json "d[\"deleted\"][\"bytes\"]")" -ge 3000000 ] &&
	echo "kept by grace: $(jq_ res.json "d[\"kept_by_grace\"]")" &&
	umount_t9kfs mntw &&
	t9kfs commit gs@main -m w >/dev/null &&
	gc_json res2.json gs --grace 0 &&
	t9kfs export gs@live out4 >/dev/null && for f in big/*; do cmp "$f" "out4/${f#big/}" || exit 1; done &&
	t9kfs export gs@main out5 >/dev/null && cmp w.bin out5/w.bin && cmp src/big1 out5/big1
'

test_expect_success 'kill -9 of the service mid-run, then another run: all reachable reads back' '
	t9kfs branch create gs@z >/dev/null &&
	mkdir -p zz && seeded 5000000 800 >zz/z && t9kfs import zz gs@z -m z >/dev/null &&
	t9kfs branch delete gs@z >/dev/null &&
	t9kfs server stop >/dev/null && T9KFS_GC_TEST_PAUSE_MS=3000 t9kfs server start >/dev/null &&
	t9kfs gc gs --grace 0 --no-wait >/dev/null &&
	sweeping() { t9kfs gc --status gs --json | grep -q "\"phase\": \"deleting\""; } &&
	test_wait 30 sweeping &&
	kill -9 "$(cat "$T9KFS_HOME/server.pid")" &&
	t9kfs server start >/dev/null &&
	t9kfs export gs@main out6 >/dev/null && cmp src/big1 out6/big1 &&
	gc_json res.json gs --grace 0 &&
	[ "$(jq_ res.json "d[\"ok\"]")" = true ] &&
	t9kfs export gs@main out7 >/dev/null && diff -r out6 out7 &&
	t9kfs du gs --json >du.json && [ "$(jq_ du.json "d[\"garbage\"][\"objects\"]")" = 0 ]
'

test_expect_success 'a listing error mid-run (a failed page) deletes nothing' '
	t9kfs branch create gs@g2 >/dev/null && t9kfs import j gs@g2 -m g2 >/dev/null &&
	t9kfs branch delete gs@g2 >/dev/null &&
	store_tool "$(s3_url repos/gs)" put-many junk 1100 8 &&
	before=$(count "") &&
	test_must_fail t9kfs gc gs --grace 0 >out 2>err &&
	grep -q "stopped before deleting anything: listing the store" err &&
	grep -q " 500 GET .*continuation-token" "$plog" &&
	[ "$(count "")" = "$before" ] &&
	t9kfs gc --status gs --json >st.json &&
	[ "$(jq_ st.json "d[\"last\"][\"deleted\"][\"objects\"]")" = 0 ] &&
	t9kfs export gs@main out8 >/dev/null && diff -r out7 out8
'

test_done
