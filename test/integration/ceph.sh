# shellcheck shell=bash disable=SC2034 # CEPH_* are for the scripts that source this
# A one-node Ceph cluster on 127.0.0.1 (one monitor, one memstore OSD,
# radosgw with the beast frontend) with one S3 user: the S3 server of the
# integration tests (lib-s3.sh) and of the S3 benchmark (bench/s3.sh).
# Sourced, never run; needs nothing from either, works under set -eu, and
# reports failures by return status with the reason in CEPH_ERROR.
#
#   ceph_missing             prints the missing programs, one line (empty: none)
#   ceph_install LOG         installs the Debian packages (root), output to LOG
#   free_ports N             prints N distinct free TCP ports on 127.0.0.1 (ports.sh)
#   ceph_client_env KEY SECRET  exports the S3 user's keys (AWS_*) and a region,
#                            drops any other AWS setting, and keeps every proxy
#                            away from loopback requests
#   ceph_start DIR           starts the daemons with everything in DIR, on free
#                            ports, and creates the user whose keys are
#                            $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY
#   ceph_stop                stops the daemons by PID (SIGKILL: the data is in
#                            memory and thrown away); safe to call twice
#
# Settings, read by ceph_start:
#   CEPH_MEMSTORE_BYTES  the OSD's capacity in RAM (default 1 GiB)
#   CEPH_TLS=1           also an https endpoint, with a certificate for
#                        127.0.0.1 signed by a CA made in DIR/tls
#   CEPH_RGW_CONF        extra lines for radosgw's [client.rgw.gw] section
# Set by ceph_start (CEPH_PIDS as the daemons start, so that a ceph_stop
# registered before ceph_start also stops a half-started cluster):
#   CEPH_ENDPOINT        http://127.0.0.1:PORT
#   CEPH_TLS_ENDPOINT    https://127.0.0.1:PORT and CEPH_CA_FILE (CEPH_TLS=1)
#   CEPH_DIR, CEPH_CONF, CEPH_PIDS, CEPH_MON_PID, CEPH_OSD_PID, CEPH_RGW_PID
#   CEPH_START_SECONDS   how long the start took
#
# The daemons run in the foreground as children of the calling shell (so
# call ceph_start from the script's own shell, not in $(...)): `wait` then
# reaps them at once, where PID 1 here reaps orphans late. Logs go to
# DIR/log/*.log. beast runs with tcp_nodelay=1: without it every GET on a
# reused connection waits ~40 ms (the server's Nagle against the client's
# delayed ACK). Facts behind the settings: ../shared/notes/s3-test-server.md.

CEPH_PKGS="ceph-mon ceph-osd radosgw ceph-common curl openssl"

ceph_client_env() { # ACCESS_KEY SECRET_KEY
	export AWS_ACCESS_KEY_ID=$1 AWS_SECRET_ACCESS_KEY=$2 AWS_REGION=us-east-1
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_DEFAULT_REGION
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
	export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
}
CEPH_PIDS=${CEPH_PIDS:-}
CEPH_ERROR=""

ceph_missing() {
	local missing="" b
	for b in ceph-mon ceph-osd radosgw ceph ceph-authtool monmaptool radosgw-admin curl openssl; do
		command -v "$b" >/dev/null 2>&1 || missing="$missing $b"
	done
	echo "${missing# }"
}

ceph_install() { # LOG
	export DEBIAN_FRONTEND=noninteractive
	CEPH_ERROR=""
	if [ "$(id -u)" != 0 ]; then
		CEPH_ERROR="installing Ceph needs root"
		return 1
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		CEPH_ERROR="there is no apt-get"
		return 1
	fi
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $CEPH_PKGS >"$1" 2>&1 && return 0
	apt-get update -qq >>"$1" 2>&1 || true
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $CEPH_PKGS >>"$1" 2>&1 && return 0
	CEPH_ERROR=$(tail -n 1 "$1")
	return 1
}

# shellcheck source=test/integration/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

ceph_stop() {
	local pid
	for pid in $CEPH_PIDS; do
		kill -9 "$pid" 2>/dev/null || true
	done
	for pid in $CEPH_PIDS; do
		wait "$pid" 2>/dev/null || true
	done
	CEPH_PIDS=""
	return 0
}

# DAEMON ARGS...: starts a Ceph daemon in the foreground, in the background;
# its PID in CEPH_PIDS and in _ceph_pid.
_ceph_daemon() {
	"$@" -f </dev/null >>"$CEPH_DIR/log/daemons.log" 2>&1 &
	_ceph_pid=$!
	CEPH_PIDS="$_ceph_pid $CEPH_PIDS"
}

_ceph_wait() { # TRIES CMD...: polls CMD every 50 ms
	local n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

_ceph_fail() {
	CEPH_ERROR=$*
	return 1
}

_ceph_tls_cert() {
	local d=$CEPH_DIR/tls
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=t9kfs test CA" \
		-keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1 &&
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$d/rgw.key" -out "$d/rgw.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$d/ext" &&
	openssl x509 -req -in "$d/rgw.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/ext" -out "$d/rgw.crt" >/dev/null 2>&1
}

ceph_start() { # DIR
	local mon_port rgw_port tls_port fsid osd_uuid id c frontends t0 ms
	t0=$(date +%s%N)
	CEPH_ERROR=""
	CEPH_DIR=$1
	mkdir -p "$CEPH_DIR"/run "$CEPH_DIR"/log "$CEPH_DIR"/mon "$CEPH_DIR"/osd "$CEPH_DIR"/rgw
	read -r mon_port rgw_port tls_port <<<"$(free_ports 3)"
	[ -n "$tls_port" ] || { _ceph_fail "no free ports"; return 1; }
	fsid=$(cat /proc/sys/kernel/random/uuid)
	c=$CEPH_DIR/ceph.conf
	CEPH_CONF=$c
	frontends="beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1"
	if [ "${CEPH_TLS:-0}" = 1 ]; then
		_ceph_tls_cert || { _ceph_fail "openssl could not make a test certificate"; return 1; }
		frontends="$frontends ssl_endpoint=127.0.0.1:$tls_port"
		frontends="$frontends ssl_certificate=$CEPH_DIR/tls/rgw.crt ssl_private_key=$CEPH_DIR/tls/rgw.key"
	fi
	cat >"$c" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
run dir = $CEPH_DIR/run
pid file = $CEPH_DIR/run/\$name.pid
admin socket = $CEPH_DIR/run/\$name.asok
log file = $CEPH_DIR/log/\$name.log
mon data = $CEPH_DIR/mon/\$name
osd data = $CEPH_DIR/osd/\$name
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-1073741824}
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
keyring = $CEPH_DIR/\$name.keyring
[mon]
keyring = $CEPH_DIR/mon.keyring
[client.rgw.gw]
rgw frontends = $frontends
rgw data = $CEPH_DIR/rgw
${CEPH_RGW_CONF:-}
EOF
	(
		set -e
		cd "$CEPH_DIR"
		ceph-authtool -C mon.keyring --gen-key -n mon. --cap mon 'allow *'
		ceph-authtool -C client.admin.keyring --gen-key -n client.admin \
			--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *'
		ceph-authtool mon.keyring --import-keyring client.admin.keyring
		monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" monmap
		ceph-mon -c "$c" --mkfs -i a --monmap monmap --keyring mon.keyring
	) >"$CEPH_DIR/log/setup.log" 2>&1 </dev/null || { _ceph_fail "monitor did not start"; return 1; }
	_ceph_daemon ceph-mon -c "$c" -i a
	CEPH_MON_PID=$_ceph_pid
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(timeout 30 ceph -c "$c" osd new "$osd_uuid" 2>>"$CEPH_DIR/log/setup.log") ||
		{ _ceph_fail "monitor did not answer"; return 1; }
	mkdir -p "$CEPH_DIR/osd/osd.$id"
	(
		set -e
		ceph-osd -c "$c" -i "$id" --mkfs --mkkey --no-mon-config --osd-uuid "$osd_uuid"
		timeout 30 ceph -c "$c" auth add "osd.$id" osd 'allow *' mon 'allow profile osd' \
			-i "$CEPH_DIR/osd/osd.$id/keyring"
	) >>"$CEPH_DIR/log/setup.log" 2>&1 </dev/null || { _ceph_fail "OSD did not start"; return 1; }
	_ceph_daemon ceph-osd -c "$c" -i "$id"
	CEPH_OSD_PID=$_ceph_pid
	_ceph_wait 400 sh -c "timeout 5 ceph -c '$c' osd stat 2>/dev/null | grep -q '1 up'" ||
		{ _ceph_fail "OSD did not come up"; return 1; }
	timeout 30 ceph -c "$c" auth get-or-create client.rgw.gw mon 'allow rw' osd 'allow rwx' \
		-o "$CEPH_DIR/client.rgw.gw.keyring" >>"$CEPH_DIR/log/setup.log" 2>&1 </dev/null ||
		{ _ceph_fail "cannot create the radosgw key"; return 1; }
	_ceph_daemon radosgw -c "$c" -n client.rgw.gw
	CEPH_RGW_PID=$_ceph_pid
	_ceph_wait 600 bash -c "echo >/dev/tcp/127.0.0.1/$rgw_port" ||
		{ _ceph_fail "radosgw does not listen"; return 1; }
	timeout 60 radosgw-admin -c "$c" user create --uid=t9kfs --display-name=t9kfs \
		--access-key="$AWS_ACCESS_KEY_ID" --secret-key="$AWS_SECRET_ACCESS_KEY" \
		>>"$CEPH_DIR/log/setup.log" 2>&1 </dev/null ||
		{ _ceph_fail "radosgw-admin user create failed"; return 1; }
	CEPH_ENDPOINT=http://127.0.0.1:$rgw_port
	if [ "${CEPH_TLS:-0}" = 1 ]; then
		CEPH_TLS_ENDPOINT=https://127.0.0.1:$tls_port
		CEPH_CA_FILE=$CEPH_DIR/tls/ca.crt
	fi
	ms=$((($(date +%s%N) - t0) / 1000000))
	CEPH_START_SECONDS=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
	CEPH_ERROR=""
	return 0
}
