# Helpers for the tests with real FUSE mounts. Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib-mount.sh"
#
# Sourcing skips the whole script (exit 77, with the reason) unless FUSE
# mounts can work here: root, /dev/fuse that opens, fusermount3. It
# registers, for the end (also on failure), the unmount of every t9kfs
# mount under $TEST_DIR and the stop of the embedded server. (Test bodies
# run in subshells, so a cleanup registered there would be lost.) It gives:
#   mount_t9kfs SPEC DIR [ARGS...]  t9kfs mount
#   umount_t9kfs DIR                t9kfs umount
#   mount_pid DIR                   the pid of DIR's mount daemon
#   tree_list DIR                   one line per entry under DIR: path, type,
#                                   mode, size (files, symlinks), mtime, target
#   tree_list_nomtime DIR           the same without mtimes
#   mount_logs_clean                fails when a mount daemon's log has a
#                                   sanitizer report or an unexpected error

[ "$(id -u)" = 0 ] || skip_all "FUSE mounts need root here (/dev/fuse is root-only)"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
{ exec 9<>/dev/fuse; } 2>/dev/null || skip_all "/dev/fuse cannot be opened"
exec 9>&-
command -v fusermount3 >/dev/null || skip_all "fusermount3 is not installed (apt-get install fuse3)"

unmount_all() {
	local m
	awk '$3 == "fuse.t9kfs" { print $2 }' /proc/mounts | grep "^$TEST_DIR/" |
		while read -r m; do
			t9kfs umount -l "$m" || umount -l "$m"
		done
}

test_cleanup t9kfs server stop
test_cleanup unmount_all

mount_t9kfs() {
	local spec=$1 dir=$2
	shift 2
	mkdir -p "$dir" 2>/dev/null
	t9kfs mount "$@" "$spec" "$dir"
}

umount_t9kfs() {
	t9kfs umount "$1"
}

mount_pid() {
	local mp
	mp=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	t9kfs mount | awk -v mp="$mp" '$1 == mp { print $4 }'
}

# Directories' sizes differ between file systems; everything else must not.
tree_list() {
	(cd "$1" && find . -mindepth 1 -printf '%y %m %s %T@ %p -> %l\n') |
		awk '$1 == "d" { $3 = "-" } { print }' | sort -k5
}

tree_list_nomtime() {
	tree_list "$1" | awk '{ $4 = "-"; print }'
}

mount_logs_clean() {
	local f bad=0
	for f in "$T9KFS_HOME"/mounts/*.log; do
		[ -e "$f" ] || continue
		if grep -E "Sanitizer|runtime error|forget of|unknown inode" "$f"; then
			echo "in $f"
			bad=1
		fi
	done
	[ "$bad" = 0 ]
}
