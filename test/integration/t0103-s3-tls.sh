#!/bin/bash
# s3:// over HTTPS with certificate verification, against Ceph RGW with a
# certificate from a test CA: trusted only through ca_file= or
# AWS_CA_BUNDLE; an untrusted server is refused at once, never retried.
. "$(dirname "$0")/lib.sh"
S3_TLS=1
. "$(dirname "$0")/lib-s3.sh"

tls_url() { # PREFIX [PARAMS]
	printf 's3://%s/%s?endpoint=%s%s\n' "$S3_BUCKET" "$1" "$S3_TLS_ENDPOINT" "${2:+&$2}"
}

test_expect_success 'chunks round-trip over https with ca_file=' '
	head -c 6000000 /dev/urandom >data &&
	T9KFS_LOG=info t9kfs --store "$(tls_url tls "ca_file=$S3_CA_FILE")" chunk put data \
		>manifest 2>log &&
	grep -q "0 retries" log &&
	t9kfs --store "$(tls_url tls "ca_file=$S3_CA_FILE")" chunk get -o back \
		$(cut -d" " -f1 manifest) &&
	cmp data back
'

test_expect_success 'the same objects are seen over http' '
	t9kfs --store "$(s3_url tls)" chunk verify >out && grep -q " 0 bad" out
'

test_expect_success 'AWS_CA_BUNDLE names the CA too; one TLS connection serves all requests' '
	AWS_CA_BUNDLE=$S3_CA_FILE store_tool -s "$(tls_url tls)" put obj 3MiB 9 2>stats &&
	AWS_CA_BUNDLE=$S3_CA_FILE store_tool -s "$(tls_url tls)" check obj 3MiB 9 2>>stats &&
	AWS_CA_BUNDLE=$S3_CA_FILE store_tool -s "$(tls_url tls)" list "" >list 2>>stats &&
	[ "$(grep -c "connects=1 " stats)" = 3 ] &&
	grep -q "^obj 3145728$" list
'

test_expect_success 'an untrusted certificate is refused at once, without retries' '
	start=$(date +%s) &&
	test_must_fail store_tool -s "$(tls_url tls)" head obj 2>err &&
	cat err &&
	grep -q "store s3://$S3_BUCKET/tls: HEAD .obj.: SSL peer certificate or SSH remote key was not OK" err &&
	! grep -q "gave up" err &&
	grep -q "requests=1 retries=0" err &&
	[ $(($(date +%s) - start)) -le 3 ]
'

test_expect_success 'a CA file that does not exist is an error' '
	test_must_fail store_tool "$(tls_url tls ca_file=/nonexistent/ca.pem)" head obj 2>err &&
	grep -q "HEAD .obj.: Problem with the SSL CA cert" err
'

test_done
