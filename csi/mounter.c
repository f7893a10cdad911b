/* The node's mounter (mounter.h): runs 't9kfs mount' and 't9kfs umount'
 * for the CSI driver, and its client.
 *
 * Each request runs the t9kfs binary (/proc/self/exe) as a child with the
 * mounter's environment; 't9kfs mount' forks the mount daemon and exits
 * once the mount answers. The mounter is the subreaper of those daemons:
 * they stay its descendants after the command exits, and it reaps them
 * when they end (and logs it). Children are reaped by one thread on a
 * signalfd of SIGCHLD; a request waits on m->cond for its own child.
 *
 * Locking: m->lock protects m->children and each child's status; it is
 * held across fork() so the reaper cannot miss a child that exits at once.
 */
#include "csi/mounter.h"

#include "csi/server.h"
#include "fs/fs.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAX 65536
#define REQUEST_READ_TIMEOUT_MS 10000
#define COMMAND_TIMEOUT_S 150 /* a mount or umount command still running is killed */
#define MAX_REQUESTS 64       /* requests served at once */

struct child {
	pid_t pid;
	int status;
	bool done;
	struct child *next;
};

struct csi_mounter {
	int fd, sigfd;
	char path[108];
	pthread_t acceptor, reaper;
	atomic_bool stop;
	atomic_int active; /* request threads running */

	pthread_mutex_t lock;
	pthread_cond_t cond;     /* a child ended; a request ended */
	struct child *children;  /* lock: commands being waited for */
};

/* ---- children ---- */

static void *reaper_main(void *arg)
{
	struct csi_mounter *m = arg;
	struct pollfd p = { .fd = m->sigfd, .events = POLLIN };

	while (!atomic_load(&m->stop)) {
		struct signalfd_siginfo si;
		int status;
		pid_t pid;

		if (poll(&p, 1, 200) > 0)
			while (read(m->sigfd, &si, sizeof(si)) == sizeof(si))
				;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			struct child *c;

			pthread_mutex_lock(&m->lock);
			for (c = m->children; c && c->pid != pid; c = c->next)
				;
			if (c) {
				c->status = status;
				c->done = true;
				pthread_cond_broadcast(&m->cond);
			}
			pthread_mutex_unlock(&m->lock);
			if (!c && WIFSIGNALED(status))
				t9k_log(T9K_LOG_WARN, "mounter: mount daemon %d was killed by signal %d",
					(int)pid, WTERMSIG(status));
			else if (!c)
				t9k_log(T9K_LOG_INFO, "mounter: mount daemon %d exited with status %d",
					(int)pid, WEXITSTATUS(status));
		}
	}
	return NULL;
}

/* The last line the command printed, without "t9kfs: ". */
static void last_line(int fd, char *out, size_t outsz)
{
	char buf[4096], *line, *end;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = size > 0 ? pread_full(fd, buf, sizeof(buf) - 1, from) : 0;

	buf[n > 0 ? n : 0] = '\0';
	end = buf + strlen(buf);
	while (end > buf && (end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (!strncmp(line, "t9kfs: ", 7))
		line += 7;
	snprintf(out, outsz, "%s", *line ? line : "(no output)");
}

/* Runs the t9kfs binary with argv; 0, or -EIO with its last line of output. */
static int run_tool(struct csi_mounter *m, char *const argv[], const char *mp, char *msg,
		    size_t msgsz)
{
	struct child ch = { 0 }, **pp;
	struct timespec until;
	bool killed = false;
	sigset_t none;
	int fd = memfd_create("t9kfs-mounter", MFD_CLOEXEC), rc;
	pid_t pid;

	if (fd < 0)
		return t9k_err(-errno, "memfd_create: %s", strerror(errno));
	sigemptyset(&none);
	pthread_mutex_lock(&m->lock);
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	if (pid < 0) {
		rc = -errno;
		pthread_mutex_unlock(&m->lock);
		close(fd);
		return t9k_err(rc, "fork: %s", strerror(-rc));
	}
	ch.pid = pid;
	ch.next = m->children;
	m->children = &ch;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += COMMAND_TIMEOUT_S;
	while (!ch.done) {
		if (pthread_cond_timedwait(&m->cond, &m->lock, &until) == ETIMEDOUT && !killed) {
			t9k_log(T9K_LOG_ERROR, "mounter: '%s' of %s ran for %d s: killing it", argv[1],
				mp, COMMAND_TIMEOUT_S);
			kill(pid, SIGKILL);
			killed = true;
		}
	}
	for (pp = &m->children; *pp != &ch; pp = &(*pp)->next)
		;
	*pp = ch.next;
	pthread_mutex_unlock(&m->lock);
	last_line(fd, msg, msgsz);
	close(fd);
	if (WIFEXITED(ch.status) && WEXITSTATUS(ch.status) == 0)
		return 0;
	if (killed)
		snprintf(msg, msgsz, "'t9kfs %s' did not finish within %d s", argv[1], COMMAND_TIMEOUT_S);
	return t9k_err(-EIO, "%s", msg);
}

/* ---- requests ---- */

static void answer(int fd, bool ok, const char *text)
{
	json_t *j = json_pack("{s:b,s:s}", "ok", ok, ok ? "message" : "error", text);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (!s || write_full(fd, s, strlen(s)) < 0 || write_full(fd, "\n", 1) < 0)
		t9k_log(T9K_LOG_WARN, "mounter: cannot answer a request: %s", strerror(errno));
	free(s);
	json_decref(j);
}

/* One line of at most REQUEST_MAX bytes; NULL on EOF, timeout or overflow. */
static char *read_line(int fd)
{
	char *buf = malloc(REQUEST_MAX + 1);
	size_t len = 0;

	while (buf && len < REQUEST_MAX) {
		ssize_t n = read(fd, buf + len, REQUEST_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len)) {
			*(char *)memchr(buf, '\n', len) = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

static const char *str_member(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s && *s ? s : NULL;
}

static void serve_request(struct csi_mounter *m, int fd)
{
	char msg[1200], *line = read_line(fd);
	json_t *req = line ? json_loads(line, 0, NULL) : NULL;
	const char *op = str_member(req, "op"), *mp = str_member(req, "mountpoint");
	int rc;

	if (!op) {
		answer(fd, false, "bad request: want a JSON object with \"op\" on one line");
	} else if (!strcmp(op, "ping")) {
		answer(fd, true, "t9kfs mounter");
	} else if (!mp || mp[0] != '/') {
		answer(fd, false, "bad request: \"mountpoint\" must be an absolute path");
	} else if (!strcmp(op, "mount")) {
		const char *spec = str_member(req, "spec"), *opts = str_member(req, "options");
		const char *group = str_member(req, "cache_group");
		char *argv[10];
		int n = 0;

		if (!spec) {
			answer(fd, false, "bad request: \"spec\" is required");
			goto out;
		}
		argv[n++] = "t9kfs";
		argv[n++] = "mount";
		if (opts) {
			argv[n++] = "-o";
			argv[n++] = (char *)opts;
		}
		if (group) {
			argv[n++] = "--cache-group";
			argv[n++] = (char *)group;
		}
		argv[n++] = (char *)spec;
		argv[n++] = (char *)mp;
		argv[n] = NULL;
		rc = run_tool(m, argv, mp, msg, sizeof(msg));
		t9k_log(rc ? T9K_LOG_WARN : T9K_LOG_INFO, "mounter: mount %s at %s%s%s: %s", spec, mp,
			opts ? " -o " : "", opts ? opts : "", msg);
		answer(fd, rc == 0, msg);
	} else if (!strcmp(op, "umount")) {
		char type[64] = "";
		char *argv[] = { "t9kfs", "umount", (char *)mp, NULL };

		if (fs_mount_info(mp, NULL, NULL, type, sizeof(type)) < 0 || strcmp(type, "fuse.t9kfs")) {
			answer(fd, true, "not mounted");
			goto out;
		}
		rc = run_tool(m, argv, mp, msg, sizeof(msg));
		t9k_log(rc ? T9K_LOG_WARN : T9K_LOG_INFO, "mounter: umount %s: %s", mp, msg);
		answer(fd, rc == 0, msg);
	} else {
		answer(fd, false, "bad request: unknown op");
	}
out:
	json_decref(req);
	free(line);
}

struct request {
	struct csi_mounter *m;
	int fd;
};

static void *request_main(void *arg)
{
	struct request *r = arg;
	struct csi_mounter *m = r->m;

	serve_request(m, r->fd);
	close(r->fd);
	free(r);
	pthread_mutex_lock(&m->lock);
	atomic_fetch_sub(&m->active, 1);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	struct csi_mounter *m = arg;
	struct pollfd p = { .fd = m->fd, .events = POLLIN };

	while (!atomic_load(&m->stop)) {
		struct timeval tv = { .tv_sec = REQUEST_READ_TIMEOUT_MS / 1000 };
		struct request *r;
		pthread_attr_t attr;
		pthread_t t;
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (atomic_load(&m->active) >= MAX_REQUESTS || !(r = malloc(sizeof(*r)))) {
			answer(fd, false, "the mounter is busy: try again");
			close(fd);
			continue;
		}
		r->m = m;
		r->fd = fd;
		atomic_fetch_add(&m->active, 1);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, request_main, r) != 0) {
			atomic_fetch_sub(&m->active, 1);
			answer(fd, false, "the mounter cannot start a thread");
			close(fd);
			free(r);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

int csi_mounter_start(const char *addr, struct csi_mounter **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct csi_mounter *m;
	char dir[sizeof(sa.sun_path)];
	sigset_t chld;
	struct stat st;
	int rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return t9k_err(-ENOMEM, "out of memory");
	m->fd = m->sigfd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	rc = csi_endpoint_path(addr, m->path, sizeof(m->path));
	if (rc < 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s", m->path);
	*strrchr(dir, '/') = '\0';
	if (dir[0] && (rc = mkdir_p(dir, 0700)) < 0) {
		rc = t9k_err(rc, "cannot create %s: %s", dir, strerror(-rc));
		goto fail;
	}
	if (lstat(m->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || csi_mounter_ping(addr, 2) == 0) {
			rc = t9k_err(-EADDRINUSE, "%s: %s", m->path, S_ISSOCK(st.st_mode) ?
				     "a mounter already listens there" : "exists and is not a socket");
			goto fail;
		}
		unlink(m->path); /* a stale socket */
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->path);
	m->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(m->path, 0600) < 0 || listen(m->fd, 64) < 0) {
		rc = t9k_err(-errno, "cannot listen on %s: %s", m->path, strerror(errno));
		goto fail;
	}
	/* The daemons 't9kfs mount' forks stay ours to reap. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		rc = t9k_err(-errno, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
		goto fail;
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);
	m->sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->sigfd < 0) {
		rc = t9k_err(-errno, "signalfd: %s", strerror(errno));
		goto fail;
	}
	rc = pthread_create(&m->reaper, NULL, reaper_main, m);
	if (rc) {
		rc = t9k_err(-rc, "cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	rc = pthread_create(&m->acceptor, NULL, acceptor_main, m);
	if (rc) {
		atomic_store(&m->stop, true);
		pthread_join(m->reaper, NULL);
		rc = t9k_err(-rc, "cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	t9k_log(T9K_LOG_INFO, "mounter: listening on %s", m->path);
	*out = m;
	return 0;
fail:
	if (m->fd >= 0) {
		close(m->fd);
		if (rc != -EADDRINUSE)
			unlink(m->path);
	}
	if (m->sigfd >= 0)
		close(m->sigfd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return rc;
}

void csi_mounter_stop(struct csi_mounter *m)
{
	if (!m)
		return;
	atomic_store(&m->stop, true);
	pthread_join(m->acceptor, NULL);
	close(m->fd);
	unlink(m->path);
	pthread_mutex_lock(&m->lock);
	while (atomic_load(&m->active) > 0) /* requests finish their commands */
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->reaper, NULL);
	close(m->sigfd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- client ---- */

static int mounter_call(const char *addr, json_t *req, int timeout_s, char *msg, size_t msgsz)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s > 0 ? timeout_s : 1 };
	char *line = NULL, buf[2048];
	json_t *reply = NULL;
	size_t len = 0;
	int fd = -1, rc = 0;

	msg[0] = '\0';
	rc = csi_endpoint_path(addr, sa.sun_path, sizeof(sa.sun_path));
	if (rc < 0)
		return rc;
	line = json_dumps(req, JSON_COMPACT);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!line || fd < 0) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = t9k_err(-errno, "no mounter answers at %s (is 't9kfs csi mounter' running on "
			     "this node?): %s", addr, strerror(errno));
		goto out;
	}
	if (write_full(fd, line, strlen(line)) < 0 || write_full(fd, "\n", 1) < 0) {
		rc = t9k_err(-errno, "mounter at %s: %s", addr, strerror(errno));
		goto out;
	}
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			rc = t9k_err(-ETIMEDOUT, "the mounter at %s did not answer within %d s", addr,
				     timeout_s);
			goto out;
		}
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	reply = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	if (!reply || !json_is_boolean(json_object_get(reply, "ok"))) {
		rc = t9k_err(-EPROTO, "the mounter at %s sent no valid answer", addr);
		goto out;
	}
	if (json_is_true(json_object_get(reply, "ok"))) {
		snprintf(msg, msgsz, "%s", str_member(reply, "message") ? str_member(reply, "message") : "");
	} else {
		snprintf(msg, msgsz, "%s", str_member(reply, "error") ? str_member(reply, "error") :
			 "failed");
		rc = t9k_err(-EIO, "%s", msg);
	}
out:
	json_decref(reply);
	free(line);
	if (fd >= 0)
		close(fd);
	return rc;
}

int csi_mounter_mount(const char *addr, const char *spec, const char *mountpoint,
		      const char *options, const char *cache_group, int timeout_s)
{
	json_t *req = json_pack("{s:s,s:s,s:s}", "op", "mount", "spec", spec, "mountpoint", mountpoint);
	char msg[1200];
	int rc;

	if (!req)
		return t9k_err(-ENOMEM, "out of memory");
	if (options && *options)
		json_object_set_new(req, "options", json_string(options));
	if (cache_group && *cache_group)
		json_object_set_new(req, "cache_group", json_string(cache_group));
	rc = mounter_call(addr, req, timeout_s, msg, sizeof(msg));
	json_decref(req);
	return rc;
}

int csi_mounter_umount(const char *addr, const char *mountpoint, int timeout_s)
{
	json_t *req = json_pack("{s:s,s:s}", "op", "umount", "mountpoint", mountpoint);
	char msg[1200];
	int rc;

	if (!req)
		return t9k_err(-ENOMEM, "out of memory");
	rc = mounter_call(addr, req, timeout_s, msg, sizeof(msg));
	json_decref(req);
	return rc;
}

int csi_mounter_ping(const char *addr, int timeout_s)
{
	json_t *req = json_pack("{s:s}", "op", "ping");
	char msg[200];
	int rc;

	if (!req)
		return t9k_err(-ENOMEM, "out of memory");
	rc = mounter_call(addr, req, timeout_s, msg, sizeof(msg));
	json_decref(req);
	return rc;
}
