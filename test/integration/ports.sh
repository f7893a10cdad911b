# shellcheck shell=bash
# free_ports N: prints N distinct free TCP ports on 127.0.0.1 (held while
# chosen, so they differ). Sourced by lib.sh and ceph.sh (which the
# benchmarks source without lib.sh), never run.
free_ports() {
	/usr/bin/python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
