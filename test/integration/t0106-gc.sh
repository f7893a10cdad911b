#!/bin/bash
# gc and retention on a file:// store, through the local server: a deleted
# branch's objects go and exactly what `du` predicted is freed; every ref
# still reads back byte for byte (export and a mount); a dry run deletes
# nothing; retention keeps exactly what the rules say over a table of
# branches, tags and commit ages (dated commits); a collected commit's
# data gives one clear error in export, cat and mount, its history stays;
# the grace period keeps what an import and a branch mount write during
# runs; a small --max-memory spills and completes; a second run is
# refused while one runs; kill -9 of the service mid-sweep, then another
# run: everything reachable reads back; a missing object stops a run
# before any delete; bad input changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-gc.sh"

export T9KFS_AUTHOR=tester
STORE=$T9KFS_HOME/store
objects() { find "$STORE/$1" -type f ! -name '.*' | wc -l; }
age_store() { find "$STORE/$1" -type f -exec touch -d '3 hours ago' {} +; }

test_expect_success 'setup: a repository with shared and unique data' '
	t9kfs repo create g >/dev/null &&
	t9kfs retention set g --min-grace 0 >/dev/null &&
	mkdir -p src/a src2/dir &&
	for i in $(seq 20); do seeded 6000 $i >src/a/f$i; done &&
	seeded 6000000 100 >src/big && echo small >src/small &&
	t9kfs import src g@main -m v1 >/dev/null &&
	t9kfs tag create g@v1 >/dev/null &&
	t9kfs branch create g@exp >/dev/null &&
	seeded 3000000 200 >src2/u1 && cp src/a/f1 src2/shared &&
	for i in 1 2 3 4 5; do seeded 7000 $((300 + i)) >src2/dir/x$i; done &&
	t9kfs import src2 g@exp:more -m exp >/dev/null
'

test_expect_success 'deleting a branch frees exactly what du predicted' '
	t9kfs du g@exp --json >du.json &&
	ub=$(jq_ du.json "d[\"ref\"][\"unique\"][\"bytes\"]") &&
	uo=$(jq_ du.json "d[\"ref\"][\"unique\"][\"objects\"]") &&
	[ "$uo" -ge 7 ] && [ "$ub" -gt 3000000 ] &&
	before=$(objects g) &&
	t9kfs branch delete g@exp >/dev/null &&
	gc_json res.json g --grace 0 &&
	[ "$(jq_ res.json "d[\"ok\"]")" = true ] &&
	[ "$(jq_ res.json "d[\"deleted\"][\"bytes\"]")" = "$ub" ] &&
	[ "$(jq_ res.json "d[\"deleted\"][\"objects\"]")" = "$uo" ] &&
	[ "$(objects g)" = $((before - uo)) ] &&
	t9kfs du g --json >du2.json &&
	[ "$(jq_ du2.json "d[\"garbage\"][\"objects\"]")" = 0 ]
'

test_expect_success 'every remaining ref reads back byte for byte: export and a mount' '
	t9kfs export g@main out1 >/dev/null && diff -r src out1 &&
	t9kfs export g@v1 out2 >/dev/null && diff -r src out2 &&
	mount_t9kfs g@v1 mnt && diff -r src mnt && umount_t9kfs mnt
'

test_expect_success 'a dry run deletes nothing and says what a run deletes' '
	t9kfs branch create g@junk >/dev/null &&
	mkdir -p src3 && for i in 1 2 3; do seeded 9000 $((400 + i)) >src3/j$i; done &&
	t9kfs import src3 g@junk -m junk >/dev/null &&
	t9kfs branch delete g@junk >/dev/null &&
	before=$(objects g) &&
	gc_json dry.json g --grace 0 --dry-run &&
	would=$(jq_ dry.json "d[\"would_delete\"][\"objects\"]") &&
	[ "$would" -ge 5 ] && [ "$(objects g)" = "$before" ] &&
	t9kfs gc g --grace 0 --dry-run >dry.txt && grep -q "^would delete $would objects" dry.txt &&
	gc_json res.json g --grace 0 &&
	[ "$(jq_ res.json "d[\"deleted\"][\"objects\"]")" = "$would" ] &&
	[ "$(objects g)" = $((before - would)) ]
'

# A table of commits by age (dated commits: the fake clock):
#   main:     c100 - c10 - c8 - c5 - c3 - c1 - c0      (days ago; c0 an hour)
#   ckpt-1:   from c10: k9 - k7 - k6
#   old-exp:  from c100: x40                           (stale: deleted)
#   tags:     v-old at c100 (expires), v-new at c8 (kept)
# Rules: last 2, or younger than 4 days; ckpt-* only its head; branches
# stale after 30 days; tags expire after 90 days. Kept: c3, c1, c0 (and the
# repository's first commit, made now), k6, c8. Collected: c100, c10, k9,
# k7, c5.
test_expect_success 'retention: a table of branches, tags and ages' '
	t9kfs repo create ret >/dev/null &&
	add_file ret@main f100 6000 1 && c100=$(commit_at ret@main "100 days" c100) &&
	t9kfs tag create ret@v-old --from $c100 >/dev/null &&
	t9kfs branch create ret@old-exp --from $c100 >/dev/null &&
	add_file ret@old-exp x40 6000 2 && x40=$(commit_at ret@old-exp "40 days" x40) &&
	add_file ret@main f10 6000 3 && c10=$(commit_at ret@main "10 days" c10) &&
	t9kfs branch create ret@ckpt-1 --from $c10 >/dev/null &&
	add_file ret@ckpt-1 k9 6000 4 && k9=$(commit_at ret@ckpt-1 "9 days" k9) &&
	add_file ret@ckpt-1 k7 6000 5 && k7=$(commit_at ret@ckpt-1 "7 days" k7) &&
	add_file ret@ckpt-1 k6 6000 6 && k6=$(commit_at ret@ckpt-1 "6 days" k6) &&
	add_file ret@main f8 6000 7 && c8=$(commit_at ret@main "8 days" c8) &&
	t9kfs tag create ret@v-new --from $c8 >/dev/null &&
	add_file ret@main f5 6000 8 && c5=$(commit_at ret@main "5 days" c5) &&
	add_file ret@main f3 6000 9 && c3=$(commit_at ret@main "3 days" c3) &&
	add_file ret@main f1 6000 10 && c1=$(commit_at ret@main "1 day" c1) &&
	add_file ret@main f0 6000 11 && c0=$(commit_at ret@main "1 hour" c0) &&
	t9kfs retention set ret --min-grace 0 --keep-last 2 --keep-within 4d \
		--stale-branches 30d --tags-expire 90d --branch "ckpt-*" --keep-last 1 >rules.txt &&
	grep -q "the last 2 commits, what is younger than 4d" rules.txt &&
	grep -q "branches matching .ckpt-\*.:" rules.txt &&
	t9kfs retention show ret --json >rules.json &&
	[ "$(jq_ rules.json "d[\"branches\"][0][\"keep_last\"]")" = 1 ] &&
	printf "%s\n" $c100 $c10 $k9 $k7 $c5 | sort >want &&
	for c in c100 c10 k9 k7 c5 c3 c1 c0 k6 c8 x40; do eval "echo $c=\$$c"; done >ids &&
	gc_json dry.json ret --grace 0 --dry-run &&
	jlist dry.json "d[\"commits\"][\"collected_ids\"]" >got && test_cmp want got &&
	[ "$(jq_ dry.json "d[\"expired\"]")" = "{\"branches\": [\"old-exp\"], \"tags\": [\"v-old\"]}" ] &&
	t9kfs branch list ret | grep -q old-exp &&
	gc_json res.json ret --grace 0 &&
	jlist res.json "d[\"commits\"][\"collected_ids\"]" >got && test_cmp want got &&
	[ "$(jq_ res.json "d[\"commits\"][\"kept\"]")" = 6 ] &&
	! t9kfs branch list ret | grep -q old-exp &&
	! t9kfs tag list ret | grep -q v-old &&
	t9kfs tag list ret | grep -q v-new
'

test_expect_success 'kept commits read back; the history of collected ones stays' '
	. ./ids &&
	for c in $c3 $c1 $c0 $k6 $c8; do
		rm -rf o && t9kfs export ret@$c o >/dev/null || exit 1
	done &&
	t9kfs export ret@v-new o2 >/dev/null && cmp o2/f8 <(seeded 6000 7) &&
	t9kfs export ret@ckpt-1 o3 >/dev/null && cmp o3/k6 <(seeded 6000 6) &&
	t9kfs log ret@main >log && for c in $c100 $c10 $c5; do grep -q "^commit $c" log || exit 1; done &&
	t9kfs show ret@$c5 | grep -q c5
'

test_expect_success 'a collected commit: one clear error in export, cat and mount' '
	. ./ids &&
	test_must_fail t9kfs export ret@$c5 o4 2>err &&
	test_one_line_error err "data of commit ${c5:0:12} was removed by gc on .* under the repository.s retention rules" &&
	[ ! -e o4 ] &&
	test_must_fail t9kfs cat ret@$c10:f10 2>err &&
	test_one_line_error err "data of commit ${c10:0:12} was removed by gc" &&
	mkdir -p mnt2 && test_must_fail t9kfs mount ret@$k9 mnt2 2>err &&
	grep -q "data of commit ${k9:0:12} was removed by gc" err &&
	! grep -q " mnt2 " /proc/mounts &&
	gc_json again.json ret --grace 0 &&
	[ "$(jq_ again.json "d[\"commits\"][\"collected\"]")" = 0 ] &&
	[ "$(jq_ again.json "d[\"commits\"][\"collected_before\"]")" = 5 ] &&
	[ "$(jq_ again.json "d[\"deleted\"][\"objects\"]")" = 0 ]
'

test_expect_success 'the grace period keeps what an import and a branch mount write during runs' '
	t9kfs repo create cg >/dev/null && t9kfs retention set cg --min-grace 0 >/dev/null &&
	t9kfs import src cg@main -m base >/dev/null && t9kfs branch create cg@live >/dev/null &&
	t9kfs branch create cg@junk >/dev/null && t9kfs import src3 cg@junk -m j >/dev/null &&
	t9kfs branch delete cg@junk >/dev/null &&
	age_store cg &&
	mkdir -p big && for i in $(seq 30); do seeded 700000 $((500 + i)) >big/f$i; done &&
	seeded 20000000 600 >big/large &&
	seeded 8000000 700 >w.bin &&
	mount_t9kfs cg@main mntw
	{ t9kfs import big cg@live -m live >imp.log 2>&1; echo $? >imp.rc; } &
	{ cp w.bin mntw/w.bin && sync -f mntw/w.bin; echo $? >cp.rc; } &
	n=0 && deleted=0 &&
	while [ ! -e imp.rc ] || [ ! -e cp.rc ] || [ $n = 0 ]; do
		gc_json r$n.json cg --grace 1h || exit 1
		deleted=$((deleted + $(jq_ r$n.json "d[\"deleted\"][\"objects\"]")))
		n=$((n + 1))
	done &&
	wait &&
	echo "$n gc runs, $deleted objects deleted" &&
	[ "$(cat imp.rc)" = 0 ] && [ "$(cat cp.rc)" = 0 ] && [ "$deleted" -ge 3 ] &&
	umount_t9kfs mntw &&
	t9kfs commit cg@main -m w >/dev/null &&
	gc_json last.json cg --grace 1h &&
	t9kfs export cg@live o5 >/dev/null && for f in big/*; do cmp "$f" "o5/${f#big/}" || exit 1; done &&
	t9kfs export cg@main o6 >/dev/null && cmp w.bin o6/w.bin && cmp src/big o6/big
'

# Packs on file:// and chunks of ~16 KiB: one file of 40 MB is ~2,500
# chunk ranges (each a mark, for the packs' live bytes) in ~10 objects.
test_expect_success 'a small --max-memory spills the mark set to disk and completes' '
	t9kfs repo create m --min 8K --avg 16K --max 64K --pack-size 4M >/dev/null &&
	t9kfs retention set m --min-grace 0 >/dev/null &&
	mkdir -p many/d && for i in $(seq 20); do seeded 6000 $((900 + i)) >many/d/f$i; done &&
	seeded 40000000 901 >many/large &&
	t9kfs import many m@main -m many >/dev/null &&
	t9kfs branch create m@x >/dev/null && t9kfs import src3 m@x -m x >/dev/null &&
	t9kfs branch delete m@x >/dev/null &&
	gc_json res.json m --grace 0 --max-memory 256K &&
	[ "$(jq_ res.json "d[\"ok\"]")" = true ] &&
	[ "$(jq_ res.json "d[\"mark_set\"][\"spills\"]")" -ge 1 ] &&
	[ "$(jq_ res.json "d[\"mark_set\"][\"mem_peak\"]")" -le 196608 ] &&
	[ "$(jq_ res.json "d[\"mark_set\"][\"keys\"]")" -gt 2000 ] &&
	[ "$(jq_ res.json "d[\"deleted\"][\"objects\"]")" -ge 5 ] &&
	t9kfs export m@main o7 >/dev/null && diff -r many o7
'

test_expect_success 'one run at a time: a second is refused while one runs' '
	t9kfs server stop >/dev/null &&
	T9KFS_GC_TEST_PAUSE_MS=1000 T9KFS_GC_TEST_BATCH=10 t9kfs server start >/dev/null &&
	t9kfs branch create m@y >/dev/null && t9kfs import src3 m@y -m y >/dev/null &&
	t9kfs branch delete m@y >/dev/null &&
	t9kfs gc m --grace 0 --no-wait >started && grep -q "^started gc run" started &&
	test_must_fail t9kfs gc m --grace 0 2>err &&
	test_one_line_error err "a gc of repository .m. is already running" &&
	t9kfs gc --status m | grep -q "^running" &&
	gc_done() { t9kfs gc --status m | grep -q "^gc of m"; } &&
	test_wait 30 gc_done &&
	t9kfs gc --status m --json >st.json &&
	[ "$(jq_ st.json "d[\"last\"][\"ok\"]")" = true ] &&
	[ "$(jq_ st.json "d[\"last\"][\"deleted\"][\"objects\"]")" -ge 5 ]
'

# Batches of 10 with a second before each: a kill lands between two.
test_expect_success 'kill -9 of the service mid-sweep, then another run: all reachable reads back' '
	t9kfs branch create m@z >/dev/null &&
	mkdir -p zz && for i in $(seq 40); do seeded 5000 $((1000 + i)) >zz/z$i; done &&
	t9kfs import zz m@z -m z >/dev/null && t9kfs branch delete m@z >/dev/null &&
	before=$(objects m) &&
	t9kfs gc m --grace 0 --no-wait >/dev/null &&
	fewer() { [ "$(objects m)" -lt "$before" ]; } &&
	test_wait 30 fewer &&
	kill -9 "$(cat "$T9KFS_HOME/server.pid")" &&
	mid=$(objects m) && echo "objects: $before before, $mid at the kill" &&
	[ "$mid" -gt $((before - 40)) ] &&
	t9kfs server start >/dev/null &&
	t9kfs export m@main o8 >/dev/null && diff -r many o8 &&
	gc_json res.json m --grace 0 &&
	[ "$(jq_ res.json "d[\"ok\"]")" = true ] &&
	[ "$(objects m)" -le $((before - 40)) ] &&
	t9kfs export m@main o9 >/dev/null && diff -r many o9 &&
	t9kfs du m --json >du.json && [ "$(jq_ du.json "d[\"garbage\"][\"objects\"]")" = 0 ]
'

test_expect_success 'a missing reachable object stops the run before any delete' '
	t9kfs repo create brk >/dev/null && t9kfs retention set brk --min-grace 0 >/dev/null &&
	t9kfs import src brk@main -m v1 >/dev/null &&
	t9kfs branch create brk@j >/dev/null && t9kfs import src3 brk@j -m j >/dev/null &&
	t9kfs branch delete brk@j >/dev/null &&
	tree=$(t9kfs stat --json brk@main:a | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[\"id\"])") &&
	rm "$STORE/brk/meta/${tree:0:2}/$tree" &&
	before=$(objects brk) &&
	test_must_fail t9kfs gc brk --grace 0 >out 2>err &&
	grep -q "stopped before deleting anything: reading tree $tree" err &&
	[ "$(objects brk)" = "$before" ]
'

test_expect_success 'bad input is refused and changes nothing' '
	t9kfs retention show g --json >before.json &&
	test_must_fail t9kfs gc nosuch 2>err && grep -q "repository .nosuch. not found" err &&
	test_expect_code() { want=$1; shift; rc=0; "$@" 2>err || rc=$?; [ $rc = $want ] || { echo "exit $rc, want $want: $*"; cat err; return 1; }; } &&
	test_expect_code 2 t9kfs gc g --grace 5x &&
	test_expect_code 2 t9kfs gc g --max-memory 10K &&
	test_expect_code 2 t9kfs gc &&
	test_expect_code 2 t9kfs gc g --bogus &&
	test_expect_code 2 t9kfs retention set g &&
	test_expect_code 2 t9kfs retention set g --keep-last 0 &&
	test_expect_code 2 t9kfs retention set g --keep-within 3q &&
	test_expect_code 2 t9kfs retention set g --branch "x*" --tags-expire 1d &&
	test_expect_code 2 t9kfs retention set g --no-branch nosuch &&
	test_expect_code 2 t9kfs retention frob g &&
	test_expect_code 2 t9kfs du g:path &&
	test_expect_code 1 t9kfs du g@nosuch &&
	t9kfs retention show g --json >after.json && test_cmp before.json after.json &&
	t9kfs retention set g --min-grace 2h >/dev/null &&
	test_expect_code 1 t9kfs gc g --grace 1h && grep -q "below repository .g..s min_grace 2h" err &&
	test_expect_code 1 t9kfs retention set g --grace 1h && grep -q "grace 1h is below min_grace 2h" err &&
	t9kfs retention set g --min-grace 0 >/dev/null &&
	t9kfs repo create sh1 --store "file://$TEST_DIR/shared" >/dev/null &&
	t9kfs repo create sh2 --store "file://$TEST_DIR/shared/" >/dev/null &&
	test_expect_code 1 t9kfs gc sh1 && grep -q "shares its store with repository .sh2." err &&
	api() { curl -sS --unix-socket "$T9KFS_HOME/meta.sock" -o reply -w "%{http_code}" \
		-H "Authorization: Bearer $(cat "$T9KFS_HOME/token")" "$@"; } &&
	[ "$(api -X POST -d "{\"bogus\":1}" http://t9kfs/api/v1/repos/g/gc)" = 400 ] &&
	[ "$(api -X POST -d "{\"grace_s\":-1}" http://t9kfs/api/v1/repos/g/gc)" = 400 ] &&
	[ "$(api -X PUT -d "{\"keep_last\":\"x\"}" http://t9kfs/api/v1/repos/g/retention)" = 400 ] &&
	[ "$(api -X POST -d "{\"dry_run\":true,\"wait\":true,\"grace_s\":0}" http://t9kfs/api/v1/repos/g/gc)" = 200 ] &&
	grep -q "\"dry_run\":true" reply &&
	t9kfs repo show g >show.txt && grep -q "^last gc: " show.txt && grep -q "reachable" show.txt
'

test_done
