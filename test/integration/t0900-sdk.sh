#!/bin/bash
# The SDK end to end: the pytest suite of test/python (Client, refs, files,
# errors, fsspec with pandas, PyTorch datasets and DataLoader workers,
# experiment tracking read back by the CLI, a run with /dev/fuse hidden)
# through build/libt9kfs.so.0 against the embedded server the library
# starts in this test's T9KFS_HOME, on its file:// store. Torch, fsspec
# and pandas tests skip, saying so, where those packages are missing.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3 # Debian's Python packages work only with it
[ -x "$PY" ] || skip_all "no $PY"
"$PY" -c 'import pytest' 2>/dev/null ||
	skip_all "python3-pytest is not installed (scripts/install-deps.sh)"
[ -e "$TOP/build/libt9kfs.so.0" ] || skip_all "build/libt9kfs.so.0 is not built (make sdk)"
test_cleanup t9kfs server stop

test_expect_success 'pytest test/python: the SDK against a real server on file://' '
	T9KFS_TEST_HOME=$T9KFS_HOME "$PY" -m pytest -q -rs -p no:cacheprovider -p no:warnings \
		"$TOP/test/python" >pytest.out 2>&1 || { cat pytest.out; false; }
	tail -n 1 pytest.out
'
say "# $(tail -n 1 "$TEST_DIR/pytest.out" 2>/dev/null)"
grep "^SKIPPED" "$TEST_DIR/pytest.out" 2>/dev/null | sed 's/^/# /'

test_done
