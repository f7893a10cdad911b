/* "t9kfs run": runs a command with its data declared and records the run
 * as a commit of its output branch (README "Experiments are commits").
 *
 * Every input ref is resolved to a commit id before anything starts. The
 * command runs in a private mount namespace and a PID namespace of its
 * own: the run's supervisor is PID 1 there, mounts each input read-only
 * (pinned to its commit) and the output branch read-write, runs the
 * command, tees its output into a bounded run log, then writes
 * .t9kfs/{run.json,metrics.jsonl,run.log} into the output, unmounts it
 * (its daemon stores what was written) and commits the branch with the
 * run's metadata, also when the command failed. The mounts exist only in
 * that namespace: the host never sees them, and when the supervisor dies
 * (its parent 'run' killed with -9: PR_SET_PDEATHSIG) the kernel kills
 * everything in the namespace, the mounts go with it.
 *
 *   t9kfs run (host) ── waits, relays SIGTERM, exits with the command's status
 *     └ unsharer: unshare(NEWNS|NEWPID), forks
 *         └ supervisor (PID 1): mounts, tees, records, commits
 *             ├ t9kfs mount daemons (one per input, one for the output)
 *             └ the command
 *
 * With --in-pod (Kubernetes, t9kfs job) the inputs and the output are
 * already mounted (CSI volumes): nothing is mounted, and only the pod of
 * rank 0 (RANK unset or 0) commits.
 */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/db.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_INPUTS_MAX 64
#define RUN_PARAMS_MAX 256
#define RUN_ENV_MAX 256
#define RUN_METRICS_MAX 256      /* metric names kept as commit metadata */
#define LOG_HEAD_MAX (1u << 20)  /* the run log keeps the first MiB ... */
#define LOG_TAIL_MAX (4u << 20)  /* ... and the last 4 MiB */
#define METRIC_LINE_MAX (64u << 10)

static const char run_usage[] =
	"usage: t9kfs run [--data REPO@REF[:PATH]=DIR]... [--output REPO@BRANCH=DIR]\n"
	"                 [--param KEY=VALUE]... [--metrics FILE] [-e KEY=VALUE]...\n"
	"                 [--cache-group PEERS] [--warmup] [-m MESSAGE] [--in-pod]\n"
	"                 -- COMMAND [ARGS...]\n"
	"\n"
	"Runs COMMAND with its data mounted, and records the run as a commit of the\n"
	"output branch: the inputs (pinned to the commit ids their refs had at the\n"
	"start), params, command line, exit status, times, host and the last value of\n"
	"each metric as metadata; .t9kfs/run.json, .t9kfs/metrics.jsonl and\n"
	".t9kfs/run.log (the command's output, at most the first 1 MiB and the last\n"
	"4 MiB) as files. A failed command is recorded too. Exits with COMMAND's\n"
	"status. Needs root: the mounts live in a private mount namespace, so the host\n"
	"never sees them and they go away however the run ends.\n"
	"\n"
	"  --data REPO@REF[:PATH]=DIR   mount a commit, tag or branch (its commit at the\n"
	"                               start), or a directory of it, read-only at DIR\n"
	"  --output REPO@BRANCH=DIR     mount the branch read-write at DIR and commit it\n"
	"                               at the end (without it nothing is recorded)\n"
	"  --param KEY=VALUE            a parameter of the run (T9KFS_PARAMS, metadata)\n"
	"  --metrics FILE               where the command writes its metrics, JSON lines\n"
	"                               {\"step\": N, \"loss\": 0.1, ...} (default: a file\n"
	"                               of the run; T9KFS_METRICS names it either way)\n"
	"  -e KEY=VALUE                 an environment variable of the command\n"
	"  --cache-group PEERS          read chunks through a cache group (as 't9kfs mount')\n"
	"  --warmup                     load the inputs into the cache first (t9kfs warmup)\n"
	"  -m MESSAGE                   the commit message (default: run ID: COMMAND)\n"
	"  --in-pod                     in a Kubernetes pod (t9kfs job): the data is\n"
	"                               mounted already; only rank 0 commits\n"
	"\n"
	"The command's environment: T9KFS_RUN_ID, T9KFS_METRICS, T9KFS_PARAMS (the\n"
	"params as a JSON object), T9KFS_OUTPUT (DIR of --output). DIRs are absolute;\n"
	"a missing one is created (and removed again if empty).\n";

struct run_mount {
	char arg[PATH_MAX + 400];       /* as given */
	struct spec sp;
	char dir[PATH_MAX];             /* where the command sees it */
	char mnt[PATH_MAX];             /* where it is mounted (dir, or a private dir + bind) */
	char hex[OID_HEXSZ + 1];        /* the commit at the start */
	bool created_dir, mounted, bound;
};

struct run {
	struct cli *cli;
	struct run_mount in[RUN_INPUTS_MAX];
	int nin;
	struct run_mount out;
	bool has_out, in_pod, warmup;
	json_t *params;                 /* KEY -> VALUE */
	char *env[RUN_ENV_MAX + 1];
	int nenv;
	const char *metrics, *cache_group, *message;
	char **cmd;
	char id[48], dir[PATH_MAX], metrics_file[PATH_MAX], host[256];
	char token[512];
	struct timespec start, end;
	int status;                     /* waitpid's of the command */
	bool started;                   /* the command ran */
	/* the run log: the head, then a ring of the tail */
	char *head, *tail;
	size_t head_len, tail_len, tail_pos;
	uint64_t log_total;
};

/* ---- arguments ---- */

static int parse_mount(const char *opt, const char *arg, struct run_mount *m)
{
	const char *eq = strstr(arg, "=/");
	char spec[sizeof(m->arg)];
	int rc;

	snprintf(m->arg, sizeof(m->arg), "%s", arg);
	if (!eq) {
		if (strchr(arg, '='))
			return t9k_err(T9K_EUSAGE, "%s '%s': DIR must be an absolute path", opt, arg);
		return t9k_err(T9K_EUSAGE, "%s '%s': want REPO@REF[:PATH]=DIR", opt, arg);
	}
	if ((size_t)(eq - arg) >= sizeof(spec) || strlen(eq + 1) >= sizeof(m->dir))
		return t9k_err(T9K_EUSAGE, "%s '%s': too long", opt, arg);
	memcpy(spec, arg, (size_t)(eq - arg));
	spec[eq - arg] = '\0';
	snprintf(m->dir, sizeof(m->dir), "%s", eq + 1);
	while (strlen(m->dir) > 1 && m->dir[strlen(m->dir) - 1] == '/')
		m->dir[strlen(m->dir) - 1] = '\0';
	if (!strcmp(m->dir, "/") || strstr(m->dir, "/../") || strstr(m->dir, "/./") ||
	    !strcmp(strrchr(m->dir, '/'), "/..") || !strcmp(strrchr(m->dir, '/'), "/."))
		return t9k_err(T9K_EUSAGE, "%s '%s': DIR must be a plain absolute path, not '/'", opt,
			       arg);
	rc = spec_parse(spec, 0, &m->sp);
	if (rc < 0)
		return t9k_err_wrap(rc, "%s", opt);
	if (!m->sp.has_ref)
		snprintf(m->sp.ref, sizeof(m->sp.ref), "%s", REPO_DEFAULT_BRANCH);
	return 0;
}

static int parse_kv(const char *opt, const char *arg, char *key, size_t keysz, const char **val)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg || (size_t)(eq - arg) >= keysz)
		return t9k_err(T9K_EUSAGE, "%s wants KEY=VALUE, not '%s'", opt, arg);
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	*val = eq + 1;
	return 0;
}

/* The PATH of an input must be a directory of its commit (checked before
 * anything is mounted). */
static int check_dir(struct meta_client *c, struct run_mount *m)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct repo *repo;
	struct oid id;
	int rc = oid_from_hex(&id, m->hex);

	if (rc == 0)
		rc = meta_client_open_repo(c, m->sp.repo, &repo);
	if (rc < 0)
		return rc;
	rc = repo_lookup(repo, &id, m->sp.path, &e, &hold);
	if (rc == 0 && !S_ISDIR(e.mode))
		rc = t9k_err(-ENOTDIR, "'%s' is not a directory of %s@%.12s", m->sp.path, m->sp.repo,
			     m->hex);
	if (hold)
		meta_node_put(repo_objects(repo), hold);
	repo_close(repo);
	return rc;
}

/* Resolves every ref (the output must be a branch): the run is pinned
 * before anything starts, and a bad one fails before anything changes. */
static int resolve_all(struct run *r)
{
	struct meta_client *c;
	int rc = cli_client(r->cli, &c);

	for (int i = 0; rc == 0 && i <= r->nin; i++) {
		struct run_mount *m = i < r->nin ? &r->in[i] : r->has_out ? &r->out : NULL;
		char path[1400], esc[1000], erepo[200];
		json_t *j = NULL;
		const char *id;

		if (!m)
			break;
		rc = meta_client_escape(m->sp.ref, esc, sizeof(esc));
		if (rc == 0)
			rc = meta_client_escape(m->sp.repo, erepo, sizeof(erepo));
		snprintf(path, sizeof(path), "/repos/%s/resolve?ref=%s", erepo, esc);
		if (rc == 0)
			rc = meta_client_call(c, "GET", path, NULL, &j);
		id = json_string_value(json_object_get(j, "commit"));
		if (rc == 0 && (!id || strlen(id) != OID_HEXSZ))
			rc = t9k_err(-EPROTO, "the metadata service sent no commit for %s", m->arg);
		if (rc == 0)
			snprintf(m->hex, sizeof(m->hex), "%s", id);
		if (rc == 0 && m == &r->out && !json_is_true(json_object_get(j, "branch")))
			rc = t9k_err(T9K_EUSAGE, "--output %s: '%s' is not a branch of '%s' (runs are "
				     "recorded as commits of a branch)", m->arg, m->sp.ref, m->sp.repo);
		if (rc == 0 && m != &r->out && m->sp.path[0])
			rc = check_dir(c, m);
		if (rc < 0 && rc != T9K_EUSAGE)
			rc = t9k_err_wrap(rc, "%s %s", m == &r->out ? "--output" : "--data", m->arg);
		json_decref(j);
	}
	return rc;
}

/* ---- small helpers ---- */

static void iso_time(const struct timespec *t, char *out, size_t size)
{
	struct tm tm;

	gmtime_r(&t->tv_sec, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* argv as one shell-quoted line. */
static char *quote_command(char **argv)
{
	struct buf b = BUF_INIT;

	for (int i = 0; argv[i]; i++) {
		const char *a = argv[i];
		bool plain = *a && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789_./=:,@%+-") == strlen(a);

		if (i && buf_add(&b, " ", 1) < 0)
			goto fail;
		if (plain) {
			if (buf_add(&b, a, strlen(a)) < 0)
				goto fail;
			continue;
		}
		if (buf_add(&b, "'", 1) < 0)
			goto fail;
		for (; *a; a++)
			if ((*a == '\'' ? buf_add(&b, "'\\''", 4) : buf_add(&b, a, 1)) < 0)
				goto fail;
		if (buf_add(&b, "'", 1) < 0)
			goto fail;
	}
	if (buf_add(&b, "", 1) < 0)
		goto fail;
	return (char *)b.data;
fail:
	buf_release(&b);
	return NULL;
}

/* Runs the t9kfs binary with args and environment env (stdout to
 * /dev/null: its "mounted ..." lines would mix with the command's
 * output); 0 when it succeeded. */
static int run_tool(char *const args[], char *const env[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return t9k_err(-errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, STDOUT_FILENO);
		execve("/proc/self/exe", args, env);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return t9k_err(-errno, "waitpid: %s", strerror(errno));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ---- the run log: the first LOG_HEAD_MAX bytes and a ring of the last ---- */

static void log_add(struct run *r, const char *data, size_t len)
{
	r->log_total += len;
	if (r->head_len < LOG_HEAD_MAX) {
		size_t n = len < LOG_HEAD_MAX - r->head_len ? len : LOG_HEAD_MAX - r->head_len;

		memcpy(r->head + r->head_len, data, n);
		r->head_len += n;
		data += n;
		len -= n;
	}
	while (len) {
		size_t n = len < LOG_TAIL_MAX - r->tail_pos ? len : LOG_TAIL_MAX - r->tail_pos;

		memcpy(r->tail + r->tail_pos, data, n);
		r->tail_pos = (r->tail_pos + n) % LOG_TAIL_MAX;
		if (r->tail_len < LOG_TAIL_MAX)
			r->tail_len = r->tail_len + n < LOG_TAIL_MAX ? r->tail_len + n : LOG_TAIL_MAX;
		data += n;
		len -= n;
	}
}

static int log_write(struct run *r, int fd)
{
	uint64_t kept = r->head_len + r->tail_len;
	size_t start = r->tail_len < LOG_TAIL_MAX ? 0 : r->tail_pos;
	char gap[128];
	int rc = write_full(fd, r->head, r->head_len);

	if (rc == 0 && r->log_total > kept) {
		int n = snprintf(gap, sizeof(gap), "\n[t9kfs run: %llu bytes of output not kept]\n",
				 (unsigned long long)(r->log_total - kept));

		rc = write_full(fd, gap, (size_t)n);
	}
	if (rc == 0)
		rc = write_full(fd, r->tail + start, r->tail_len - start);
	if (rc == 0 && start)
		rc = write_full(fd, r->tail, start);
	return rc;
}

/* ---- signals: relayed down the chain when another process sent them
 * (a terminal's Ctrl-C reaches the whole foreground group by itself) ---- */

static volatile sig_atomic_t relay_pid, got_signal;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_signal = sig;
	if (relay_pid > 0 && si->si_code == SI_USER)
		kill((pid_t)relay_pid, sig);
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* ---- mounts (in the run's mount namespace) ---- */

/* The environment of the t9kfs children (mount daemons): their state in
 * the run's directory, the service the run uses. */
static char **tool_env(struct run *r)
{
	static char home[PATH_MAX + 16], server[4300], token[600];
	extern char **environ;
	static char *env[1024];
	int n = 0;

	snprintf(home, sizeof(home), "T9KFS_HOME=%s", r->dir);
	snprintf(server, sizeof(server), "T9KFS_SERVER=%s", r->cli->server);
	snprintf(token, sizeof(token), "T9KFS_TOKEN=%s", r->token);
	for (char **e = environ; *e && n < 1020; e++)
		if (strncmp(*e, "T9KFS_HOME=", 11) && strncmp(*e, "T9KFS_SERVER=", 13) &&
		    strncmp(*e, "T9KFS_TOKEN=", 12))
			env[n++] = *e;
	env[n++] = home;
	env[n++] = server;
	env[n++] = token;
	env[n] = NULL;
	return env;
}


static int make_mount_dir(const char *dir, bool *created)
{
	struct stat st;
	int rc;

	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : t9k_err(-ENOTDIR, "%s is not a directory", dir);
	if (errno != ENOENT)
		return t9k_err(-errno, "%s: %s", dir, strerror(errno));
	rc = mkdir_p(dir, 0755);
	if (rc < 0)
		return t9k_err(rc, "cannot create %s: %s", dir, strerror(-rc));
	*created = true;
	return 0;
}

/* Mounts an input (its commit, read-only) or the output (its branch,
 * read-write) with 't9kfs mount'; an input's PATH is bound at its DIR
 * from a private mount, opened beneath it without following symlinks. */
static int mount_one(struct run *r, struct run_mount *m, int index)
{
	bool out = m == &r->out;
	char spec[META_REPO_NAME_MAX + META_REF_MAX + 4], src[64], *args[10];
	int n = 0, rc, fd;

	rc = make_mount_dir(m->dir, &m->created_dir);
	if (rc < 0)
		return rc;
	snprintf(spec, sizeof(spec), "%s@%s", m->sp.repo, out ? m->sp.ref : m->hex);
	if (!out && m->sp.path[0]) {
		if ((size_t)snprintf(m->mnt, sizeof(m->mnt), "%s/in/%d", r->dir, index) >= sizeof(m->mnt))
			return t9k_err(-ENAMETOOLONG, "%s: path too long", r->dir);
		rc = mkdir_p(m->mnt, 0700);
		if (rc < 0)
			return t9k_err(rc, "cannot create %s: %s", m->mnt, strerror(-rc));
	} else {
		snprintf(m->mnt, sizeof(m->mnt), "%s", m->dir);
	}
	args[n++] = "t9kfs";
	args[n++] = "mount";
	if (r->cache_group) {
		args[n++] = "--cache-group";
		args[n++] = (char *)r->cache_group;
	}
	args[n++] = spec;
	args[n++] = m->mnt;
	args[n] = NULL;
	if (run_tool(args, tool_env(r)) < 0)
		return t9k_err(-EIO, "cannot mount %s at %s (its log is under %s/mounts)", spec, m->mnt,
			       r->dir);
	m->mounted = true;
	if (strcmp(m->mnt, m->dir)) {
		fd = open_dir_beneath(m->mnt, m->sp.path);
		if (fd < 0)
			return t9k_err(fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV ?
				       T9K_ENOTFOUND : fd, "--data %s: '%s' is not a directory of %s "
				       "(symlinks are not followed)", m->arg, m->sp.path, spec);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
		rc = mount(src, m->dir, NULL, MS_BIND, NULL);
		if (rc == 0)
			m->bound = true;
		if (rc == 0)
			rc = mount(NULL, m->dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
				   NULL);
		close(fd);
		if (rc < 0)
			return t9k_err(-errno, "cannot bind %s at %s: %s", m->sp.path, m->dir,
				       strerror(errno));
	}
	return 0;
}

/* Unmounts what mount_one made; the output's daemon stores what is
 * still open before 't9kfs umount' returns. */
static int umount_one(struct run *r, struct run_mount *m)
{
	char *args[] = { "t9kfs", "umount", m->mnt, NULL };
	int rc = 0;

	if (m->bound && umount2(m->dir, MNT_DETACH) == 0)
		m->bound = false;
	if (m->mounted && (rc = run_tool(args, tool_env(r))) < 0)
		rc = t9k_err(-EIO, "cannot unmount %s: what was written there may not be stored",
			     m->mnt);
	else
		m->mounted = false;
	if (m->created_dir && rmdir(m->dir) == 0)
		m->created_dir = false;
	return rc;
}

/* ---- the command ---- */

/* Sets the command's environment (in its child, before exec). */
static void command_env(struct run *r)
{
	char *params = json_dumps(r->params, JSON_COMPACT | JSON_SORT_KEYS);

	setenv("T9KFS_RUN_ID", r->id, 1);
	setenv("T9KFS_METRICS", r->metrics_file, 1);
	setenv("T9KFS_PARAMS", params ? params : "{}", 1);
	if (r->has_out)
		setenv("T9KFS_OUTPUT", r->out.dir, 1);
	for (int i = 0; i < r->nenv; i++)
		putenv(r->env[i]);
}

/* Runs the command with its output teed into the run log; fills
 * r->status, r->start, r->end. */
static int run_command(struct run *r)
{
	int outp[2], errp[2], status = 0;
	struct pollfd p[2];
	bool exited = false;
	char buf[65536];
	sigset_t none;
	pid_t pid;

	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		return t9k_err(-errno, "pipe: %s", strerror(errno));
	clock_gettime(CLOCK_REALTIME, &r->start);
	pid = fork();
	if (pid < 0)
		return t9k_err(-errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(outp[1], STDOUT_FILENO);
		dup2(errp[1], STDERR_FILENO);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		command_env(r);
		execvp(r->cmd[0], r->cmd);
		fprintf(stderr, "t9kfs: cannot run '%s': %s\n", r->cmd[0], strerror(errno));
		_exit(127);
	}
	r->started = true;
	relay_pid = pid;
	close(outp[1]);
	close(errp[1]);
	p[0] = (struct pollfd){ .fd = outp[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
	/* until the command exited and its pipes are drained (or are held
	 * open only by something it left behind) */
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int k = poll(p, 2, exited ? 0 : 200);

		if (k < 0 && errno != EINTR)
			break;
		for (int i = 0; k > 0 && i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				continue;
			}
			(void)!write(i ? STDERR_FILENO : STDOUT_FILENO, buf, (size_t)n);
			log_add(r, buf, (size_t)n);
		}
		if (exited && k == 0)
			break;
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	while (!exited && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	relay_pid = 0;
	r->status = status;
	clock_gettime(CLOCK_REALTIME, &r->end);
	return 0;
}

static const char *status_name(const struct run *r)
{
	int st = r->status;

	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return "ok";
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGTERM || WTERMSIG(st) == SIGHUP ?
		       "interrupted" : "killed";
	if (got_signal && (WEXITSTATUS(st) == 128 + SIGINT || WEXITSTATUS(st) == 128 + SIGTERM))
		return "interrupted";
	return "failed";
}

static int exit_code(const struct run *r)
{
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

/* ---- the record ---- */

/* The last value of each metric in the JSON lines of path (at most
 * RUN_METRICS_MAX names; lines that are not JSON objects are counted
 * and skipped). */
static json_t *read_metrics(const char *path, long *lines, long *bad)
{
	json_t *last = json_object();
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	*lines = *bad = 0;
	while (f && last && (n = getline(&line, &cap, f)) > 0) {
		json_t *j, *v;
		const char *k;

		if ((size_t)n > METRIC_LINE_MAX || !(j = json_loadb(line, (size_t)n, 0, NULL)) ||
		    !json_is_object(j)) {
			if (strspn(line, " \t\r\n") != (size_t)n)
				(*bad)++;
			continue;
		}
		(*lines)++;
		json_object_foreach(j, k, v)
			if (json_object_get(last, k) || json_object_size(last) < RUN_METRICS_MAX)
				json_object_set(last, k, v);
		json_decref(j);
	}
	free(line);
	if (f)
		fclose(f);
	return last;
}

/* A JSON value as the text of a metadata value. */
static json_t *meta_text(json_t *v)
{
	char *s;
	json_t *out;

	if (json_is_string(v))
		return json_string(json_string_value(v));
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
	out = json_string(s ? s : "");
	free(s);
	return out;
}

/* The commit's metadata and .t9kfs/run.json, from one record. */
static int build_record(struct run *r, json_t *last, long lines, json_t **meta, json_t **doc)
{
	char start[40], end[40], buf[64], *cmdline = quote_command(r->cmd);
	double dur = (double)(r->end.tv_sec - r->start.tv_sec) +
		     (double)(r->end.tv_nsec - r->start.tv_nsec) / 1e9;
	json_t *m = json_object(), *d = json_object(), *ins = json_array(), *argv = json_array(), *v;
	const char *k;

	if (!cmdline || !m || !d || !ins || !argv) {
		free(cmdline);
		json_decref(m), json_decref(d), json_decref(ins), json_decref(argv);
		return t9k_err(-ENOMEM, "out of memory");
	}
	if (strlen(cmdline) > META_VALUE_MAX - 1)
		cmdline[META_VALUE_MAX - 1] = '\0';
	iso_time(&r->start, start, sizeof(start));
	iso_time(&r->end, end, sizeof(end));
	json_object_set_new(m, "run.id", json_string(r->id));
	json_object_set_new(m, "run.command", json_string(cmdline));
	json_object_set_new(m, "run.status", json_string(status_name(r)));
	snprintf(buf, sizeof(buf), "%d", exit_code(r));
	json_object_set_new(m, "run.exit_code", json_string(buf));
	json_object_set_new(m, "run.start", json_string(start));
	json_object_set_new(m, "run.end", json_string(end));
	snprintf(buf, sizeof(buf), "%.3f", dur);
	json_object_set_new(m, "run.duration_s", json_string(buf));
	json_object_set_new(m, "run.host", json_string(r->host));
	for (int i = 0; i < r->nin; i++) {
		struct run_mount *in = &r->in[i];
		char key[32], val[META_REPO_NAME_MAX + OID_HEXSZ + REPO_PATH_MAX + 4];

		snprintf(val, sizeof(val), "%s@%s%s%s", in->sp.repo, in->hex, in->sp.path[0] ? ":" : "",
			 in->sp.path);
		snprintf(key, sizeof(key), "input.%d", i);
		json_object_set_new(m, key, json_string(val));
		snprintf(key, sizeof(key), "input.%d.dir", i);
		json_object_set_new(m, key, json_string(in->dir));
		json_array_append_new(ins, json_pack("{s:s,s:s,s:s,s:s,s:s}", "repo", in->sp.repo, "ref",
						     in->sp.ref, "commit", in->hex, "path", in->sp.path,
						     "dir", in->dir));
	}
	if (r->has_out) {
		json_object_set_new(m, "output", json_sprintf("%s@%s", r->out.sp.repo, r->out.sp.ref));
		json_object_set_new(m, "output.dir", json_string(r->out.dir));
		json_object_set_new(d, "output", json_pack("{s:s,s:s,s:s}", "repo", r->out.sp.repo,
							   "branch", r->out.sp.ref, "dir", r->out.dir));
	}
	json_object_foreach(r->params, k, v) {
		char key[300];

		snprintf(key, sizeof(key), "param.%s", k);
		json_object_set(m, key, v);
	}
	json_object_foreach(last, k, v) {
		char key[300];

		if (!strcmp(k, "step"))
			continue;
		snprintf(key, sizeof(key), "metric.%s", k);
		json_object_set_new(m, key, meta_text(v));
	}
	for (int i = 0; r->cmd[i]; i++)
		json_array_append_new(argv, json_string(r->cmd[i]));
	json_object_set_new(d, "id", json_string(r->id));
	json_object_set_new(d, "command", argv);
	json_object_set_new(d, "command_line", json_string(cmdline));
	json_object_set_new(d, "status", json_string(status_name(r)));
	json_object_set_new(d, "exit_code", json_integer(exit_code(r)));
	json_object_set_new(d, "start", json_string(start));
	json_object_set_new(d, "end", json_string(end));
	json_object_set_new(d, "duration_s", json_real(dur));
	json_object_set_new(d, "host", json_string(r->host));
	json_object_set_new(d, "inputs", ins);
	json_object_set(d, "params", r->params);
	json_object_set_new(d, "metrics", json_pack("{s:O,s:I}", "last", last, "lines",
						    (json_int_t)lines));
	free(cmdline);
	*meta = m;
	*doc = d;
	return 0;
}

static int write_file(const char *path, const void *data, size_t len, struct run *r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc;

	if (fd < 0)
		return t9k_err(-errno, "cannot write %s: %s", path, strerror(errno));
	rc = r ? log_write(r, fd) : write_full(fd, data, len);
	/* on a branch mount, fsync stores and stages the file */
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc < 0 ? t9k_err(rc, "cannot write %s: %s", path, strerror(-rc)) : 0;
}

/* .t9kfs/run.json, metrics.jsonl and run.log in the output directory. */
static int write_record_files(struct run *r, json_t *doc)
{
	char dir[PATH_MAX + 16], path[PATH_MAX + 64];
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
	int rc = 0, in = -1, out = -1;

	snprintf(dir, sizeof(dir), "%s/.t9kfs", r->out.dir);
	if (!text)
		return t9k_err(-ENOMEM, "out of memory");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		rc = t9k_err(-errno, "cannot create %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/run.json", dir);
	if (rc == 0)
		rc = write_file(path, text, strlen(text), NULL);
	free(text);
	snprintf(path, sizeof(path), "%s/run.log", dir);
	if (rc == 0)
		rc = write_file(path, NULL, 0, r);
	/* the metrics, unless the command wrote them there itself */
	snprintf(path, sizeof(path), "%s/metrics.jsonl", dir);
	if (rc == 0 && strcmp(path, r->metrics_file) && (in = open(r->metrics_file, O_RDONLY)) >= 0) {
		char buf[65536];
		ssize_t n;

		out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		while (out >= 0 && rc == 0 && (n = read(in, buf, sizeof(buf))) > 0)
			rc = write_full(out, buf, (size_t)n);
		if (out < 0 || rc < 0 || fsync(out) < 0 || close(out) < 0)
			rc = t9k_err(-EIO, "cannot copy the metrics to %s", path);
		close(in);
	}
	return rc;
}

/* Commits the output branch with the run's metadata. */
static int commit_run(struct run *r, json_t *meta, char *id_out)
{
	char suffix[400], esc[256], msg[512];
	json_t *body, *reply = NULL;
	int rc = meta_client_escape(r->out.sp.ref, esc, sizeof(esc));

	if (r->message)
		snprintf(msg, sizeof(msg), "%s", r->message);
	else if (!strcmp(status_name(r), "ok"))
		snprintf(msg, sizeof(msg), "run %s: %.400s", r->id,
			 json_string_value(json_object_get(meta, "run.command")));
	else
		snprintf(msg, sizeof(msg), "run %s: %.400s (%s, %s %d)", r->id,
			 json_string_value(json_object_get(meta, "run.command")), status_name(r),
			 WIFSIGNALED(r->status) ? "signal" : "exit",
			 WIFSIGNALED(r->status) ? WTERMSIG(r->status) : WEXITSTATUS(r->status));
	snprintf(suffix, sizeof(suffix), "/branches/%s/commits", esc);
	body = json_pack("{s:s,s:s,s:O,s:b}", "message", msg, "author", cli_author(), "meta", meta,
			 "allow_empty", true);
	if (rc == 0 && !body)
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc == 0)
		rc = cli_repo_call(r->cli, r->out.sp.repo, "POST", suffix, body, &reply);
	if (rc == 0)
		snprintf(id_out, OID_HEXSZ + 1, "%s", json_string_value(json_object_get(reply, "id")) ?
			 json_string_value(json_object_get(reply, "id")) : "?");
	json_decref(body);
	json_decref(reply);
	return rc;
}

/* ---- the supervisor ---- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* The run's directory (mount logs, spool, the default metrics file), once
 * the run is recorded: never across a mount point (FTW_MOUNT). */
static void remove_run_dir(struct run *r)
{
	if (nftw(r->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		t9k_log(T9K_LOG_WARN, "cannot remove %s: %s", r->dir, strerror(errno));
}

/* Everything after the arguments: mounts (unless in a pod), the command,
 * the record, the commit. Returns the exit status of 't9kfs run'. */
static int supervise(struct run *r)
{
	char commit[OID_HEXSZ + 1] = "";
	const char *rank = getenv("RANK");
	json_t *last = NULL, *meta = NULL, *doc = NULL;
	bool record = r->has_out && (!r->in_pod || !rank || !strcmp(rank, "0") || !*rank);
	long lines = 0, bad = 0;
	int rc = 0, urc;

	r->head = malloc(LOG_HEAD_MAX);
	r->tail = malloc(LOG_TAIL_MAX);
	if (!r->head || !r->tail)
		return cli_fail(t9k_err(-ENOMEM, "out of memory"));
	for (int i = 0; !r->in_pod && rc == 0 && i < r->nin; i++)
		rc = mount_one(r, &r->in[i], i);
	if (!r->in_pod && rc == 0 && r->has_out)
		rc = mount_one(r, &r->out, -1);
	if (rc == 0)
		rc = run_command(r);
	if (rc == 0) {
		last = read_metrics(r->metrics_file, &lines, &bad);
		if (bad)
			fprintf(stderr, "t9kfs: %ld lines of %s are not JSON objects: not recorded\n", bad,
				r->metrics_file);
		rc = last ? build_record(r, last, lines, &meta, &doc) : t9k_err(-ENOMEM, "out of memory");
	}
	if (rc == 0 && record)
		rc = write_record_files(r, doc);
	for (int i = 0; !r->in_pod && i < r->nin; i++)
		if ((urc = umount_one(r, &r->in[i])) < 0 && rc == 0)
			rc = urc;
	if (!r->in_pod && r->has_out && (urc = umount_one(r, &r->out)) < 0 && rc == 0)
		rc = urc; /* its files may not be stored: no commit */
	if (rc == 0 && record)
		rc = commit_run(r, meta, commit);
	if (rc == 0 && record) {
		fprintf(stderr, "t9kfs: run %s %s; recorded as commit %.12s of %s@%s\n", r->id,
			status_name(r), commit, r->out.sp.repo, r->out.sp.ref);
		remove_run_dir(r);
	}
	else if (rc == 0 && r->has_out)
		fprintf(stderr, "t9kfs: run %s %s; rank %s: only rank 0 records the run\n", r->id,
			status_name(r), rank);
	else if (rc == 0)
		fprintf(stderr, "t9kfs: run %s %s; no --output: nothing recorded\n", r->id,
			status_name(r));
	while (waitpid(-1, NULL, WNOHANG) > 0) /* daemons that ended (we may be PID 1) */
		;
	json_decref(last);
	json_decref(meta);
	json_decref(doc);
	free(r->head);
	free(r->tail);
	if (rc < 0) {
		cli_fail(rc);
		if (r->started)
			fprintf(stderr, "t9kfs: the run's files are kept in %s\n", r->dir);
		/* the command's failure, else ours */
		return r->started && exit_code(r) ? exit_code(r) : 1;
	}
	return exit_code(r);
}

/* Waits for child pid (relaying signals to it) and returns its exit
 * status as ours. */
static int wait_child(pid_t pid)
{
	int status;

	relay_pid = pid;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	relay_pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Without root: a user namespace in which this user is root, where the
 * kernel allows FUSE there. */
static int enter_user_namespace(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int fd;

	if (access("/dev/fuse", R_OK | W_OK) < 0)
		return t9k_err(-EPERM, "t9kfs run mounts its data with FUSE in a private mount "
			       "namespace: run it as root (this user cannot open /dev/fuse)");
	if (unshare(CLONE_NEWUSER) < 0)
		return t9k_err(-errno, "t9kfs run needs root, or user namespaces (unshare: %s)",
			       strerror(errno));
	fd = open("/proc/self/setgroups", O_WRONLY);
	if (fd >= 0) {
		(void)!write(fd, "deny", 4);
		close(fd);
	}
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	fd = open("/proc/self/uid_map", O_WRONLY);
	if (fd < 0 || write(fd, map, strlen(map)) < 0)
		return t9k_err(-EPERM, "cannot map this user in a user namespace: run as root");
	close(fd);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	fd = open("/proc/self/gid_map", O_WRONLY);
	if (fd < 0 || write(fd, map, strlen(map)) < 0)
		return t9k_err(-EPERM, "cannot map this group in a user namespace: run as root");
	close(fd);
	return 0;
}

/* The unsharer: new mount and PID namespaces, the supervisor as PID 1.
 * It and the supervisor die with their parent (PR_SET_PDEATHSIG), and the
 * kernel then kills everything in the PID namespace: a run killed with -9
 * leaves neither a mount nor a process. */
static int unsharer(struct run *r, pid_t parent)
{
	pid_t pid;
	int rc;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1); /* the parent is gone already */
	rc = geteuid() != 0 ? enter_user_namespace() : 0;
	if (rc < 0)
		return cli_fail(rc);
	if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0)
		return cli_fail(t9k_err(-errno, "cannot make the run's namespaces: %s", strerror(errno)));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return cli_fail(t9k_err(-errno, "cannot make the run's mounts private: %s",
					strerror(errno)));
	pid = fork();
	if (pid < 0)
		return cli_fail(t9k_err(-errno, "fork: %s", strerror(errno)));
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(1);
		/* a /proc of this PID namespace: the mounts' pid files use its pids */
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			_exit(cli_fail(t9k_err(-errno, "cannot mount /proc for the run: %s",
					       strerror(errno))));
		_exit(supervise(r));
	}
	return wait_child(pid);
}

/* ---- the command line ---- */

int cmd_run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' }, { "output", required_argument, NULL, 'o' },
		{ "param", required_argument, NULL, 'p' }, { "metrics", required_argument, NULL, 'M' },
		{ "cache-group", required_argument, NULL, 'G' }, { "warmup", no_argument, NULL, 'W' },
		{ "in-pod", no_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run *r = calloc(1, sizeof(*r));
	unsigned char rnd[4];
	struct timespec now;
	char key[256];
	const char *val;
	pid_t pid, parent;
	int o, rc = 0;

	if (!r)
		return cli_fail(t9k_err(-ENOMEM, "out of memory"));
	r->cli = cli;
	r->params = json_object();
	optind = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, "+e:m:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			if (r->nin == RUN_INPUTS_MAX)
				rc = t9k_err(T9K_EUSAGE, "at most %d --data", RUN_INPUTS_MAX);
			else
				rc = parse_mount("--data", optarg, &r->in[r->nin++]);
			break;
		case 'o':
			if (r->has_out)
				rc = t9k_err(T9K_EUSAGE, "one --output per run");
			else
				rc = parse_mount("--output", optarg, &r->out);
			r->has_out = true;
			if (rc == 0 && r->out.sp.path[0])
				rc = t9k_err(T9K_EUSAGE, "--output %s: the output is a whole branch "
					     "(REPO@BRANCH=DIR, no :PATH)", optarg);
			break;
		case 'p':
			rc = parse_kv("--param", optarg, key, sizeof(key), &val);
			if (rc == 0 && json_object_size(r->params) >= RUN_PARAMS_MAX)
				rc = t9k_err(T9K_EUSAGE, "at most %d --param", RUN_PARAMS_MAX);
			if (rc == 0)
				json_object_set_new(r->params, key, json_string(val));
			break;
		case 'e':
			rc = parse_kv("-e", optarg, key, sizeof(key), &val);
			if (rc == 0 && r->nenv == RUN_ENV_MAX)
				rc = t9k_err(T9K_EUSAGE, "at most %d -e", RUN_ENV_MAX);
			if (rc == 0)
				r->env[r->nenv++] = optarg;
			break;
		case 'M':
			if (optarg[0] != '/')
				rc = t9k_err(T9K_EUSAGE, "--metrics %s: want an absolute path", optarg);
			r->metrics = optarg;
			break;
		case 'G': r->cache_group = optarg; break;
		case 'W': r->warmup = true; break;
		case 'P': r->in_pod = true; break;
		case 'm': r->message = optarg; break;
		case 'h':
			fputs(run_usage, stdout);
			goto out;
		default:
			fputs(run_usage, stderr);
			rc = 2;
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	if (optind >= argc || strcmp(argv[optind - 1], "--")) {
		rc = cli_usage_error(optind >= argc ? "no command: put it after '--' (see 't9kfs run "
				     "--help')" : "put '--' before the command: t9kfs run [OPTIONS] -- "
				     "%s ...", optind < argc ? argv[optind] : "");
		goto out;
	}
	r->cmd = argv + optind;
	for (int i = 0; rc == 0 && i <= r->nin; i++) /* one directory, one mount */
		for (int j = i + 1; rc == 0 && j <= r->nin; j++) {
			const char *a = i < r->nin ? r->in[i].dir : r->has_out ? r->out.dir : NULL;
			const char *b = j < r->nin ? r->in[j].dir : r->has_out ? r->out.dir : NULL;

			if (a && b && !strcmp(a, b))
				rc = t9k_err(T9K_EUSAGE, "%s is named twice: one mount per directory", a);
		}
	if (rc == 0)
		rc = resolve_all(r);
	if (rc < 0)
		goto out;
	cli_token(cli, r->token, sizeof(r->token));
	clock_gettime(CLOCK_REALTIME, &now);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	{
		char stamp[32];
		struct tm tm;

		gmtime_r(&now.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(r->id, sizeof(r->id), "%s-%02x%02x%02x%02x", stamp, rnd[0], rnd[1], rnd[2],
			 rnd[3]);
	}
	if ((size_t)snprintf(r->dir, sizeof(r->dir), "%s/runs/%s", cli->home, r->id) >=
	    sizeof(r->dir) - 32) {
		rc = t9k_err(-ENAMETOOLONG, "T9KFS_HOME is too long");
		goto out;
	}
	if ((rc = mkdir_p(r->dir, 0700)) < 0) {
		rc = t9k_err(rc, "cannot create %s: %s", r->dir, strerror(-rc));
		goto out;
	}
	rc = 0; /* mkdir_p says 1 when it made something */
	if ((size_t)snprintf(r->metrics_file, sizeof(r->metrics_file), "%s%s", r->metrics ? r->metrics :
			     r->dir, r->metrics ? "" : "/metrics.jsonl") >= sizeof(r->metrics_file)) {
		rc = t9k_err(-ENAMETOOLONG, "--metrics: path too long");
		goto out;
	}
	if (gethostname(r->host, sizeof(r->host)) < 0)
		snprintf(r->host, sizeof(r->host), "unknown");
	r->host[sizeof(r->host) - 1] = '\0';
	for (int i = 0; r->warmup && rc == 0 && i < r->nin; i++) {
		char spec[META_REPO_NAME_MAX + OID_HEXSZ + 2], *args[8];
		int n = 0;

		snprintf(spec, sizeof(spec), "%s@%s", r->in[i].sp.repo, r->in[i].hex);
		args[n++] = "t9kfs";
		args[n++] = "warmup";
		args[n++] = spec;
		if (r->in[i].sp.path[0])
			args[n++] = r->in[i].sp.path;
		if (r->cache_group) {
			args[n++] = "--group";
			args[n++] = (char *)r->cache_group;
		}
		args[n] = NULL;
		fprintf(stderr, "t9kfs: warming %s%s%s up\n", spec, r->in[i].sp.path[0] ? ":" : "",
			r->in[i].sp.path);
		pid = fork();
		if (pid == 0) {
			execv("/proc/self/exe", args);
			_exit(127);
		}
		if (pid < 0 || wait_child(pid) != 0)
			rc = t9k_err(-EIO, "warming %s up failed", spec);
	}
	if (rc < 0)
		goto out;
	fprintf(stderr, "t9kfs: run %s: %s\n", r->id, r->cmd[0]);
	signal(SIGPIPE, SIG_IGN);
	catch_signals();
	parent = getpid();
	if (r->in_pod) {
		rc = supervise(r);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = t9k_err(-errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		_exit(unsharer(r, parent));
	rc = wait_child(pid); /* the command's status; the supervisor said the rest */
out:
	json_decref(r->params);
	free(r);
	return rc < 0 ? cli_fail(rc) : rc;
}
