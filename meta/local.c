/* Finding the metadata service: $T9KFS_HOME, its config file ("key =
 * value" lines that give the defaults of the T9KFS_* environment
 * variables, so a node is set up once instead of in every shell), the
 * token, the author, and the embedded default server under the home.
 * Shared by the t9kfs command and the SDK, so both find the same service
 * the same way. Precedence: explicit value, then environment, then file.
 */
#include "meta/local.h"

#include "lib/err.h"
#include "lib/util.h"
#include "meta/client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
	const char *key, *env;
} keys[] = {
	{ "server", "T9KFS_SERVER" },		/* the metadata service URL */
	{ "store", "T9KFS_STORE" },		/* default object store */
	{ "cache", "T9KFS_CACHE" },		/* the local cache daemon */
	{ "cache_group", "T9KFS_CACHE_GROUP" }, /* or a group to read through */
	{ "author", "T9KFS_AUTHOR" },		/* commit author */
	{ "log", "T9KFS_LOG" },			/* error, warn, info, debug */
	{ "ui_listen", "T9KFS_UI_LISTEN" },	/* the embedded server's console address */
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

int meta_local_home(const char *home, char *out, size_t size)
{
	int n;

	if (!home || !*home)
		home = getenv("T9KFS_HOME");
	if (!home || !*home) {
		const char *h = getenv("HOME");

		n = snprintf(out, size, "%s/.t9kfs", h && *h ? h : ".");
	} else {
		n = snprintf(out, size, "%s", home);
	}
	if (n < 0 || (size_t)n >= size)
		return t9k_err(-ENAMETOOLONG, "T9KFS_HOME is too long");
	return 0;
}

/* s without leading and trailing blanks, in place. */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int meta_local_config_each(const char *home, meta_local_config_fn fn, void *arg)
{
	char path[4200], line[4200], known[200] = "";
	FILE *f;
	int rc = 0, no = 0;

	snprintf(path, sizeof(path), "%s/config", home);
	if (!(f = fopen(path, "r")))
		return errno == ENOENT ? 0 : t9k_err(-errno, "cannot read %s: %s", path, strerror(errno));
	for (size_t i = 0; i < NKEYS; i++) {
		size_t n = strlen(known);

		snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "", keys[i].key);
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *eq, *key, *val;
		size_t i;

		no++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = t9k_err(T9K_EUSAGE, "%s:%d: line longer than %zu bytes", path, no,
				     sizeof(line) - 2);
			break;
		}
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		if (!(eq = strchr(key, '='))) {
			rc = t9k_err(T9K_EUSAGE, "%s:%d: want 'key = value'", path, no);
			break;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		for (i = 0; i < NKEYS && strcmp(keys[i].key, key); i++)
			;
		if (i == NKEYS)
			rc = t9k_err(T9K_EUSAGE, "%s:%d: unknown key '%s' (known: %s)", path, no, key,
				     known);
		else
			rc = fn(arg, keys[i].key, keys[i].env, val);
	}
	if (rc == 0 && ferror(f))
		rc = t9k_err(-EIO, "cannot read %s", path);
	fclose(f);
	return rc;
}

static int setenv_default(void *arg, const char *key, const char *env, const char *value)
{
	(void)arg, (void)key;
	if (setenv(env, value, 0) < 0) /* the environment wins */
		return t9k_err(-errno, "%s: %s", env, strerror(errno));
	return 0;
}

int meta_local_config_load(const char *home)
{
	return meta_local_config_each(home, setenv_default, NULL);
}

struct setting {
	const char *key;
	char *out;
	size_t size;
};

static int find_setting(void *arg, const char *key, const char *env, const char *value)
{
	struct setting *s = arg;

	(void)env;
	if (!strcmp(key, s->key))
		snprintf(s->out, s->size, "%s", value); /* the last line wins, as with setenv */
	return 0;
}

int meta_local_setting(const char *home, const char *key, char *out, size_t size)
{
	struct setting s = { .key = key, .out = out, .size = size };
	const char *v;

	out[0] = '\0';
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].key, key))
			continue;
		if ((v = getenv(keys[i].env)) && *v) {
			snprintf(out, size, "%s", v);
			return 0;
		}
		return meta_local_config_each(home, find_setting, &s);
	}
	return t9k_err(-EINVAL, "no setting '%s'", key);
}

int meta_local_token(const char *home, char *tok, size_t size)
{
	const char *env = getenv("T9KFS_TOKEN");
	char path[4200];
	FILE *f;

	if (env && *env) {
		snprintf(tok, size, "%s", env);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/token", home);
	f = fopen(path, "re");
	if (!f) {
		tok[0] = '\0';
		return 0; /* the server will say 401 */
	}
	if (!fgets(tok, (int)size, f))
		tok[0] = '\0';
	fclose(f);
	tok[strcspn(tok, "\r\n")] = '\0';
	return 0;
}

void meta_local_author(char *out, size_t size)
{
	const char *a = getenv("T9KFS_AUTHOR"), *u = getenv("USER");
	char host[256] = "localhost";

	if (a && *a) {
		snprintf(out, size, "%s", a);
		return;
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(out, size, "%s@%s", u && *u ? u : "root", host);
}

static int health(const char *server)
{
	struct meta_client *c;
	int rc = meta_client_new(server, NULL, &c);

	if (rc == 0) {
		rc = meta_client_call(c, "GET", "/health", NULL, NULL);
		meta_client_free(c);
	}
	return rc;
}

int meta_local_server_pid(const char *home)
{
	char path[4200];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/server.pid", home);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 0 && kill(pid, 0) == 0 ? pid : 0;
}

int meta_local_server_ensure(const char *home_dir, const char *server_addr, bool embedded,
			     const char *exe_path, bool *started)
{
	char db[4200], store[4300], listen[4300], tok[4200], log[4200], pidf[4200], home[4200];
	char exe[4096], ui[300], addrf[4200];
	pid_t pid, server = 0;
	int rc, fd, p[2];
	ssize_t n;
	FILE *f;

	*started = false;
	if (health(server_addr) == 0)
		return 0;
	if (!embedded)
		return t9k_err(-ECONNREFUSED, "metadata service %s is not answering: %s", server_addr,
			       t9k_errmsg(-ECONNREFUSED));
	rc = mkdir_p(home_dir, 0700);
	if (rc < 0)
		return t9k_err(rc, "cannot create %s: %s", home_dir, strerror(-rc));
	if (exe_path) {
		snprintf(exe, sizeof(exe), "%s", exe_path);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return t9k_err(-errno, "cannot find the t9kfs binary: %s", strerror(errno));
		exe[n] = '\0';
	}
	snprintf(home, sizeof(home), "%s", home_dir);
	snprintf(db, sizeof(db), "%s/db", home_dir);
	snprintf(store, sizeof(store), "file://%s/store", home_dir);
	snprintf(listen, sizeof(listen), "unix:%s/meta.sock", home_dir);
	snprintf(tok, sizeof(tok), "%s/token", home_dir);
	snprintf(log, sizeof(log), "%s/server.log", home_dir);
	snprintf(pidf, sizeof(pidf), "%s/server.pid", home_dir);
	snprintf(addrf, sizeof(addrf), "%s/server.addr", home_dir);
	/* the web console on loopback TCP (browsers speak no unix sockets),
	 * a free port unless ui_listen names one; "off" for none */
	if (meta_local_setting(home_dir, "ui_listen", ui, sizeof(ui)) < 0 || !ui[0])
		snprintf(ui, sizeof(ui), "127.0.0.1:0");
	unlink(addrf);
	/* Started as a grandchild: the server is never a child of this
	 * process, which may live long (the SDK in a notebook) and would
	 * otherwise keep a stopped server as a zombie. */
	if (pipe2(p, O_CLOEXEC) < 0)
		return t9k_err(-errno, "cannot start the server: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return t9k_err(-errno, "cannot start the server: %s", strerror(errno));
	}
	if (pid == 0) {
		char *args[] = { exe, "--home", home, "meta", "serve", "--db", db, "--store", store,
				 "--listen", listen, "--token-file", tok, "--addr-file", addrf,
				 "--ui-listen", ui, NULL };
		pid_t child;

		close(p[0]);
		if (!strcmp(ui, "off"))
			args[15] = NULL; /* no --listen for the console */
		setsid();
		child = fork();
		if (child == 0) {
			fd = open("/dev/null", O_RDONLY);
			if (fd >= 0)
				dup2(fd, 0);
			fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execv(exe, args);
			_exit(127);
		}
		_exit(write(p[1], &child, sizeof(child)) == sizeof(child) && child > 0 ? 0 : 1);
	}
	close(p[1]);
	n = read_full(p[0], &server, sizeof(server));
	close(p[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (n != sizeof(server) || server <= 0)
		return t9k_err(-EIO, "cannot start the server");
	f = fopen(pidf, "w");
	if (f) {
		fprintf(f, "%d\n", (int)server);
		fclose(f);
	}
	for (int i = 0; i < 200; i++) {
		if (health(server_addr) == 0) {
			*started = true;
			return 0;
		}
		if (kill(server, 0) < 0 && errno == ESRCH)
			return t9k_err(-EIO, "the local server exited at start; see %s", log);
		usleep(50000);
	}
	return t9k_err(-ETIMEDOUT, "the local server did not answer within 10 s; see %s", log);
}
