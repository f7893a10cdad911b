#!/bin/bash
# Chunk round trips through the CLI, dedup, and detection of damaged objects.
. "$(dirname "$0")/lib.sh"

store="$T9KFS_HOME/store"

test_expect_success 'put prints a manifest covering the file' '
	head -c 20000000 /dev/urandom >big &&
	t9kfs chunk put big >manifest 2>summary &&
	[ "$(awk "{s += \$2} END {print s}" manifest)" = 20000000 ] &&
	[ "$(wc -l <manifest)" -ge 5 ] &&
	grep -q "chunks (.* new)" summary &&
	awk "length(\$1) != 64 {exit 1}" manifest
'

test_expect_success 'get returns the same bytes' '
	t9kfs chunk get -o back $(cut -d" " -f1 manifest) &&
	cmp big back &&
	t9kfs chunk get $(cut -d" " -f1 manifest) >back2 && cmp big back2
'

test_expect_success 'default store lives under T9KFS_HOME' '
	[ "$(find "$store/chunks" -type f | wc -l)" = "$(wc -l <manifest)" ]
'

test_expect_success 'putting the same file again stores nothing new' '
	t9kfs chunk put big >manifest2 2>summary &&
	test_cmp manifest manifest2 &&
	grep -q "(0 new)" summary
'

test_expect_success 'an edit near the start keeps most chunks' '
	{ head -c 1000 big; printf X; tail -c +1001 big; } >edited &&
	t9kfs chunk put edited >manifest3 2>/dev/null &&
	new=$(cut -d" " -f1 manifest3 | sort) &&
	old=$(cut -d" " -f1 manifest | sort) &&
	shared=$(comm -12 <(echo "$old") <(echo "$new") | wc -l) &&
	[ $shared -ge $(($(wc -l <manifest) - 3)) ]
'

test_expect_success 'stdin and compressible data round trip' '
	yes "epoch 1 loss 0.25 accuracy 0.9" | head -c 5000000 >text &&
	t9kfs chunk put - <text >m 2>summary &&
	t9kfs chunk get $(cut -d" " -f1 m) | cmp - text &&
	du -sk "$store" >/dev/null &&
	grep -q "stored" summary
'

test_expect_success 'small chunk parameters are honoured' '
	t9kfs chunk put --min 4K --avg 16K --max 64K -q big >small &&
	awk "\$2 > 65536 {exit 1}" small &&
	[ "$(wc -l <small)" -gt 200 ]
'

test_expect_success 'verify passes on a good store' '
	t9kfs chunk verify >out && grep -q " 0 bad" out
'

test_expect_success 'a flipped byte is detected on read and by verify' '
	id=$(head -n 2 manifest | tail -n 1 | cut -d" " -f1) &&
	obj="$store/chunks/${id:0:2}/$id" &&
	printf "\\x00" | dd of="$obj" bs=1 seek=5000 conv=notrunc status=none &&
	printf "\\xff" | dd of="$obj" bs=1 seek=5001 conv=notrunc status=none &&
	test_must_fail t9kfs chunk get -o out $(cut -d" " -f1 manifest) 2>err &&
	test_one_line_error err "chunk $id is corrupt" &&
	test ! -e out && test ! -e out.t9kfs-tmp &&
	rc=0; t9kfs chunk verify >vout 2>verr || rc=$?; [ $rc = 1 ] &&
	grep -q "chunk $id is corrupt" verr && grep -q " 1 bad" vout &&
	rc=0; t9kfs chunk verify $id 2>/dev/null || rc=$?; [ $rc = 1 ]
'

test_expect_success 'a truncated object is an error, never data' '
	id=$(head -n 3 manifest | tail -n 1 | cut -d" " -f1) &&
	obj="$store/chunks/${id:0:2}/$id" &&
	truncate -s 1000 "$obj" &&
	test_must_fail t9kfs chunk get $id >data 2>err &&
	grep -q "corrupt" err && [ ! -s data ]
'

test_done
