# Helpers for the tests with cache daemons on loopback. Source it after
# lib.sh (and lib-mount.sh where mounts are used):
#
#   start_daemon NAME ARGS...  `t9kfs cache serve --dir $D/NAME ARGS` in the
#                              background (pid in $D/NAME.pid, log $D/NAME.log);
#                              returns once its socket answers
#   stop_daemon NAME [SIG]     signals it (TERM) and waits for it to exit
#   stat_of NAME COUNTER       one counter of daemon NAME
#   daemon_logs_clean          fails when a daemon's log has a sanitizer report
#
# Every daemon is stopped at the end, also on failure (frozen ones woken).

D="$TEST_DIR/daemons"
mkdir -p "$D"

start_daemon() {
	local name=$1 i
	shift
	("$T9KFS_BIN" cache serve --dir "$D/$name" "$@" >>"$D/$name.log" 2>&1 &
	 echo $! >"$D/$name.pid")
	for i in $(seq 100); do
		[ -s "$D/$name.pid" ] && t9kfs cache stats --cache "$D/$name/cache.sock" >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	echo "daemon $name did not start:"
	cat "$D/$name.log"
	return 1
}

stop_daemon() {
	local pid
	pid=$(cat "$D/$1.pid" 2>/dev/null) || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f "$D/$1.pid"
}

stop_all_daemons() {
	local f
	for f in "$D"/*.pid; do
		[ -e "$f" ] || continue
		kill -CONT "$(cat "$f")" 2>/dev/null
		stop_daemon "$(basename "$f" .pid)"
	done
}
test_cleanup stop_all_daemons

stat_of() {
	t9kfs cache stats --cache "$D/$1/cache.sock" | awk -v k="$2" '$1 == k { print $2 }'
}

daemon_logs_clean() {
	! grep -E "Sanitizer|runtime error" "$D"/*.log
}
