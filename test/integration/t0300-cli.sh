#!/bin/bash
# The everyday commands end to end against the embedded local server:
# repo, import/export, put/get/cat/rm/ls/stat, branch/tag, commit/log/
# status/diff/merge/revert/reset/compare, and their errors.
. "$(dirname "$0")/lib.sh"

test_cleanup t9kfs server stop
export T9KFS_AUTHOR="tester"

mkdata() {
	mkdir -p "$1/a/b" "$1/empty"
	head -c 1000000 /dev/urandom >"$1/a/big.bin"
	echo hello >"$1/a/b/hello.txt"
	head -c 5000 /dev/urandom >"$1/mid.bin"
	chmod 600 "$1/mid.bin"
	ln -s a/b/hello.txt "$1/link"
}

test_expect_success 'the local server starts on first use' '
	t9kfs repo create data >out &&
	grep -q "created repository .data." out &&
	t9kfs server status | grep -q running &&
	test -S "$T9KFS_HOME/meta.sock" &&
	[ "$(stat -c %a "$T9KFS_HOME/token")" = 600 ]
'

test_expect_success 'repo list and duplicate create' '
	t9kfs repo list | grep -q "^data " &&
	t9kfs repo list --json | grep -q "\"name\": \"data\"" &&
	test_must_fail t9kfs repo create data 2>err &&
	test_one_line_error err "already exists"
'

test_expect_success 'import -m stages and commits; export gives it back' '
	mkdata src &&
	t9kfs import src data@main -m "v1" --meta lr=0.1 >out &&
	grep -q "staged 3 files, 1 symlinks" out &&
	t9kfs export data@main out1 &&
	diff -r src out1 &&
	[ "$(stat -c %a out1/mid.bin)" = 600 ] &&
	[ "$(readlink out1/link)" = a/b/hello.txt ]
'

test_expect_success 'ls, stat, cat, get' '
	t9kfs ls data@main >ls &&
	printf "a/\nempty/\nlink\nmid.bin\n" >want && test_cmp want ls &&
	t9kfs ls -R data@main:a | grep -q "^a/b/hello.txt$" &&
	t9kfs ls -l data@main:a | grep -q "^-rw-r--r-- *1000000 .* big.bin$" &&
	t9kfs stat data@main:a/big.bin | grep -q "size: 1000000 bytes" &&
	t9kfs cat data@main:a/b/hello.txt >c && echo hello >w && test_cmp w c &&
	t9kfs get data@main:a/big.bin big && cmp big src/a/big.bin
'

test_expect_success 'branch, put, rm, status, commit, log, diff' '
	t9kfs branch create data@exp --from main &&
	t9kfs branch list data | grep -q "^exp " &&
	echo changed >changed.txt &&
	t9kfs put changed.txt data@exp:a/b/hello.txt &&
	t9kfs put changed.txt data@exp:new/dir/file.txt &&
	t9kfs rm data@exp:mid.bin &&
	t9kfs status data@exp >st &&
	grep -q "set .*a/b/hello.txt" st && grep -q "removed .*mid.bin" st &&
	t9kfs commit data@exp -m "change things" --meta lr=0.01 --meta acc=0.9 >out &&
	grep -q "^committed [0-9a-f]\{64\} on data@exp" out &&
	t9kfs log --meta data@exp >log &&
	grep -q "lr=0.01" log && grep -q "change things" log &&
	[ "$(t9kfs log --oneline data@exp | wc -l)" = 3 ] &&
	t9kfs diff data@main data@exp >diff &&
	printf "M a/b/hello.txt (6 -> 8 bytes)\nD mid.bin (5000 bytes)\nA new/dir/file.txt (8 bytes)\n" >want &&
	test_cmp want diff
'

test_expect_success 'compare shows metadata side by side' '
	t9kfs compare data@main data@exp >cmp &&
	grep -q "^lr  *0.1  *0.01" cmp &&
	grep -q "3 paths" cmp
'

test_expect_success 'merge: fast-forward, then a conflict reported with its path' '
	t9kfs merge data@exp data@main | grep -q fast-forwarded &&
	t9kfs cat data@main:new/dir/file.txt | grep -q changed &&
	echo ours >o && echo theirs >t &&
	t9kfs put o data@main:x && t9kfs commit data@main -m ours >/dev/null &&
	t9kfs put t data@exp:x && t9kfs commit data@exp -m theirs >/dev/null &&
	head=$(t9kfs log --oneline -n 1 data@main) &&
	test_must_fail t9kfs merge data@exp data@main 2>err &&
	grep -q "^conflict: x$" err &&
	[ "$(t9kfs log --oneline -n 1 data@main)" = "$head" ] &&
	t9kfs merge --strategy theirs data@exp data@main | grep -q "merged into" &&
	t9kfs cat data@main:x | grep -q theirs
'

test_expect_success 'revert and reset' '
	echo bad >bad && t9kfs put bad data@main:bad.txt &&
	t9kfs commit data@main -m "bad" >/dev/null &&
	t9kfs revert data@main main >out && grep -q reverted out &&
	test_must_fail t9kfs cat data@main:bad.txt 2>/dev/null &&
	t9kfs put bad data@main:staged.txt && t9kfs reset data@main | grep -q "dropped 1" &&
	t9kfs status data@main | grep -q "nothing staged"
'

test_expect_success 'reset of a path spares its namesakes; rm of a directory drops what is staged in it' '
	t9kfs put bad data@main:run/a && t9kfs put bad data@main:run.log &&
	t9kfs put bad data@main:runs/b &&
	t9kfs reset data@main:run | grep -q "dropped 1" &&
	t9kfs status data@main >st && grep -q run.log st && grep -q runs/b st && ! grep -q run/a st &&
	t9kfs commit data@main -m runs >/dev/null &&
	t9kfs put bad data@main:runs/c &&
	t9kfs rm data@main:runs &&
	t9kfs status data@main >st && ! grep -q runs/ st && grep -q runs st &&
	t9kfs commit data@main -m "no runs" >/dev/null &&
	test_must_fail t9kfs ls data@main:runs 2>/dev/null &&
	test_must_fail t9kfs status data@nosuchbranch 2>err &&
	test_one_line_error err nosuchbranch
'

test_expect_success 'tags mount history: tag create, list, delete' '
	t9kfs tag create data@v1 --from main~2 &&
	t9kfs tag list data | grep -q "^v1 " &&
	t9kfs cat data@v1:a/big.bin | cmp - src/a/big.bin &&
	t9kfs tag delete data@v1 &&
	test_must_fail t9kfs cat data@v1:a/big.bin 2>/dev/null
'

test_expect_success 'bad input: one line, non-zero, nothing changed' '
	before=$(t9kfs log --oneline data@main | wc -l) &&
	test_must_fail t9kfs cat data@nosuch:x 2>err && test_one_line_error err "nosuch" &&
	test_must_fail t9kfs cat nosuchrepo@main:x 2>err && test_one_line_error err "not found" &&
	test_must_fail t9kfs put src/mid.bin "data@main:../x" 2>err && test_one_line_error err "bad path" &&
	test_must_fail t9kfs put src/mid.bin data@main 2>err && test_one_line_error err "want a path" &&
	test_must_fail t9kfs import nodir data@main 2>err && test_one_line_error err "nodir" &&
	test_must_fail t9kfs commit data@main -m nothing 2>err && test_one_line_error err "nothing to commit" &&
	test_must_fail t9kfs branch create "data@bad/name" 2>err &&
	test_must_fail t9kfs repo create "../x" 2>err &&
	test_must_fail t9kfs export data@main out1 2>err && test_one_line_error err "already exists" &&
	test_must_fail t9kfs rm data@main:not/there 2>err && test_one_line_error err "not found" &&
	[ "$(t9kfs log --oneline data@main | wc -l)" = "$before" ] &&
	t9kfs status data@main | grep -q "nothing staged"
'

# Files of one chunk name it in their tree entry ("chunk" in stat --json)
# and get no manifest object; bigger files keep one. min 1M: files up to
# 1 MiB are one chunk for sure, 9 MiB is three or more.
test_expect_success 'one-chunk files: no manifest, same bytes back, diff' '
	t9kfs repo create one --min 1M --avg 2M --max 4M >/dev/null &&
	store=$T9KFS_HOME/store/one &&
	mkdir -p one/sub &&
	head -c 5120 /dev/urandom >one/a5k &&
	head -c 102400 /dev/urandom >one/sub/b100k &&
	head -c 1048576 /dev/urandom >one/c1m &&
	head -c 3145728 /dev/urandom >one/d3m &&
	head -c 9437184 /dev/urandom >one/e9m &&
	: >one/empty &&
	metas=$(find "$store/meta" -type f | wc -l) &&
	t9kfs import one one@main -m "six files" >/dev/null &&
	for f in a5k sub/b100k c1m; do
		t9kfs stat --json one@main:$f >st &&
		grep -q "\"chunk\": \"[0-9a-f]\{64\}\"" st && ! grep -q "\"id\"" st || exit 1
	done &&
	t9kfs stat one@main:c1m | grep -q "(one chunk, no manifest)" &&
	t9kfs stat --json one@main:e9m | grep -q "\"id\"" &&
	t9kfs stat --json one@main:empty >st && ! grep -q "\"id\"\|\"chunk\"" st &&
	manifests=0 &&
	for f in a5k sub/b100k c1m d3m e9m; do
		if t9kfs stat --json one@main:$f | grep -q "\"id\""; then
			manifests=$((manifests + 1))
		fi
	done &&
	[ "$manifests" -ge 1 ] &&
	after=$(find "$store/meta" -type f | wc -l) &&
	{ [ $((after - metas)) = $((3 + manifests)) ] ||
	  { echo "meta objects: $metas -> $after, want 3 new + $manifests manifests"; exit 1; }; } &&
	t9kfs export one@main one-out && diff -r one one-out &&
	t9kfs cat one@main:sub/b100k | cmp - one/sub/b100k &&
	head -c 204800 /dev/urandom >b200k &&
	t9kfs put b200k one@main:sub/b100k &&
	t9kfs put b200k one@main:new200k &&
	t9kfs commit one@main -m "two more" >/dev/null &&
	t9kfs stat --json one@main:new200k | grep -q "\"chunk\"" &&
	t9kfs diff one@main~1 one@main >diff &&
	printf "A new200k (204800 bytes)\nM sub/b100k (102400 -> 204800 bytes)\n" >want &&
	test_cmp want diff &&
	t9kfs get one@main:new200k got && cmp got b200k
'

test_expect_success 'a restart of the server loses nothing' '
	head=$(t9kfs log --oneline -n 1 data@main) &&
	t9kfs put bad data@main:kept.txt &&
	t9kfs server stop | grep -q stopped &&
	t9kfs server status >/dev/null; [ $? = 3 ] || true &&
	[ "$(t9kfs log --oneline -n 1 data@main)" = "$head" ] &&
	t9kfs status data@main | grep -q kept.txt
'

test_expect_success 'two CLIs committing to one branch at once lose nothing' '
	for w in 1 2; do
		( for i in 1 2 3 4 5; do
			echo $w$i >f$w$i && t9kfs put f$w$i data@main:par/$w/$i &&
			t9kfs commit data@main -m "w$w $i" >/dev/null 2>&1 || true
		  done ) &
	done; wait &&
	t9kfs commit data@main -m rest >/dev/null 2>&1 || true &&
	[ "$(t9kfs ls -R data@main:par | grep -c "^par/./.$")" = 10 ]
'

test_expect_success 'kill -9 of the server during an import leaves consistent refs' '
	mkdir -p many && for i in $(seq 1 3000); do echo "file $i" >many/f$i; done &&
	head -c 20000000 /dev/urandom >many/big.bin &&
	before=$(t9kfs log --oneline -n 1 data@main) &&
	{ t9kfs import many data@main:many -m "interrupted" >/dev/null 2>&1 & } &&
	sleep 0.5 &&
	kill -9 "$(cat "$T9KFS_HOME/server.pid")" &&
	{ wait || true; } &&
	t9kfs server start >/dev/null &&
	after=$(t9kfs log --oneline -n 1 data@main) &&
	{ [ "$after" = "$before" ] || t9kfs ls data@main:many >/dev/null; } &&
	t9kfs ls -R data@main >/dev/null &&
	t9kfs reset data@main >/dev/null &&
	t9kfs import many data@main:many -m "again" >/dev/null &&
	[ "$(t9kfs ls data@main:many | wc -l)" = 3001 ]
'

test_done
