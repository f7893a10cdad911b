# Helpers of the POSIX rules suite (t045x-posix-*.sh, t0460): the same
# operations applied to a local directory and to a branch mount, by root
# and by an unprivileged user, their transcripts compared. Source it after
# lib.sh and lib-mount.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib-mount.sh"
#   . "$(dirname "$0")/lib-posix.sh"
#
# The local directory is $TEST_DIR/loc, on the file system of $TEST_DIR
# (ext4 under /tmp on the project's machines; sourcing says which); the
# mount is $TEST_DIR/mnt, `t9kfs mount -o allow_other,default_permissions`
# of branch posix@b. The unprivileged user is uid $POSIX_U (1001), group
# $POSIX_G (1001) and supplementary group $POSIX_SG (2000), through
# setpriv; another owner is $POSIX_O:$POSIX_OG (1002:1002). None needs an
# entry in /etc/passwd. It gives:
#
#   posix_setup               the repository, the branch, its mount, loc/
#   posix_plan NAME < PLAN    keeps a plan (posix.py's format) for:
#   posix_compare NAME WHO    runs plan NAME's setup as root, then its
#                             checks as WHO (root or user), in loc/WHO/NAME
#                             and mnt/WHO/NAME; fails on any difference of
#                             the transcripts, or a result that is not the
#                             plan's "=> WANT" on the local directory
#   stat_is PATH FMT WANT     stat -c FMT of PATH is WANT (else says so)
#   posix_list DIR [OPTS]     posix.py list (type, mode, owner, size, nlink,
#                             rdev, link group, content of every entry)
#   posix_persist [OPTS]      the whole of mnt/ equals loc/ (by posix_list)
#                             and survives a commit, a read-only mount of
#                             the commit, a remount of the branch, an
#                             export as root and one with --no-owner, to
#                             the nanosecond of every mtime

[ -x /usr/bin/python3 ] || skip_all "no /usr/bin/python3"
command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"

export POSIX_U=1001 POSIX_G=1001 POSIX_SG=2000 POSIX_O=1002 POSIX_OG=1002
POSIX_PY=$TEST_DIR/posix.py

say "# local directory: $(df --output=fstype "$TEST_DIR" | tail -n 1) ($TEST_DIR/loc)"
# Without fine-grained timestamps two changes within a clock tick leave
# ctime alone: posix.py then waits a tick before each check.
if ! /usr/bin/python3 -c "
import os, sys
p = sys.argv[1] + '/.tick'
open(p, 'w').close()
os.chmod(p, 0o600); a = os.stat(p).st_ctime_ns
os.chmod(p, 0o644); b = os.stat(p).st_ctime_ns
os.unlink(p)
sys.exit(0 if b > a else 1)" "$TEST_DIR"; then
	export POSIX_TICK=0.011
	say "# coarse timestamps: an 11 ms wait before each check"
fi

# Runs "$@" as the unprivileged user.
as_user() {
	setpriv --reuid="$POSIX_U" --regid="$POSIX_G" --groups="$POSIX_SG" -- "$@"
}

posix_setup() {
	cp "$TOP/test/integration/posix.py" "$POSIX_PY" &&
	chmod 755 "$TEST_DIR" &&
	mkdir -p "$TEST_DIR/loc" "$TEST_DIR/plans" &&
	t9kfs repo create posix >/dev/null &&
	t9kfs branch create posix@b >/dev/null &&
	mount_t9kfs posix@b "$TEST_DIR/mnt" -o allow_other,default_permissions >/dev/null &&
	local d &&
	for d in loc mnt; do
		mkdir "$TEST_DIR/$d/root" "$TEST_DIR/$d/user" &&
		chmod 777 "$TEST_DIR/$d/root" "$TEST_DIR/$d/user" || return 1
	done
}

# stat_is PATH FORMAT WANT: stat -c FORMAT of PATH is WANT, or says what it is
stat_is() {
	local got
	got=$(stat -c "$2" "$1") || return 1
	[ "$got" = "$3" ] || { echo "stat -c '$2' $1: $got, want $3"; return 1; }
}

posix_plan() {
	cat >"$TEST_DIR/plans/$1"
}

posix_list() {
	/usr/bin/python3 "$POSIX_PY" list "$@"
}

# posix_compare NAME WHO
posix_compare() {
	local name=$1 who=$2 side run
	run=()
	[ "$who" = user ] && run=(as_user)
	for side in loc mnt; do
		/usr/bin/python3 "$POSIX_PY" setup "$TEST_DIR/$side/$who" \
			<"$TEST_DIR/plans/$name" >"$TEST_DIR/$name.$who.$side" 2>&1 &&
		(cd / && "${run[@]}" /usr/bin/python3 "$POSIX_PY" run "$TEST_DIR/$side/$who" \
			<"$TEST_DIR/plans/$name" >>"$TEST_DIR/$name.$who.$side" 2>&1) || {
			echo "posix.py failed on $side:"
			cat "$TEST_DIR/$name.$who.$side"
			return 1
		}
	done
	if grep -q '^!!\|^??\|Traceback' "$TEST_DIR/$name.$who.loc"; then
		echo "the local directory does not answer as the plan says:"
		grep -B1 '^!!\|^??\|Traceback' "$TEST_DIR/$name.$who.loc"
		return 1
	fi
	cmp -s "$TEST_DIR/$name.$who.loc" "$TEST_DIR/$name.$who.mnt" && return 0
	echo "checks that differ, 'block: check => local result / mount result':"
	/usr/bin/python3 "$POSIX_PY" diff "$TEST_DIR/$name.$who.loc" "$TEST_DIR/$name.$who.mnt"
	diff -u --label "local ($who)" --label "mount ($who)" \
		"$TEST_DIR/$name.$who.loc" "$TEST_DIR/$name.$who.mnt"
	return 1
}

# posix_cmp WHAT-A WHAT-B A B: diff, labelled; notes a failure in $bad
posix_cmp() {
	diff -u --label "$1" --label "$2" "$3" "$4" || bad=1
}

posix_persist() {
	local t=$TEST_DIR bad=0
	posix_list "$t/loc" "$@" >"$t/p.loc" &&
	posix_list "$t/mnt" "$@" >"$t/p.mnt" &&
	posix_list "$t/mnt" --mtime "$@" >"$t/p.branch" &&
	posix_list "$t/mnt" --mtime --no-owner "$@" >"$t/p.branch-no" || return 1
	posix_cmp local "branch mount" "$t/p.loc" "$t/p.mnt"
	t9kfs commit posix@b -m "posix checks" >/dev/null || return 1
	mount_t9kfs posix@b~0 "$t/mnt-c" -o allow_other,default_permissions >/dev/null || return 1
	posix_list "$t/mnt-c" --mtime "$@" >"$t/p.commit" || return 1
	umount_t9kfs "$t/mnt-c" >/dev/null || return 1
	posix_cmp "branch mount" "commit, mounted" "$t/p.branch" "$t/p.commit"
	umount_t9kfs "$t/mnt" >/dev/null &&
	mount_t9kfs posix@b "$t/mnt" -o allow_other,default_permissions >/dev/null &&
	posix_list "$t/mnt" --mtime "$@" >"$t/p.remount" || return 1
	posix_cmp "branch mount" "branch, remounted" "$t/p.branch" "$t/p.remount"
	rm -rf "$t/exp" "$t/exp-no"
	if t9kfs export posix@b "$t/exp" >/dev/null; then
		posix_list "$t/exp" --mtime "$@" >"$t/p.export" || return 1
		posix_cmp "branch mount" "export as root" "$t/p.branch" "$t/p.export"
	else
		bad=1
	fi
	if t9kfs export --no-owner posix@b "$t/exp-no" >/dev/null; then
		posix_list "$t/exp-no" --mtime --no-owner "$@" >"$t/p.export-no" || return 1
		posix_cmp "branch mount" "export --no-owner" "$t/p.branch-no" "$t/p.export-no"
		if find "$t/exp-no" ! -user 0 -o ! -group 0 | grep .; then
			echo "export --no-owner left the owners above (want root's, the exporting user's)"
			bad=1
		fi
	else
		bad=1
	fi
	[ "$bad" = 0 ]
}
