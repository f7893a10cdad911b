# A real S3 server for the s3:// tests: a one-node Ceph cluster (one
# monitor, one memstore OSD, radosgw with the beast frontend) on 127.0.0.1,
# in $TEST_DIR/ceph on free ports. Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   S3_TLS=1            # optional, before sourcing: also an https endpoint
#   . "$(dirname "$0")/lib-s3.sh"
#
# Sourcing installs the Debian packages when they are missing (as root;
# otherwise the script is skipped with the reason), starts the daemons,
# creates a user with the keys below and the bucket $S3_BUCKET, and
# registers test_cleanup to stop the daemons by PID, also on failure.
# It exports:
#   S3_ENDPOINT         http://127.0.0.1:PORT
#   S3_TLS_ENDPOINT     https://127.0.0.1:PORT (S3_TLS=1), cert for 127.0.0.1
#   S3_CA_FILE          the CA that signed it (S3_TLS=1)
#   S3_BUCKET           an empty bucket
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
#   STORE_TOOL          build/*/store-tool next to $T9KFS_BIN
# and gives:
#   s3_url PREFIX [PARAMS]   s3://$S3_BUCKET/PREFIX?endpoint=$S3_ENDPOINT[&PARAMS]
#   s3_curl METHOD PATH      a signed request with curl(1), body on stdout
#   store_tool ARGS...       runs $STORE_TOOL
#
# The cluster itself (settings, start, stop) is ceph.sh, shared with
# bench/s3.sh; facts behind its settings: ../shared/notes/s3-test-server.md.

# shellcheck source=test/integration/ceph.sh
. "$(dirname "${BASH_SOURCE[0]}")/ceph.sh"

S3_BUCKET=t9kfs-test
ceph_client_env T9KFSTESTACCESSKEY01 t9kfs-test-secret-key-0123456789abcdefghij
S3_MEMSTORE_BYTES=${S3_MEMSTORE_BYTES:-1073741824}

if [ -z "${STORE_TOOL:-}" ]; then
	for STORE_TOOL in "$(dirname "$T9KFS_BIN")/store-tool" "$TOP/build/asan/store-tool" \
		"$TOP/build/release/store-tool"; do
		[ -x "$STORE_TOOL" ] && break
	done
fi
[ -x "$STORE_TOOL" ] || skip_all "store-tool is not built (make build/asan/store-tool)"
export STORE_TOOL

store_tool() {
	"$STORE_TOOL" "$@"
}

_s3_need_pkgs() {
	local missing
	missing=$(ceph_missing)
	[ -z "$missing" ] && return 0
	missing=" $missing"
	[ "$(id -u)" = 0 ] || skip_all "Ceph is not installed (missing:$missing) and installing needs root"
	command -v apt-get >/dev/null 2>&1 || skip_all "Ceph is not installed and there is no apt-get"
	say "# installing ceph-mon ceph-osd radosgw ceph-common (missing:$missing)"
	ceph_install "$TEST_DIR/apt.log" || skip_all "cannot install Ceph: $CEPH_ERROR"
}

s3_stop() {
	ceph_stop
}

_s3_fail() {
	say "# lib-s3: $*"
	local f
	for f in "$S3_DIR"/log/*.log; do
		[ -f "$f" ] && { say "# --- $f"; tail -n 15 "$f" | sed 's/^/#   /'; }
	done
	say "1..0 # FAIL $TEST_NAME: S3 test server did not start"
	exit 1
}

s3_start() {
	local t0 ms
	t0=$(date +%s%N)
	S3_DIR=$TEST_DIR/ceph
	CEPH_MEMSTORE_BYTES=$S3_MEMSTORE_BYTES
	CEPH_TLS=${S3_TLS:-0}
	test_cleanup s3_stop
	ceph_start "$S3_DIR" || _s3_fail "$CEPH_ERROR"
	export S3_ENDPOINT=$CEPH_ENDPOINT
	if [ "${S3_TLS:-0}" = 1 ]; then
		export S3_TLS_ENDPOINT=$CEPH_TLS_ENDPOINT
		export S3_CA_FILE=$CEPH_CA_FILE
	fi
	_ceph_wait 100 s3_curl PUT "/$S3_BUCKET" || _s3_fail "cannot create bucket $S3_BUCKET"
	ms=$((($(date +%s%N) - t0) / 1000000))
	S3_START_SECONDS=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
	say "# S3 test server (Ceph RGW) at $S3_ENDPOINT, up in ${S3_START_SECONDS}s"
}

s3_url() {
	printf 's3://%s/%s?endpoint=%s%s\n' "$S3_BUCKET" "$1" "$S3_ENDPOINT" "${2:+&$2}"
}

s3_curl() {
	local method="-X $1"
	[ "$1" = HEAD ] && method=--head
	# shellcheck disable=SC2086
	curl -sf --max-time 30 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		-u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
		$method "$S3_ENDPOINT$2"
}

_s3_need_pkgs
s3_start
