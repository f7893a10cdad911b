#!/bin/bash
# The SDK on the real RGW (lib-s3.sh starts a one-node Ceph): the pytest
# suite of test/python with every repository on an s3:// store of the
# bucket (T9KFS_TEST_STORE), through the embedded server the library
# starts: every call, errors, fsspec and pandas, transactions, tracking
# and the PyTorch datasets read their bytes from S3. The run without
# /dev/fuse is t0900's (it does not depend on the store).
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "no $PY"
"$PY" -c 'import pytest' 2>/dev/null ||
	skip_all "python3-pytest is not installed (scripts/install-deps.sh)"
[ -e "$TOP/build/libt9kfs.so.0" ] || skip_all "build/libt9kfs.so.0 is not built (make sdk)"
. "$(dirname "$0")/lib-s3.sh"
test_cleanup t9kfs server stop

test_expect_success 'pytest test/python: the SDK with its repositories on s3://' '
	T9KFS_TEST_HOME=$T9KFS_HOME T9KFS_TEST_STORE="$(s3_url "sdk/{name}")" \
		"$PY" -m pytest -q -rs -p no:cacheprovider -p no:warnings -k "not dev_fuse_hidden" \
		"$TOP/test/python" >pytest.out 2>&1 || { cat pytest.out; false; }
	tail -n 1 pytest.out &&
	[ "$(store_tool "$(s3_url "")" count sdk/)" -gt 0 ]
'
say "# $(tail -n 1 "$TEST_DIR/pytest.out" 2>/dev/null)"
grep "^SKIPPED" "$TEST_DIR/pytest.out" 2>/dev/null | sed 's/^/# /'

test_done
