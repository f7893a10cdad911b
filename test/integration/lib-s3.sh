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
# Facts behind the settings: ../shared/notes/s3-test-server.md. beast runs
# with tcp_nodelay=1: without it every GET on a reused connection waits
# ~40 ms (the server's Nagle against the client's delayed ACK).

S3_BUCKET=t9kfs-test
export AWS_ACCESS_KEY_ID=T9KFSTESTACCESSKEY01
export AWS_SECRET_ACCESS_KEY=t9kfs-test-secret-key-0123456789abcdefghij
export AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_DEFAULT_REGION
# Loopback only: no proxy may see these requests.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
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
	local missing="" b
	for b in ceph-mon ceph-osd radosgw ceph ceph-authtool monmaptool radosgw-admin curl openssl; do
		command -v "$b" >/dev/null 2>&1 || missing="$missing $b"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || skip_all "Ceph is not installed (missing:$missing) and installing needs root"
	command -v apt-get >/dev/null 2>&1 || skip_all "Ceph is not installed and there is no apt-get"
	say "# installing ceph-mon ceph-osd radosgw ceph-common (missing:$missing)"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw ceph-common \
		curl openssl >"$TEST_DIR/apt.log" 2>&1; then
		apt-get update -qq >>"$TEST_DIR/apt.log" 2>&1
		apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw ceph-common \
			curl openssl >>"$TEST_DIR/apt.log" 2>&1 ||
			skip_all "cannot install Ceph: $(tail -n 1 "$TEST_DIR/apt.log")"
	fi
}

# N distinct free TCP ports on 127.0.0.1 (bound together, then released).
_s3_free_ports() {
	/usr/bin/python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Stops the daemons by PID. They run in the foreground as children of the
# test's shell, so `wait` reaps them at once (PID 1 here reaps orphans
# late). SIGKILL: the data is in memory and thrown away, and a clean stop
# takes ~2 s a daemon.
s3_stop() {
	local pid
	for pid in $S3_PIDS; do
		kill -9 "$pid" 2>/dev/null
	done
	for pid in $S3_PIDS; do
		wait "$pid" 2>/dev/null
	done
	S3_PIDS=""
	return 0
}

# DAEMON ARGS...: starts a Ceph daemon in the foreground, in the background.
_s3_daemon() {
	"$@" -f </dev/null >>"$S3_DIR/log/daemons.log" 2>&1 &
	S3_PIDS="$! $S3_PIDS"
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

_s3_wait() { # TRIES CMD...: polls CMD every 50 ms
	local n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

_s3_tls_cert() {
	local d=$S3_DIR/tls
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=t9kfs test CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1 &&
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$d/rgw.key" -out "$d/rgw.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$d/ext" &&
	openssl x509 -req -in "$d/rgw.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/ext" -out "$d/rgw.crt" >/dev/null 2>&1
}

s3_start() {
	local mon_port rgw_port tls_port fsid osd_uuid id c frontends t0 ms
	t0=$(date +%s%N)
	S3_DIR=$TEST_DIR/ceph
	mkdir -p "$S3_DIR"/run "$S3_DIR"/log "$S3_DIR"/mon "$S3_DIR"/osd "$S3_DIR"/rgw
	read -r mon_port rgw_port tls_port <<<"$(_s3_free_ports 3)"
	[ -n "$tls_port" ] || _s3_fail "no free ports"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	c=$S3_DIR/ceph.conf
	frontends="beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1"
	if [ "${S3_TLS:-0}" = 1 ]; then
		_s3_tls_cert || _s3_fail "openssl could not make a test certificate"
		frontends="$frontends ssl_endpoint=127.0.0.1:$tls_port"
		frontends="$frontends ssl_certificate=$S3_DIR/tls/rgw.crt ssl_private_key=$S3_DIR/tls/rgw.key"
	fi
	cat >"$c" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
run dir = $S3_DIR/run
pid file = $S3_DIR/run/\$name.pid
admin socket = $S3_DIR/run/\$name.asok
log file = $S3_DIR/log/\$name.log
mon data = $S3_DIR/mon/\$name
osd data = $S3_DIR/osd/\$name
osd objectstore = memstore
memstore device bytes = $S3_MEMSTORE_BYTES
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon data avail warn = 1
paxos propose interval = 0.05
paxos min wait = 0.01
rgw enable lc threads = false
rgw enable gc threads = false
[client]
keyring = $S3_DIR/\$name.keyring
[mon]
keyring = $S3_DIR/mon.keyring
[client.rgw.gw]
rgw frontends = $frontends
rgw data = $S3_DIR/rgw
EOF
	S3_PIDS=""
	test_cleanup s3_stop
	(
		set -e
		cd "$S3_DIR"
		ceph-authtool -C mon.keyring --gen-key -n mon. --cap mon 'allow *'
		ceph-authtool -C client.admin.keyring --gen-key -n client.admin \
			--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *'
		ceph-authtool mon.keyring --import-keyring client.admin.keyring
		monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" monmap
		ceph-mon -c "$c" --mkfs -i a --monmap monmap --keyring mon.keyring
	) >"$S3_DIR/log/setup.log" 2>&1 </dev/null || _s3_fail "monitor did not start"
	_s3_daemon ceph-mon -c "$c" -i a
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(timeout 30 ceph -c "$c" osd new "$osd_uuid" 2>>"$S3_DIR/log/setup.log") ||
		_s3_fail "monitor did not answer"
	mkdir -p "$S3_DIR/osd/osd.$id"
	(
		set -e
		ceph-osd -c "$c" -i "$id" --mkfs --mkkey --no-mon-config --osd-uuid "$osd_uuid"
		timeout 30 ceph -c "$c" auth add "osd.$id" osd 'allow *' mon 'allow profile osd' \
			-i "$S3_DIR/osd/osd.$id/keyring"
	) >>"$S3_DIR/log/setup.log" 2>&1 </dev/null || _s3_fail "OSD did not start"
	_s3_daemon ceph-osd -c "$c" -i "$id"
	_s3_wait 400 sh -c "timeout 5 ceph -c '$c' osd stat 2>/dev/null | grep -q '1 up'" ||
		_s3_fail "OSD did not come up"
	timeout 30 ceph -c "$c" auth get-or-create client.rgw.gw mon 'allow rw' osd 'allow rwx' \
		-o "$S3_DIR/client.rgw.gw.keyring" >>"$S3_DIR/log/setup.log" 2>&1 </dev/null ||
		_s3_fail "cannot create the radosgw key"
	_s3_daemon radosgw -c "$c" -n client.rgw.gw
	_s3_wait 600 bash -c "echo >/dev/tcp/127.0.0.1/$rgw_port" || _s3_fail "radosgw does not listen"
	timeout 60 radosgw-admin -c "$c" user create --uid=t9kfs --display-name=t9kfs \
		--access-key="$AWS_ACCESS_KEY_ID" --secret-key="$AWS_SECRET_ACCESS_KEY" \
		>>"$S3_DIR/log/setup.log" 2>&1 </dev/null || _s3_fail "radosgw-admin user create failed"
	export S3_ENDPOINT=http://127.0.0.1:$rgw_port
	if [ "${S3_TLS:-0}" = 1 ]; then
		export S3_TLS_ENDPOINT=https://127.0.0.1:$tls_port
		export S3_CA_FILE=$S3_DIR/tls/ca.crt
	fi
	_s3_wait 100 s3_curl PUT "/$S3_BUCKET" || _s3_fail "cannot create bucket $S3_BUCKET"
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
