#!/bin/bash
# The store API on s3:// through store-tool, against a real S3 server (Ceph
# RGW): a 100 MiB multipart object, ranged reads, head, delete, listings of
# more than 1000 keys, batch delete, concurrency and connection reuse,
# unsigned bodies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

url=$(s3_url st)
MiB=1048576

test_expect_success 'a 100 MiB object goes up in 16 MiB parts and reads back whole' '
	store_tool -s "$url" put big 100MiB 42 2>stats &&
	cat stats &&
	grep -q "requests=9 retries=0 connects=1 up=10485" stats &&
	[ "$(store_tool "$url" head big)" = $((100 * MiB)) ] &&
	store_tool -s "$url" check big 100MiB 42 2>stats &&
	grep -q "requests=1 .* down=$((100 * MiB))" stats
'

test_expect_success 'the multipart threshold and part size come from the URL' '
	store_tool -s "$url&multipart_threshold=5MiB&part_size=5MiB" put mp 12MiB 5 2>stats &&
	grep -q "requests=5 " stats &&
	store_tool "$url" check mp 12MiB 5 &&
	store_tool -s "$url" put single 12MiB 5 2>stats &&
	grep -q "requests=1 " stats
'

test_expect_success 'sign_payload=0: bodies go unsigned, requests stay signed' '
	store_tool "$url&sign_payload=0" put unsigned 3MiB 8 &&
	store_tool "$url" check unsigned 3MiB 8 &&
	store_tool "$url&sign_payload=0&multipart_threshold=5MiB&part_size=5MiB" put unsigned-mp 11MiB 9 &&
	store_tool "$url" check unsigned-mp 11MiB 9 &&
	test_must_fail env AWS_SECRET_ACCESS_KEY=wrong "$STORE_TOOL" "$url&sign_payload=0" \
		put unsigned 1MiB 1 2>err &&
	grep -q SignatureDoesNotMatch err
'

test_expect_success 'ranged reads return exactly the bytes asked for' '
	store_tool "$url" check big 100MiB 42 0 1 &&
	store_tool "$url" check big 100MiB 42 12345 678901 &&
	store_tool "$url" check big 100MiB 42 $((16 * MiB - 3)) 7 &&
	store_tool "$url" check big 100MiB 42 $((100 * MiB - 10)) 10 &&
	store_tool "$url" check big 100MiB 42 $((50 * MiB)) 18446744073709551615
'

test_expect_success 'a range past the end is cut; at the end it is empty; beyond, an error' '
	store_tool "$url" check big 100MiB 42 $((100 * MiB - 10)) 1000 &&
	store_tool "$url" check big 100MiB 42 $((100 * MiB)) 5 &&
	[ "$(store_tool "$url" cat big $((100 * MiB)) 5 | wc -c)" = 0 ] &&
	test_must_fail store_tool "$url" check big 100MiB 42 $((100 * MiB + 1)) 1 2>err &&
	test_one_line_error err "offset 104857601 past the end of .big. (104857600 bytes)"
'

test_expect_success 'an empty object' '
	store_tool "$url" put empty 0 1 &&
	[ "$(store_tool "$url" head empty)" = 0 ] &&
	store_tool "$url" check empty 0 1 &&
	store_tool "$url" check empty 0 1 0 10 &&
	test_must_fail store_tool "$url" check empty 0 1 1 1
'

test_expect_success 'put replaces an object; the bytes land at PREFIX/KEY' '
	store_tool "$url" put a/b/obj 5000 1 &&
	store_tool "$url" put a/b/obj 3000 2 &&
	store_tool "$url" check a/b/obj 3000 2 &&
	s3_curl GET "/$S3_BUCKET/st/a/b/obj" >direct &&
	store_tool "$url" cat a/b/obj >viatool &&
	cmp direct viatool
'

test_expect_success 'head and delete; a missing key is "not found"' '
	[ "$(store_tool "$url" head a/b/obj)" = 3000 ] &&
	store_tool "$url" delete a/b/obj &&
	test_must_fail store_tool "$url" head a/b/obj 2>err &&
	test_one_line_error err "store s3://$S3_BUCKET/st: object .a/b/obj. not found" &&
	test_must_fail store_tool "$url" delete a/b/obj 2>err &&
	test_one_line_error err "not found" &&
	test_must_fail store_tool "$url" cat a/b/obj 2>err &&
	test_one_line_error err "object .a/b/obj. not found"
'

test_expect_success 'invalid keys never reach the server' '
	test_must_fail store_tool -s "$url" put ../x 1 1 2>err &&
	grep -q "invalid store key" err && grep -q "requests=0" err
'

test_expect_success '2500 keys from 8 threads over at most 8 connections' '
	store_tool -s "$url" put-many many 2500 8 2>stats &&
	cat stats &&
	grep -q "requests=2500 retries=0" stats &&
	conn=$(sed "s/.*connects=\([0-9]*\).*/\1/" stats) && [ "$conn" -le 8 ]
'

test_expect_success 'a listing of 2500 keys takes 3 pages' '
	store_tool -s "$url" list many/ >list 2>stats &&
	grep -q "requests=3 " stats &&
	[ "$(wc -l <list)" = 2500 ] &&
	[ "$(head -n 1 list)" = "many/000000 100" ] &&
	[ "$(tail -n 1 list)" = "many/002499 799" ] &&
	[ "$(store_tool "$url" count many/0024)" = 100 ] &&
	[ "$(store_tool "$url" count many/002499)" = 1 ] &&
	[ "$(store_tool "$url" count nothing/)" = 0 ]
'

test_expect_success 'a listing sees only its own prefix' '
	other=$(s3_url other) &&
	store_tool "$other" put x 10 1 &&
	[ "$(store_tool "$other" list "")" = "x 10" ] &&
	! store_tool "$url" list "" | grep -q "^x "
'

test_expect_success 'concurrent reads check every key' '
	store_tool -s "$url" check-many many 2500 8 2>stats &&
	grep -q "requests=2500 retries=0" stats
'

test_expect_success 'delete-many removes 2500 keys in 3 requests; missing keys are fine' '
	store_tool -s "$url" delete-many many 2500 2>stats &&
	grep -q "requests=3 " stats &&
	[ "$(store_tool "$url" count many/)" = 0 ] &&
	store_tool "$url" delete-many many 10
'

test_expect_success 'store_concurrency: 16 by default, or the URL says' '
	[ "$(store_tool "$url" concurrency)" = 16 ] &&
	[ "$(store_tool "$url&concurrency=64" concurrency)" = 64 ] &&
	[ "$(store_tool "file://$PWD/fs" concurrency)" = "$(nproc)" ]
'

test_done
