# Shared helper for integration tests (in the spirit of git's t/test-lib.sh).
# Source it first:  . "$(dirname "$0")/lib.sh"
#
# Gives each test script a private directory ($TEST_DIR, removed at exit),
# T9KFS_HOME inside it, a `t9kfs` function running the binary under test
# ($T9KFS_BIN, default ./t9kfs), and:
#   test_expect_success DESC 'commands'   run commands with set -e in a subshell
#   test_must_fail CMD...                 CMD must fail cleanly (exit 1..125, no signal)
#   test_cmp EXPECTED ACTUAL              files must be equal (diff shown otherwise)
#   test_cleanup CMD...                   run CMD at exit, also on failure (last first)
#   test_wait SECONDS CMD...              run CMD every 0.1 s until it succeeds (fails,
#                                         saying what it waited for, after SECONDS)
#   free_ports N                          N distinct free TCP ports on 127.0.0.1
#   skip_all REASON                       skip the whole script (exit 77)
#   test_done                             print the result and exit
set -u

TEST_NAME=$(basename "$0" .sh)
TOP=$(cd "$(dirname "$0")/../.." && pwd)
T9KFS_BIN=${T9KFS_BIN:-$TOP/t9kfs}
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/t9kfs-$TEST_NAME.XXXXXX")
export T9KFS_HOME="$TEST_DIR/home"
unset T9KFS_STORE
# Leak checks stay on; a sanitizer report fails the command.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:exitcode=87:print_stacktrace=1}

test_count=0
test_failed=0
_cleanup_cmds=()

test_cleanup() {
	_cleanup_cmds=("$*" "${_cleanup_cmds[@]}")
}

_run_cleanup() {
	local c
	for c in "${_cleanup_cmds[@]}"; do
		eval "$c" >/dev/null 2>&1 || true
	done
	rm -rf --one-file-system "$TEST_DIR" # never into a mount left behind
}
trap _run_cleanup EXIT
trap 'exit 130' INT TERM

t9kfs() {
	"$T9KFS_BIN" "$@"
}

say() {
	printf '%s\n' "$*"
}

test_expect_success() {
	local desc=$1 body=$2
	test_count=$((test_count + 1))
	if (cd "$TEST_DIR" && set -e && eval "$body") >"$TEST_DIR/.out" 2>&1; then
		say "ok $test_count - $desc"
	else
		test_failed=$((test_failed + 1))
		say "not ok $test_count - $desc"
		sed 's/^/#   /' "$TEST_DIR/.out"
	fi
}

test_must_fail() {
	local rc=0
	"$@" || rc=$?
	if [ "$rc" = 0 ]; then
		echo "test_must_fail: '$*' succeeded" >&2
		return 1
	elif [ "$rc" -gt 125 ] || [ "$rc" = 86 ] || [ "$rc" = 87 ]; then
		echo "test_must_fail: '$*' died (exit $rc)" >&2
		return 1
	fi
	return 0
}

test_wait() {
	local secs=$1 i
	shift
	for i in $(seq $((secs * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	echo "test_wait: no success within $secs s: $*" >&2
	return 1
}

test_cmp() {
	diff -u "$1" "$2"
}

# stderr of the last command must be exactly one line matching a pattern
test_one_line_error() {
	local file=$1 pattern=$2
	[ "$(wc -l <"$file")" = 1 ] || { echo "want one line of error, got:"; cat "$file"; return 1; }
	grep -q -- "$pattern" "$file" || { echo "error does not match '$pattern':"; cat "$file"; return 1; }
}

# shellcheck source=test/integration/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

skip_all() {
	say "1..0 # SKIP $TEST_NAME: $*"
	exit 77
}

test_done() {
	say "# $TEST_NAME: $((test_count - test_failed)) of $test_count passed"
	[ "$test_failed" = 0 ]
	exit $?
}
