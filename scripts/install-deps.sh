#!/bin/sh
# Installs the Debian 12 packages that t9kfs needs to build, test and bench.
# Idempotent: does nothing when every package is already present.
# Usage: scripts/install-deps.sh [--check]   (--check: list what is missing, exit 1 if any)
set -eu

PKGS="build-essential pkg-config
check
clang libclang-rt-14-dev
libssl-dev openssl
libzstd-dev
librocksdb-dev
libfuse3-dev fuse3
liburing-dev
libcurl4-openssl-dev
libibverbs-dev
libmicrohttpd-dev libjansson-dev
libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
python3-grpcio python3-grpc-tools python3-protobuf golang-go
python3-pytest python3-fsspec python3-pandas python3-numpy python3-torch python3-torchvision
git git-lfs restic borgbackup time
rclone s3fs
chromium-headless-shell
ceph-mon ceph-osd radosgw ceph-common
util-linux"

# node and npm drive the web console's browser tests (test/ui, puppeteer-core
# against chromium-headless-shell above): Debian's, unless a node with its npm
# is installed already (NodeSource's nodejs bundles npm and conflicts with
# Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	PKGS="$PKGS nodejs npm"
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing Debian packages:$missing" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root: scripts/install-deps.sh)" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
