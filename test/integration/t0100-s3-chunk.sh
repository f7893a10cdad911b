#!/bin/bash
# The s3:// store through the t9kfs chunk commands, against a real S3 server
# (Ceph RGW, started by lib-s3.sh): round trips, dedup, where objects land,
# refused credentials, credentials from ~/.aws, bad URLs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

url=$(s3_url repo1)

test_expect_success 'chunk put through s3:// stores every chunk' '
	head -c 20000000 /dev/urandom >big &&
	T9KFS_LOG=info t9kfs --store "$url" chunk put big >manifest 2>log &&
	[ "$(awk "{s += \$2} END {print s}" manifest)" = 20000000 ] &&
	n=$(cut -d" " -f1 manifest | sort -u | wc -l) &&
	grep -q "chunks ($n new)" log &&
	grep "store s3://$S3_BUCKET/repo1: .* requests, 0 retries" log
'

test_expect_success 'chunk get through s3:// returns the same bytes' '
	t9kfs --store "$url" chunk get -o back $(cut -d" " -f1 manifest) &&
	cmp big back
'

test_expect_success 'chunks are objects PREFIX/chunks/ID in the bucket' '
	id=$(head -n 1 manifest | cut -d" " -f1) &&
	s3_curl HEAD "/$S3_BUCKET/repo1/chunks/$id" &&
	[ "$(store_tool "$url" count chunks/)" = "$(cut -d" " -f1 manifest | sort -u | wc -l)" ]
'

test_expect_success 'putting the same file again uploads nothing' '
	T9KFS_LOG=info t9kfs --store "$url" chunk put big >manifest2 2>log &&
	test_cmp manifest manifest2 &&
	grep -q "(0 new)" log &&
	grep -q "0 retries, .* 0 B up" log
'

test_expect_success 'connections are reused across requests' '
	T9KFS_LOG=info t9kfs --store "$url" chunk verify >out 2>log &&
	grep -q " 0 bad" out &&
	line=$(grep "requests, 0 retries" log) &&
	req=$(echo "$line" | sed "s/.*: \([0-9]*\) requests.*/\1/") &&
	conn=$(echo "$line" | sed "s/.* \([0-9]*\) connections.*/\1/") &&
	echo "$req requests over $conn connections" &&
	[ "$req" -gt 10 ] && [ "$conn" = 1 ]
'

test_expect_success 'a wrong secret is refused: SignatureDoesNotMatch, nothing written' '
	head -c 3000000 /dev/urandom >small &&
	test_must_fail env AWS_SECRET_ACCESS_KEY=not-the-secret \
		"$T9KFS_BIN" --store "$(s3_url wrong)" chunk put small >/dev/null 2>err &&
	test_one_line_error err "store s3://$S3_BUCKET/wrong: .* HTTP 403 SignatureDoesNotMatch" &&
	[ "$(store_tool "$(s3_url wrong)" count "")" = 0 ]
'

test_expect_success 'an unknown access key is refused: InvalidAccessKeyId' '
	test_must_fail env AWS_ACCESS_KEY_ID=NOSUCHKEY0000000000 \
		"$T9KFS_BIN" --store "$(s3_url wrong)" chunk put small >/dev/null 2>err &&
	test_one_line_error err "HTTP 403 InvalidAccessKeyId" &&
	[ "$(store_tool "$(s3_url wrong)" count "")" = 0 ]
'

test_expect_success 'a missing bucket is named: NoSuchBucket' '
	test_must_fail t9kfs --store "s3://no-such-bucket/x?endpoint=$S3_ENDPOINT" \
		chunk put small >/dev/null 2>err &&
	test_one_line_error err "store s3://no-such-bucket/x: PUT .*HTTP 404 NoSuchBucket"
'

test_expect_success 'credentials from a profile of ~/.aws/credentials' '
	mkdir -p h/.aws &&
	printf "[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n[t9kfs]\naws_access_key_id = %s\naws_secret_access_key=%s\n" \
		"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >h/.aws/credentials &&
	id=$(head -n 1 manifest | cut -d" " -f1) &&
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$PWD/h" AWS_PROFILE=t9kfs \
		"$T9KFS_BIN" --store "$url" chunk verify $id &&
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$PWD/h" \
		"$T9KFS_BIN" --store "$url&profile=t9kfs" chunk verify $id &&
	test_must_fail env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$PWD/h" \
		"$T9KFS_BIN" --store "$url" chunk verify $id 2>err &&
	grep -q InvalidAccessKeyId err
'

test_expect_success 'no credentials at all is a clear error before any request' '
	test_must_fail env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$PWD/nohome" \
		"$T9KFS_BIN" --store "$url" chunk verify 2>err &&
	test_one_line_error err "store s3://$S3_BUCKET/repo1: no credentials: set AWS_ACCESS_KEY_ID" &&
	test_must_fail env -u AWS_SECRET_ACCESS_KEY "$T9KFS_BIN" --store "$url" chunk verify 2>err &&
	test_one_line_error err "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
'

test_expect_success 'bad s3:// URLs are refused' '
	test_must_fail t9kfs --store "s3://x" chunk verify 2>err &&
	test_one_line_error err "want s3://BUCKET\[/PREFIX\]" &&
	test_must_fail t9kfs --store "s3://bucket/a//b" chunk verify 2>err &&
	test_one_line_error err "bad prefix" &&
	test_must_fail t9kfs --store "s3://bucket?colour=blue" chunk verify 2>err &&
	test_one_line_error err "unknown parameter .colour." &&
	test_must_fail t9kfs --store "s3://bucket?endpoint=ftp://h" chunk verify 2>err &&
	test_one_line_error err "must start with http:// or https://" &&
	test_must_fail t9kfs --store "s3://bucket?endpoint=http://h/path" chunk verify 2>err &&
	test_one_line_error err "must not have a path" &&
	test_must_fail t9kfs --store "s3://bucket?part_size=1M" chunk verify 2>err &&
	test_one_line_error err "part_size=1M is not 5MiB..5GiB"
'

test_done
