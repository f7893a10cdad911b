#!/bin/bash
# Bad input gets one clear line on stderr, a non-zero exit, and writes nothing.
. "$(dirname "$0")/lib.sh"

test_expect_success 'missing file: error, nothing written' '
	test_must_fail t9kfs chunk put no-such-file 2>err &&
	test_one_line_error err "cannot open .no-such-file.: No such file or directory" &&
	test ! -e "$T9KFS_HOME"
'

test_expect_success 'a directory is not a file' '
	mkdir d && test_must_fail t9kfs chunk put d 2>err &&
	test_one_line_error err "is a directory" &&
	test ! -e "$T9KFS_HOME"
'

test_expect_success 'malformed ids are refused before anything is read' '
	test_must_fail t9kfs chunk get xyz 2>err &&
	test_one_line_error err "malformed object id .xyz." &&
	test_must_fail t9kfs chunk get -o out "$(printf "%064d" 0)" nothex 2>err &&
	test_one_line_error err "malformed object id" && test ! -e out &&
	test_must_fail t9kfs chunk verify 12345 2>err &&
	test_one_line_error err "malformed object id"
'

test_expect_success 'unknown chunk id: not found' '
	test_must_fail t9kfs chunk get "$(printf "%064d" 0)" 2>err &&
	test_one_line_error err "not found"
'

test_expect_success 'unusable store: clear error, nothing written' '
	echo data >f && echo notadir >storefile &&
	test_must_fail t9kfs --store "$TEST_DIR/storefile" chunk put f 2>err &&
	test_one_line_error err "not a directory" &&
	test_must_fail t9kfs --store "$TEST_DIR/storefile/sub" chunk put f 2>err &&
	test_one_line_error err "Not a directory" &&
	test_must_fail t9kfs --store ftp://example/x chunk put f 2>err &&
	test_one_line_error err "unknown scheme" &&
	test "$(cat storefile)" = notadir
'

test_expect_success 'bad chunk sizes are refused' '
	echo data >f &&
	test_must_fail t9kfs chunk put --avg 1000 f 2>err &&
	test_one_line_error err "power of two" &&
	test_must_fail t9kfs chunk put --min 8M f 2>err &&
	test_one_line_error err "min < avg < max" &&
	test_must_fail t9kfs chunk put --max lots f 2>err &&
	test_one_line_error err "invalid size .lots." &&
	test_must_fail t9kfs chunk put --threads 0 f 2>err &&
	test ! -e "$T9KFS_HOME"
'

test_done
