#!/bin/bash
# The t9kfs command line: help, version, unknown commands and options.
. "$(dirname "$0")/lib.sh"

test_expect_success 'help lists the commands' '
	t9kfs --help >out &&
	grep -q "^usage: t9kfs" out &&
	grep -q "chunk" out &&
	t9kfs help >out2 && test_cmp out out2
'

test_expect_success 'version' '
	t9kfs --version | grep -q "^t9kfs [0-9]"
'

test_expect_success 'no command is a usage error' '
	rc=0; t9kfs 2>err || rc=$?; [ $rc = 2 ] &&
	grep -q "^usage:" err
'

test_expect_success 'unknown command: one line, exit 2' '
	rc=0; t9kfs frobnicate 2>err || rc=$?; [ $rc = 2 ] &&
	test_one_line_error err "^t9kfs: .frobnicate. is not a t9kfs command"
'

test_expect_success 'unknown chunk subcommand' '
	rc=0; t9kfs chunk smash 2>err || rc=$?; [ $rc = 2 ] &&
	test_one_line_error err "unknown command .chunk smash."
'

test_expect_success 'every subcommand has --help' '
	for c in put get verify; do
		t9kfs chunk $c --help >out && grep -q "^usage: t9kfs chunk $c" out || exit 1
	done &&
	t9kfs help chunk | grep -q "usage: t9kfs chunk" &&
	t9kfs chunk --help | grep -q verify
'

test_expect_success 'unknown option is refused' '
	echo x >f &&
	test_must_fail t9kfs chunk put --bogus f 2>err &&
	grep -q "usage: t9kfs chunk put" err
'

test_expect_success 'no state is created by help or errors' '
	test ! -e "$T9KFS_HOME"
'

test_expect_success 'the config file sets defaults; environment and options win' '
	mkdir -p "$T9KFS_HOME" && echo hello >f &&
	printf "# a node of the cluster\n\n  store = file://$TEST_DIR/cfgstore  \nlog=warn\n" \
		>"$T9KFS_HOME/config" &&
	t9kfs chunk put f >/dev/null && test -n "$(find "$TEST_DIR/cfgstore" -type f)" &&
	T9KFS_STORE="file://$TEST_DIR/envstore" t9kfs chunk put f >/dev/null &&
	test -n "$(find "$TEST_DIR/envstore" -type f)" &&
	t9kfs --store "$TEST_DIR/optstore" chunk put f >/dev/null &&
	test -n "$(find "$TEST_DIR/optstore" -type f)"
'

test_expect_success 'a bad config file is one clear line naming file and line' '
	printf "store = x\ncach = unix:/x\n" >"$T9KFS_HOME/config" &&
	test_must_fail t9kfs chunk put f 2>err &&
	test_one_line_error err "config:2: unknown key .cach. (known: server, store, cache" &&
	printf "just words\n" >"$T9KFS_HOME/config" &&
	test_must_fail t9kfs chunk put f 2>err && test_one_line_error err "config:1: want .key = value." &&
	rm "$T9KFS_HOME/config"
'

test_done
