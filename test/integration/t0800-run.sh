#!/bin/bash
# t9kfs run with real mounts: a job reads its data at a directory and
# writes a model to its output; the output commit records the inputs by
# commit id, params, command, exit status, times and the last metrics, and
# keeps .t9kfs/{run.json,metrics.jsonl,run.log}. A failing job still
# commits and run exits with its status; kill -9 of run and Ctrl-C (a real
# terminal's, through a pty) leave no mount or process behind; the input is
# read-only in the job; warmup; --in-pod; bad input changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"

# The meta value KEY of REPO@REF's commit.
meta_of() {
	t9kfs log --json -n 1 "$1" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["commits"][0]["meta"].get(sys.argv[1], "<none>"))' "$2"
}
head_of() {
	t9kfs log --oneline -n 1 "$1" | cut -c1-12
}
# The full id of REPO@REF's commit.
id_of() {
	t9kfs log --json -n 1 "$1" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["commits"][0]["id"])'
}
# No t9kfs mount of this test on the host (the run's mounts would be at
# its directories), and none of the run's processes left.
nothing_left() {
	! grep fuse.t9kfs /proc/self/mountinfo | grep -q " $TEST_DIR/" ||
		{ grep fuse.t9kfs /proc/self/mountinfo | grep " $TEST_DIR/"; return 1; }
	! pgrep -f "sleep 4242" >/dev/null || { echo "the job's sleep is still running"; return 1; }
	! pgrep -f "t9kfs.* mount .*$TEST_DIR" >/dev/null || { pgrep -af "t9kfs.* mount"; return 1; }
}
no_job_left() {
	! pgrep -f "sleep 4242" >/dev/null && ! pgrep -f "t9kfs.* mount .*$TEST_DIR" >/dev/null
}

test_expect_success 'setup: a dataset (v1, v2) and a models repository' '
	mkdir -p src/img && for i in 1 2 3; do echo "image $i" >src/img/$i.txt; done &&
	head -c 3000000 /dev/urandom >src/img/big.bin &&
	t9kfs repo create data >/dev/null && t9kfs import src data@main -m v1 >/dev/null &&
	t9kfs tag create data@v1 --from main >/dev/null &&
	t9kfs repo create models >/dev/null &&
	id_of data@v1 >v1.id &&
	cat >job.sh <<-\EOF &&
	#!/bin/sh
	# A training job: reads /data, writes a model and metrics.
	set -e
	test -n "$T9KFS_RUN_ID"
	case $T9KFS_PARAMS in *"\"lr\": \"0.1\""*|*"\"lr\":\"0.1\""*) ;; *) echo "no lr in $T9KFS_PARAMS"; exit 9 ;; esac
	if touch "$DATA/oops" 2>/dev/null; then echo "the input is writable"; exit 9; fi
	cat "$DATA"/img/*.txt >"$T9KFS_OUTPUT/model.bin"
	cp "$DATA/img/big.bin" "$T9KFS_OUTPUT/weights.bin"
	echo "{\"step\": 1, \"loss\": 0.5}" >>"$T9KFS_METRICS"
	echo "{\"step\": 2, \"loss\": 0.25, \"acc\": 0.9}" >>"$T9KFS_METRICS"
	echo "epoch 2 done"
	echo "a warning" >&2
	exit ${JOB_EXIT:-0}
	EOF
	chmod +x job.sh
'

test_expect_success 'a run: mounts, model, the record by commit id, params, metrics' '
	t9kfs run --data data@v1=$TEST_DIR/data --output models@main=$TEST_DIR/out \
		--param lr=0.1 --param epochs=2 -e DATA=$TEST_DIR/data -- ./job.sh >out.txt 2>err.txt &&
	grep -q "epoch 2 done" out.txt && grep -q "a warning" err.txt &&
	grep -q "recorded as commit" err.txt &&
	test "$(meta_of models@main input.0)" = "data@$(cat v1.id)" &&
	test "$(meta_of models@main input.0.dir)" = "$TEST_DIR/data" &&
	test "$(meta_of models@main param.lr)" = 0.1 &&
	test "$(meta_of models@main param.epochs)" = 2 &&
	test "$(meta_of models@main run.status)" = ok &&
	test "$(meta_of models@main run.exit_code)" = 0 &&
	test "$(meta_of models@main run.command)" = ./job.sh &&
	test "$(meta_of models@main metric.loss)" = 0.25 &&
	test "$(meta_of models@main metric.acc)" = 0.9 &&
	test "$(meta_of models@main output)" = models@main &&
	test "$(meta_of models@main run.host)" = "$(hostname)" &&
	t9kfs cat models@main:model.bin >model && cat src/img/*.txt | cmp - model &&
	t9kfs cat models@main:weights.bin | cmp - src/img/big.bin &&
	t9kfs cat models@main:.t9kfs/metrics.jsonl | grep -c step | grep -qx 2 &&
	t9kfs cat models@main:.t9kfs/run.log | grep -q "epoch 2 done" &&
	t9kfs cat models@main:.t9kfs/run.log | grep -q "a warning" &&
	t9kfs cat models@main:.t9kfs/run.json | /usr/bin/python3 -c "
import json, sys
r = json.load(sys.stdin)
assert r[\"status\"] == \"ok\" and r[\"exit_code\"] == 0, r
assert r[\"inputs\"][0][\"commit\"] == open(\"v1.id\").read().strip(), r
assert r[\"inputs\"][0][\"ref\"] == \"v1\" and r[\"command\"] == [\"./job.sh\"], r
assert r[\"metrics\"][\"last\"][\"step\"] == 2 and r[\"metrics\"][\"lines\"] == 2, r
assert r[\"params\"] == {\"lr\": \"0.1\", \"epochs\": \"2\"}, r
" &&
	nothing_left && ! test -e data && ! test -e out && [ -z "$(ls "$T9KFS_HOME/runs")" ]
'

test_expect_success 'a failing job is recorded too; run exits with its status' '
	before=$(head_of models@main) &&
	rc=0 && JOB_EXIT=3 t9kfs run --data data@v1=$TEST_DIR/data --output models@main=$TEST_DIR/out \
		--param lr=0.1 -e DATA=$TEST_DIR/data -e JOB_EXIT=3 -- ./job.sh >/dev/null 2>err.txt ||
		rc=$? &&
	test "$rc" = 3 && grep -q "run .* failed; recorded" err.txt &&
	test "$(head_of models@main)" != "$before" &&
	test "$(meta_of models@main run.status)" = failed &&
	test "$(meta_of models@main run.exit_code)" = 3 &&
	t9kfs log -n 1 models@main | grep -q "(failed, exit 3)" &&
	nothing_left
'

test_expect_success 'a directory of an input, and a command that cannot start' '
	t9kfs run --data data@v1:img=$TEST_DIR/img --output models@main=$TEST_DIR/out -- \
		sh -c "cmp $TEST_DIR/img/big.bin $TEST_DIR/src/img/big.bin" 2>/dev/null &&
	test "$(meta_of models@main input.0)" = "data@$(cat v1.id):img" &&
	rc=0 && t9kfs run --output models@main=$TEST_DIR/out -- ./no-such-program 2>err.txt || rc=$? &&
	test "$rc" = 127 && grep -q "cannot run .\./no-such-program." err.txt &&
	test "$(meta_of models@main run.status)" = failed && nothing_left
'

test_expect_success 'kill -9 of run leaves no mount and no process behind; nothing committed' '
	before=$(head_of models@main) &&
	("$T9KFS_BIN" run --data data@v1=$TEST_DIR/data --output models@main=$TEST_DIR/out -- \
		sh -c "ls $TEST_DIR/data/img >$TEST_DIR/started; sleep 4242" >/dev/null 2>&1 &
	 echo $! >run.pid) &&
	test_wait 20 test -s started && grep -q big.bin started &&
	! grep fuse.t9kfs /proc/self/mountinfo | grep -q " $TEST_DIR/" &&
	pgrep -f "sleep 4242" >/dev/null &&
	kill -9 "$(cat run.pid)" &&
	test_wait 10 no_job_left && nothing_left &&
	test "$(head_of models@main)" = "$before"
'

# Runs t9kfs run under a pseudo-terminal, types Ctrl-C once the job has
# started (the terminal sends SIGINT to the foreground process group), and
# exits with run's status.
run_on_a_terminal() {
	/usr/bin/python3 - "$T9KFS_BIN" "$TEST_DIR" "$@" <<-\EOF
	import os, pty, sys, time
	exe, d, args = sys.argv[1], sys.argv[2], sys.argv[3:]
	pid, fd = pty.fork()
	if pid == 0:
	    os.execv(exe, [exe] + args)
	out = b""
	deadline = time.time() + 30
	while not os.path.exists(d + "/started") and time.time() < deadline:
	    time.sleep(0.05)
	time.sleep(0.2)
	os.write(fd, b"\x03")
	while True:
	    try:
	        data = os.read(fd, 4096)
	    except OSError:
	        break
	    if not data:
	        break
	    out += data
	_, status = os.waitpid(pid, 0)
	sys.stdout.write(out.decode(errors="replace"))
	sys.exit(os.waitstatus_to_exitcode(status))
	EOF
}

test_expect_success 'Ctrl-C on a terminal: the job is interrupted, recorded, nothing left' '
	rm -f started && before=$(head_of models@main) &&
	rc=0 && run_on_a_terminal run --output models@main=$TEST_DIR/out -- \
		sh -c "echo partial >$TEST_DIR/out/partial.txt; touch $TEST_DIR/started; sleep 4242" \
		>tty.out || rc=$? &&
	test "$rc" = 130 || { cat tty.out; false; } &&
	grep -q "interrupted; recorded" tty.out &&
	test "$(head_of models@main)" != "$before" &&
	test "$(meta_of models@main run.status)" = interrupted &&
	t9kfs cat models@main:partial.txt | grep -q partial &&
	nothing_left
'

test_expect_success 'SIGTERM to run reaches the job; it is recorded as interrupted' '
	rm -f started &&
	("$T9KFS_BIN" run --output models@main=$TEST_DIR/out -- \
		sh -c "touch $TEST_DIR/started; exec sleep 4242" >/dev/null 2>err.txt &
	 echo $! >run.pid) &&
	test_wait 20 test -e started &&
	kill -TERM "$(cat run.pid)" &&
	test_wait 20 sh -c "! kill -0 $(cat run.pid) 2>/dev/null" &&
	test "$(meta_of models@main run.status)" = interrupted &&
	test "$(meta_of models@main run.exit_code)" = 143 && nothing_left
'

test_expect_success '--in-pod: the data is mounted already; only rank 0 commits' '
	mount_t9kfs data@v1 pod-data >/dev/null && mount_t9kfs models@main pod-out >/dev/null &&
	RANK=1 t9kfs run --in-pod --data data@v1=$TEST_DIR/pod-data --output models@main=$TEST_DIR/pod-out \
		-- sh -c "echo rank1 >$TEST_DIR/pod-out/rank1.txt" 2>err.txt &&
	grep -q "only rank 0 records" err.txt &&
	t9kfs run --in-pod --data data@v1=$TEST_DIR/pod-data --output models@main=$TEST_DIR/pod-out \
		--param where=pod -- sh -c "ls $TEST_DIR/pod-data/img >$TEST_DIR/pod-out/seen.txt" 2>err.txt &&
	umount_t9kfs pod-out >/dev/null && umount_t9kfs pod-data >/dev/null &&
	test "$(meta_of models@main param.where)" = pod &&
	test "$(meta_of models@main input.0)" = "data@$(cat v1.id)" &&
	t9kfs cat models@main:seen.txt | grep -q big.bin &&
	t9kfs cat models@main:rank1.txt | grep -q rank1 &&
	t9kfs cat models@main:.t9kfs/run.json | grep -q "\"status\": \"ok\""
'

test_expect_success 'a second run on new data: compare shows both, log --input finds each' '
	echo "image 4" >src/img/4.txt && t9kfs import src data@main -m v2 >/dev/null &&
	t9kfs branch create models@exp-a --from main >/dev/null &&
	t9kfs branch create models@exp-b --from main >/dev/null &&
	t9kfs run --data data@v1=$TEST_DIR/data --output models@exp-a=$TEST_DIR/out --param lr=0.1 \
		-e DATA=$TEST_DIR/data -- ./job.sh >/dev/null 2>&1 &&
	t9kfs run --data data@main=$TEST_DIR/data --output models@exp-b=$TEST_DIR/out --param lr=0.1 \
		-e DATA=$TEST_DIR/data -- ./job.sh >/dev/null 2>&1 &&
	v2=$(id_of data@main) &&
	test "$(meta_of models@exp-b input.0)" = "data@$v2" &&
	t9kfs compare models@exp-a models@exp-b >cmp.txt &&
	grep -q "$(cat v1.id | cut -c1-12)" cmp.txt && grep -q "$(echo $v2 | cut -c1-12)" cmp.txt &&
	t9kfs log --input data@$v2 --repo models >found.txt &&
	grep -q "$(head_of models@exp-b)" found.txt && ! grep -q "$(head_of models@exp-a)" found.txt
'

test_expect_success '--warmup loads the inputs into the cache daemon first' '
	. "$TOP/test/integration/lib-cache.sh" &&
	start_daemon c1 --capacity 64M &&
	T9KFS_CACHE=unix:$D/c1/cache.sock t9kfs run --warmup --data data@v1=$TEST_DIR/data \
		-- true 2>err.txt &&
	grep -q "warming data@" err.txt && grep -q "no --output: nothing recorded" err.txt &&
	test "$(stat_of c1 chunks)" -gt 0 &&
	stop_daemon c1 && nothing_left
'

# Each bad call: one clear line, exit 1 or 2, nothing mounted or committed.
bad() {
	local before runs rc=0
	before=$(head_of models@main)
	runs=$(ls "$T9KFS_HOME/runs")
	t9kfs run "$@" 2>err || rc=$?
	[ "$rc" = 1 ] || [ "$rc" = 2 ] || { echo "exit $rc: $*"; cat err; return 1; }
	test_one_line_error err "$BAD" || return 1
	[ "$(head_of models@main)" = "$before" ] || { echo "committed: $*"; return 1; }
	nothing_left && [ "$(ls "$T9KFS_HOME/runs")" = "$runs" ] && ! test -e "$TEST_DIR/x"
}

test_expect_success 'bad input: one clear error, nothing mounted, nothing committed' '
	BAD="nosuch" bad --data nosuch@main=$TEST_DIR/x -- true &&
	BAD="v9" bad --data data@v9=$TEST_DIR/x -- true &&
	BAD="not a branch" bad --output models@$(head_of models@main)=$TEST_DIR/x -- true &&
	t9kfs tag create models@t1 --from main >/dev/null &&
	BAD="not a branch" bad --output models@t1=$TEST_DIR/x -- true &&
	BAD="absolute" bad --data data@v1=x -- true &&
	BAD="REPO@REF" bad --data data@v1 -- true &&
	BAD="before the command" bad --data data@v1=$TEST_DIR/x true &&
	BAD="no command" bad --data data@v1=$TEST_DIR/x -- &&
	BAD="named twice" bad --data data@v1=$TEST_DIR/x --output models@main=$TEST_DIR/x -- true &&
	BAD="no :PATH" bad --output models@main:sub=$TEST_DIR/x -- true &&
	BAD="KEY=VALUE" bad --param lr -- true &&
	BAD="not a directory" bad --data data@v1:img/1.txt=$TEST_DIR/x -- true &&
	BAD="not found" bad --data data@v1:nope=$TEST_DIR/x -- true
'

test_expect_success 'no sanitizer report in any mount daemon log' '
	mount_logs_clean && ! grep -rsE "Sanitizer|runtime error" "$T9KFS_HOME/runs"
'

test_done
