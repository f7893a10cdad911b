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

test_done
