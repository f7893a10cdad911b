/* "t9kfs mount" and "t9kfs umount": FUSE mounts of commits, tags and
 * branches (fs/fs.h).
 *
 * mount runs the file system in a daemon (unless --foreground) and
 * returns once the kernel has the mount, or with the daemon's error. Each
 * mount leaves $T9KFS_HOME/mounts/KEY.pid (pid, mount point, spec) while
 * it runs and KEY.log (the daemon's log), KEY being derived from the
 * mount point. umount unmounts, then waits for the daemon to finish
 * storing what is still open; it also cleans a mount whose daemon died
 * (kill -9), and mount does that by itself on a dead mount point.
 */
#include "tools/cli.h"

#include "cache/client.h"
#include "cache/net.h"
#include "fs/cache-source.h"
#include "fs/chunks.h"
#include "fs/fs.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/db.h"
#include "tools/members.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAEMON_EXIT_WAIT 600 /* tenths of a second umount waits for the daemon */
#define FOLLOW_POLL_TIMEOUT 10 /* seconds a following mount's poll may take */

static const char mount_usage[] =
	"usage: t9kfs mount [-o OPTIONS] [--cache ADDR | --cache-group PEERS] [--foreground]\n"
	"                   REPO[@REF] MOUNTPOINT\n"
	"       t9kfs mount            (lists this home's mounts)\n"
	"\n"
	"Mounts a commit or tag read-only, or a branch read-write (unless -o ro),\n"
	"and returns once the mount is up; the file system runs in a daemon that\n"
	"logs to $T9KFS_HOME/mounts/. Files written to a branch mount are stored\n"
	"and staged when closed or fsynced; 't9kfs commit' records them.\n"
	"A read-only mount of a branch follows the branch: when its head moves,\n"
	"the mount shows the new commit; files already open keep the version\n"
	"they opened.\n"
	"\n"
	"options (-o, comma-separated):\n"
	"  ro                    read-only, also for a branch\n"
	"  allow_other           let other users in (as root)\n"
	"  default_permissions   the kernel checks modes\n"
	"  cache_size=SIZE       in-memory chunk cache (default 256M)\n"
	"  prefetch=SIZE         read-ahead window of sequential readers (default 64M)\n"
	"  prefetch_threads=N    parallel chunk fetches (default max(4, CPUs))\n"
	"  read_ahead_kb=N       kernel readahead of the mount, as root (default 16384)\n"
	"  max_threads=N         FUSE worker threads (default 16)\n"
	"  timeout=SECONDS       entry and attribute cache (default 86400)\n"
	"  poll=SECONDS          how often a read-only branch mount checks its\n"
	"                        branch's head (default 2; 0: stay at the commit\n"
	"                        resolved at mount)\n"
	"  uid=N,gid=N           owner shown for stored files (default: the caller)\n"
	"  cache_data            take chunk bytes from the cache daemon over the socket\n"
	"                        instead of reading its files through passed descriptors\n"
	"\n"
	"  --cache ADDR          read chunks through the node's cache daemon (unix:PATH\n"
	"                        or HOST:PORT; env T9KFS_CACHE); see 't9kfs cache serve'\n"
	"  --cache-group PEERS   read chunks from their owners in a cache group directly\n"
	"                        (comma-separated HOST:PORT, or @NAME: the live members\n"
	"                        of a group registered in the metadata service,\n"
	"                        followed while mounted; env T9KFS_CACHE_GROUP)\n"
	"  --foreground          stay in the foreground, log to stderr\n"
	"Chunks from a cache are verified here; a cache that fails is skipped and the\n"
	"store read instead.\n";

static const char umount_usage[] =
	"usage: t9kfs umount [-l] MOUNTPOINT\n"
	"\n"
	"Unmounts a t9kfs mount and waits for its daemon to store what it still\n"
	"holds. Also cleans up a mount whose daemon died. -l detaches a busy mount\n"
	"lazily.\n";

/* ---- mount points and their state files ---- */

/* The absolute path of mp without resolving its last component, which
 * may be a dead mount that cannot be stat'ed. */
static int abs_mountpoint(const char *mp, char *out, size_t size)
{
	char *a = strdup(mp), *b = strdup(mp), dir[PATH_MAX];
	const char *base;
	int rc = 0, n;

	if (!a || !b) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	base = basename(b);
	if (!realpath(dirname(a), dir)) {
		rc = t9k_err(-errno, "mount point '%s': %s", mp, strerror(errno));
		goto out;
	}
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/")) {
		if (!realpath(mp, out)) /* size: PATH_MAX */
			rc = t9k_err(-errno, "mount point '%s': %s", mp, strerror(errno));
		goto out;
	}
	n = snprintf(out, size, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base);
	if (n < 0 || (size_t)n >= size)
		rc = t9k_err(-ENAMETOOLONG, "mount point '%s': path too long", mp);
out:
	free(a);
	free(b);
	return rc;
}

static int state_path(struct cli *cli, const char *mp, const char *ext, char *out, size_t size)
{
	char hex[OID_HEXSZ + 1];
	struct oid id;
	int rc = oid_hash(&id, mp, strlen(mp)), n;

	if (rc < 0)
		return rc;
	oid_to_hex(&id, hex);
	hex[16] = '\0';
	n = snprintf(out, size, "%s/mounts/%s.%s", cli->home, hex, ext);
	return n < 0 || (size_t)n >= size ? t9k_err(-ENAMETOOLONG, "T9KFS_HOME is too long") : 0;
}

static void copy_line(char *out, size_t size, char *line)
{
	size_t n;

	line[strcspn(line, "\n")] = '\0';
	n = strlen(line) < size - 1 ? strlen(line) : size - 1;
	memcpy(out, line, n);
	out[n] = '\0';
}

/* The pid in a state file (0 if none), and the mount point and spec. */
static int read_pidfile(const char *path, char *mp, size_t mpsz, char *spec, size_t specsz)
{
	FILE *f = fopen(path, "r");
	char line[PATH_MAX + 64];
	int pid = 0;

	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f))
		pid = atoi(line);
	if (mp && fgets(line, sizeof(line), f))
		copy_line(mp, mpsz, line);
	if (spec && fgets(line, sizeof(line), f))
		copy_line(spec, specsz, line);
	fclose(f);
	return pid > 0 ? pid : 0;
}

/* A running process: not gone, and not a zombie nobody reaps (a daemon
 * outlives the command that started it). */
static bool alive(int pid)
{
	char path[64], buf[256], *p;
	int fd;
	ssize_t n;

	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && p[2] == 'Z');
}

/* Is mp a mount point of a t9kfs file system now? */
static bool is_t9kfs_mount(const char *mp)
{
	char type[64];

	return fs_mount_info(mp, NULL, NULL, type, sizeof(type)) == 0 &&
	       !strcmp(type, "fuse.t9kfs");
}

/* Unmounts mp: umount2 as root, fusermount3 otherwise. */
static int do_unmount(const char *mp, bool lazy)
{
	pid_t pid;
	int status;

	if (geteuid() == 0) {
		if (umount2(mp, lazy ? MNT_DETACH : 0) == 0)
			return 0;
		if (errno == EBUSY)
			return t9k_err(-EBUSY, "%s is busy (files open? 't9kfs umount -l' detaches it)",
				       mp);
		return t9k_err(-errno, "cannot unmount %s: %s", mp, strerror(errno));
	}
	pid = fork();
	if (pid < 0)
		return t9k_err(-errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u", "--", mp, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return t9k_err(-EIO, "fusermount3 -u %s failed", mp);
	return 0;
}

/* Does the mount at mp answer? statfs always reaches the daemon (stat
 * may be answered from the kernel's attribute cache). */
static bool mount_dead(const char *mp)
{
	struct statvfs sv;

	return statvfs(mp, &sv) < 0 && errno == ENOTCONN;
}

/* A dead t9kfs mount at mp (its daemon gone): detach it. */
static int clean_dead(const char *mp)
{
	if (!mount_dead(mp))
		return 0;
	t9k_log(T9K_LOG_WARN, "%s: cleaning a dead mount", mp);
	return do_unmount(mp, true);
}

/* ---- mount ---- */

/* Tells the waiting parent how the mount went: "0 message" or "-code message". */
static void notify(int fd, int rc, const char *msg)
{
	char line[PATH_MAX + 1200];
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%d %s\n", rc, msg);
	if (n > 0 && write_full(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		t9k_log(T9K_LOG_WARN, "cannot tell the mount command: %s", strerror(errno));
	close(fd);
}

struct mount_req {
	int notify_fd;
	const char *cache, *cache_group; /* --cache, --cache-group */
	bool cache_data;
	char msg[PATH_MAX + 1024];
	struct spec sp;
	const char *spec_arg;
	char mp[PATH_MAX];
	struct fs_opts o;
	char pidfile[PATH_MAX + 64];
};

/* From the file system once it answers: tell whoever waits. */
static void mount_ready(void *arg, int rc)
{
	struct mount_req *m = arg;

	if (rc == 0)
		t9k_log(T9K_LOG_INFO, "%s", m->msg);
	if (m->notify_fd >= 0)
		notify(m->notify_fd, rc, rc == 0 ? m->msg : t9k_errmsg(rc));
	else if (rc == 0)
		printf("%s\n", m->msg), fflush(stdout);
	m->notify_fd = -1;
}

/* ---- chunks through the cache ---- */

/* The mount's chunk source when a cache is configured
 * (fs/cache-source.h), and the watch of a group named @NAME. */
struct cache_source {
	struct fs_cache_source *src;
	struct members_watch *watch; /* --cache-group @NAME */
};

/* A group named @NAME is the live member list of the metadata service,
 * followed while the mount runs. */
static int cache_source_new(struct cli *cli, struct mount_req *m, struct store *st,
			    struct cache_source **out)
{
	struct cache_client_opts co = { .local = m->cache, .group = m->cache_group,
					.store_url = store_url(st), .no_fd = m->cache_data };
	struct cache_source *cs = calloc(1, sizeof(*cs));
	char *members = NULL;
	int rc = 0;

	*out = NULL;
	if (!cs)
		return t9k_err(-ENOMEM, "out of memory");
	if (m->cache_group && m->cache_group[0] == '@') {
		struct meta_client *own;

		rc = cli_client_new(cli, &own);
		if (rc == 0)
			rc = members_watch_new(own, m->cache_group + 1, NULL, NULL,
					       MEMBERS_WATCH_TTL_MS, &members, &cs->watch);
		co.group = members;
	}
	if (rc == 0)
		rc = fs_cache_source_new(&co, st, true, &cs->src);
	free(members);
	if (rc == 0 && cs->watch)
		rc = members_watch_start(cs->watch, fs_cache_source_set_group, cs->src);
	if (rc < 0) {
		members_watch_stop(cs->watch);
		fs_cache_source_free(cs->src);
		free(cs);
		return rc;
	}
	*out = cs;
	return 0;
}

static void cache_source_free(struct cache_source *cs)
{
	if (!cs)
		return;
	members_watch_stop(cs->watch);
	fs_cache_source_free(cs->src);
	free(cs);
}

/* Runs the mount until it is unmounted; notify_fd hears once it is up. */
static int mount_run(struct cli *cli, struct mount_req *m, int notify_fd)
{
	char spool[sizeof(cli->home) + 16], fsname[400], hex[OID_HEXSZ + 1];
	const char *ref = m->sp.has_ref ? m->sp.ref : "main";
	struct meta_client *mc;
	struct repo *r = NULL;
	struct fs *fs = NULL;
	struct cache_source *cs = NULL;
	struct fs_chunk_source src;
	struct oid commit;
	bool is_branch = false;
	FILE *f;
	int rc;

	m->notify_fd = notify_fd;
	rc = cli_client(cli, &mc);
	if (rc == 0)
		rc = meta_client_open_repo(mc, m->sp.repo, &r);
	if (rc == 0)
		rc = repo_resolve_ex(r, ref, &commit, &is_branch);
	if (rc < 0)
		goto out;
	snprintf(spool, sizeof(spool), "%s/spool", cli->home);
	snprintf(fsname, sizeof(fsname), "t9kfs:%s@%s", m->sp.repo, ref);
	m->o.mountpoint = m->mp;
	m->o.spool_dir = spool;
	m->o.fsname = fsname;
	m->o.ready = mount_ready;
	m->o.ready_arg = m;
	snprintf(m->msg, sizeof(m->msg), "mounted %s@%s (commit %.12s, %s%s) at %s", m->sp.repo,
		 ref, oid_to_hex(&commit, hex),
		 is_branch && !m->o.read_only ? "read-write" : "read-only",
		 is_branch && m->o.read_only && m->o.poll_s ? ", following the branch" : "", m->mp);
	/* A following mount's only requests are polls: one that hangs must
	 * not hold up an unmount for long. */
	if (is_branch && m->o.read_only && m->o.poll_s)
		meta_client_set_timeout(mc, FOLLOW_POLL_TIMEOUT);
	if (m->cache || m->cache_group) {
		rc = cache_source_new(cli, m, repo_store(r), &cs);
		if (rc < 0)
			goto out;
		fs_cache_source(cs->src, &src);
		m->o.source = &src;
		t9k_log(T9K_LOG_INFO, "reading chunks through %s %s", m->cache ? "the cache daemon at" :
			"the cache group", m->cache ? m->cache : m->cache_group);
	}
	rc = fs_new(mc, r, ref, &commit, is_branch, &m->o, &fs);
	if (rc == 0)
		rc = fs_mount(fs);
	if (rc < 0)
		goto out;
	f = fopen(m->pidfile, "w");
	if (!f || fprintf(f, "%d\n%s\n%s\n", (int)getpid(), m->mp, m->spec_arg) < 0 || fclose(f))
		t9k_log(T9K_LOG_WARN, "cannot write %s: %s", m->pidfile, strerror(errno));
	rc = fs_serve(fs);
	t9k_log(T9K_LOG_INFO, "%s: unmounted", m->mp);
	unlink(m->pidfile);
out:
	if (rc < 0)
		t9k_log(T9K_LOG_ERROR, "mount %s at %s: %s", m->spec_arg, m->mp, t9k_errmsg(rc));
	if (m->notify_fd >= 0) /* never got up */
		notify(m->notify_fd, rc < 0 ? rc : -EIO, rc < 0 ? t9k_errmsg(rc) : "the mount ended");
	fs_free(fs);
	cache_source_free(cs);
	repo_close(r);
	return rc;
}

/* Forks the daemon and waits for its word. */
static int mount_daemon(struct cli *cli, struct mount_req *m, const char *logpath)
{
	char line[PATH_MAX + 1200];
	int p[2], status, rc;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return t9k_err(-errno, "pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return t9k_err(-errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC), lfd;

		close(p[0]);
		setsid();
		if (chdir("/") < 0)
			_exit(1);
		lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0)
			dup2(fd, STDIN_FILENO);
		if (lfd >= 0) {
			dup2(lfd, STDOUT_FILENO);
			dup2(lfd, STDERR_FILENO);
		}
		rc = mount_run(cli, m, p[1]);
		meta_client_free(cli->client);
		cli->client = NULL;
		exit(rc < 0 ? 1 : 0);
	}
	close(p[1]);
	n = read_full(p[0], line, sizeof(line) - 1);
	close(p[0]);
	if (n <= 0) {
		waitpid(pid, &status, 0);
		return t9k_err(-EIO, "the mount daemon exited before the mount was up; see %s", logpath);
	}
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	rc = atoi(line);
	if (rc < 0) {
		waitpid(pid, &status, 0);
		return t9k_err(rc, "%s", strchr(line, ' ') ? strchr(line, ' ') + 1 : line);
	}
	printf("%s\n", strchr(line, ' ') ? strchr(line, ' ') + 1 : line);
	return 0;
}

static int list_mounts(struct cli *cli)
{
	char dir[sizeof(cli->home) + 16];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/mounts", cli->home);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[PATH_MAX + 300], mp[PATH_MAX] = "?", spec[400] = "?";
		size_t len = strlen(de->d_name);
		int pid;

		if (len < 5 || strcmp(de->d_name + len - 4, ".pid"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		pid = read_pidfile(path, mp, sizeof(mp), spec, sizeof(spec));
		printf("%s %s pid %d%s\n", mp, spec, pid, alive(pid) ? "" : " (dead: t9kfs umount it)");
	}
	closedir(d);
	return 0;
}

int cmd_mount(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "cache", required_argument, NULL, 'C' },
		{ "cache-group", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mount_req *m = calloc(1, sizeof(*m));
	const char *env;
	char logpath[PATH_MAX + 64], mdir[sizeof(cli->home) + 16];
	bool foreground = false;
	struct stat sb;
	int o, rc = 0;

	if (!m)
		return cli_fail(t9k_err(-ENOMEM, "out of memory"));
	fs_opts_init(&m->o);
	optind = 0;
	while ((o = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
		if (o == 'o') {
			rc = fs_opts_parse(&m->o, &m->cache_data, optarg);
			if (rc < 0)
				goto out;
		} else if (o == 'C') {
			m->cache = optarg;
		} else if (o == 'G') {
			m->cache_group = optarg;
		} else if (o == 'f') {
			foreground = true;
		} else {
			fputs(mount_usage, o == 'h' ? stdout : stderr);
			free(m);
			return o == 'h' ? 0 : 2;
		}
	}
	if (optind == argc) {
		free(m);
		return list_mounts(cli);
	}
	if (optind != argc - 2) {
		fputs(mount_usage, stderr);
		free(m);
		return 2;
	}
	if (!m->cache && !m->cache_group) {
		if ((env = getenv("T9KFS_CACHE")) && *env)
			m->cache = env;
		else if ((env = getenv("T9KFS_CACHE_GROUP")) && *env)
			m->cache_group = env;
	}
	if (m->cache && m->cache_group) {
		rc = t9k_err(T9K_EUSAGE, "--cache and --cache-group exclude each other (the local "
			     "daemon already reads through its group)");
		goto out;
	}
	if (m->cache && (rc = cache_net_check(m->cache)) < 0)
		goto out;
	if (m->cache_group && m->cache_group[0] == '@') {
		if ((rc = meta_cache_group_name_check(m->cache_group + 1)) < 0)
			goto out;
	} else if (m->cache_group) {
		char **list;
		int n;

		rc = cache_net_list(m->cache_group, &list, &n);
		if (rc < 0)
			goto out;
		cache_net_list_free(list);
	}
	m->spec_arg = argv[optind];
	rc = spec_parse(argv[optind], 0, &m->sp);
	if (rc == 0 && m->sp.has_path && m->sp.path[0])
		rc = t9k_err(T9K_EUSAGE, "'%s': mounting a directory of a commit is not supported yet",
			     argv[optind]);
	if (rc == 0)
		rc = abs_mountpoint(argv[optind + 1], m->mp, sizeof(m->mp));
	if (rc == 0 && is_t9kfs_mount(m->mp) && !mount_dead(m->mp))
		rc = t9k_err(-EBUSY, "%s is already a t9kfs mount ('t9kfs umount' it first)", m->mp);
	if (rc == 0)
		rc = clean_dead(m->mp);
	if (rc == 0 && stat(m->mp, &sb) < 0)
		rc = t9k_err(-errno, "mount point %s: %s", m->mp, strerror(errno));
	if (rc == 0 && !S_ISDIR(sb.st_mode))
		rc = t9k_err(-ENOTDIR, "mount point %s is not a directory", m->mp);
	snprintf(mdir, sizeof(mdir), "%s/mounts", cli->home);
	if (rc == 0) {
		rc = mkdir_p(mdir, 0700);
		if (rc < 0)
			rc = t9k_err(rc, "cannot create %s: %s", mdir, strerror(-rc));
		else
			rc = 0;
	}
	if (rc == 0)
		rc = state_path(cli, m->mp, "pid", m->pidfile, sizeof(m->pidfile));
	if (rc == 0)
		rc = state_path(cli, m->mp, "log", logpath, sizeof(logpath));
	if (rc < 0)
		goto out;
	if (foreground)
		rc = mount_run(cli, m, -1);
	else
		rc = mount_daemon(cli, m, logpath);
out:
	free(m);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- umount ---- */

int cmd_umount(struct cli *cli, int argc, char **argv)
{
	char mp[PATH_MAX], pidfile[PATH_MAX + 64];
	bool lazy = false;
	int o, rc, pid;

	optind = 0;
	while ((o = getopt(argc, argv, "lh")) != -1) {
		if (o == 'l') {
			lazy = true;
		} else {
			fputs(umount_usage, o == 'h' ? stdout : stderr);
			return o == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1)
		return fputs(umount_usage, stderr), 2;
	rc = abs_mountpoint(argv[optind], mp, sizeof(mp));
	if (rc == 0)
		rc = state_path(cli, mp, "pid", pidfile, sizeof(pidfile));
	if (rc < 0)
		return cli_fail(rc);
	pid = read_pidfile(pidfile, NULL, 0, NULL, 0);
	if (!is_t9kfs_mount(mp)) {
		if (pid && !alive(pid))
			unlink(pidfile); /* a daemon that died after its mount was cleaned */
		return cli_fail(t9k_err(-EINVAL, "%s is not a t9kfs mount", mp));
	}
	rc = do_unmount(mp, lazy);
	if (rc < 0)
		return cli_fail(rc);
	/* the daemon stores what is still dirty, then exits */
	for (int i = 0; i < DAEMON_EXIT_WAIT && alive(pid); i++)
		usleep(100000);
	if (alive(pid))
		return cli_fail(t9k_err(-ETIMEDOUT, "unmounted %s, but its daemon (pid %d) is still "
					"running", mp, pid));
	unlink(pidfile);
	printf("unmounted %s\n", mp);
	return 0;
}
