/* Socket plumbing of the cache daemon and its clients: address parsing,
 * listening, and connecting with a deadline so that a dead or hung peer
 * costs a bounded time, never a hang.
 */
#include "cache/net.h"

#include "lib/err.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

bool cache_net_is_unix(const char *addr)
{
	return !strncmp(addr, "unix:", 5) || strchr(addr, '/');
}

static const char *unix_path(const char *addr)
{
	return !strncmp(addr, "unix:", 5) ? addr + 5 : addr;
}

static int unix_sa(const char *addr, struct sockaddr_un *sa)
{
	const char *path = unix_path(addr);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!*path || strlen(path) >= sizeof(sa->sun_path))
		return t9k_err(-ENAMETOOLONG, "unix socket path '%s' is empty or longer than %zu bytes",
			       path, sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/* HOST:PORT ([V6]:PORT) into host and port. */
static int split_hostport(const char *addr, char host[256], char port[16])
{
	const char *colon = strrchr(addr, ':');
	size_t hlen;
	char *end;
	long p;

	if (!colon || !colon[1] || strlen(colon + 1) >= 16)
		return t9k_err(T9K_EUSAGE, "bad cache address '%s': want HOST:PORT or unix:PATH", addr);
	p = strtol(colon + 1, &end, 10);
	if (*end || p < 1 || p > 65535)
		return t9k_err(T9K_EUSAGE, "bad cache address '%s': port must be 1..65535", addr);
	hlen = (size_t)(colon - addr);
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']')
		addr++, hlen -= 2;
	if (hlen == 0 || hlen >= 256)
		return t9k_err(T9K_EUSAGE, "bad cache address '%s': bad host", addr);
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	snprintf(port, 16, "%ld", p);
	return 0;
}

int cache_net_check(const char *addr)
{
	struct sockaddr_un sa;
	char host[256], port[16];

	if (!addr || !*addr)
		return t9k_err(T9K_EUSAGE, "empty cache address");
	return cache_net_is_unix(addr) ? unix_sa(addr, &sa) : split_hostport(addr, host, port);
}

static int resolve(const char *addr, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) };
	char host[256], port[16];
	int rc = split_hostport(addr, host, port);

	if (rc < 0)
		return rc;
	rc = getaddrinfo(host, port, &hints, res);
	if (rc != 0)
		return t9k_err(-EHOSTUNREACH, "cache address '%s': %s", addr, gai_strerror(rc));
	return 0;
}

int cache_net_listen(const char *addr, int *out)
{
	struct addrinfo *res = NULL;
	int fd = -1, rc;

	*out = -1;
	if (cache_net_is_unix(addr)) {
		struct sockaddr_un sa;
		struct stat st;

		rc = unix_sa(addr, &sa);
		if (rc < 0)
			return rc;
		if (lstat(sa.sun_path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode))
				return t9k_err(-EEXIST, "%s exists and is not a socket", sa.sun_path);
			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				return t9k_err(-errno, "socket: %s", strerror(errno));
			rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
			close(fd);
			if (rc == 0)
				return t9k_err(-EADDRINUSE, "a cache daemon already listens on %s",
					       sa.sun_path);
			unlink(sa.sun_path); /* stale: its daemon is gone */
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return t9k_err(-errno, "socket: %s", strerror(errno));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
			rc = t9k_err(-errno, "cannot listen on %s: %s", sa.sun_path, strerror(errno));
			close(fd);
			return rc;
		}
		chmod(sa.sun_path, 0600);
		*out = fd;
		return 0;
	}
	rc = resolve(addr, true, &res);
	if (rc < 0)
		return rc;
	fd = listen_first(res, SOCK_CLOEXEC, 128);
	freeaddrinfo(res);
	if (fd < 0)
		return t9k_err(fd, "cannot listen on %s: %s", addr, strerror(-fd));
	*out = fd;
	return 0;
}

void cache_net_set_timeout(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* connect() with a deadline: non-blocking, poll, then back to blocking. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL), err = 0;
	socklen_t el = sizeof(err);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		for (;;) {
			int n = poll(&pfd, 1, timeout_ms);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				return -ETIMEDOUT;
			break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return -errno;
		if (err)
			return -err;
	}
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	return 0;
}

int cache_net_connect(const char *addr, int timeout_ms, int *out)
{
	struct addrinfo *res = NULL, *ai;
	int fd = -1, rc, one = 1;

	*out = -1;
	if (cache_net_is_unix(addr)) {
		struct sockaddr_un sa;

		rc = unix_sa(addr, &sa);
		if (rc < 0)
			return rc;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return t9k_err(-errno, "socket: %s", strerror(errno));
		rc = connect_timeout(fd, (struct sockaddr *)&sa, sizeof(sa), timeout_ms);
		if (rc < 0) {
			close(fd);
			return t9k_err(rc, "cannot connect to the cache daemon at %s: %s", sa.sun_path,
				       strerror(-rc));
		}
		cache_net_set_timeout(fd, timeout_ms);
		*out = fd;
		return 0;
	}
	rc = resolve(addr, false, &res);
	if (rc < 0)
		return rc;
	rc = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		rc = connect_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
		if (rc == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return t9k_err(rc, "cannot connect to cache peer %s: %s", addr, strerror(-rc));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cache_net_set_timeout(fd, timeout_ms);
	*out = fd;
	return 0;
}

void cache_net_list_free(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

int cache_net_list(const char *list, char ***out, int *n)
{
	char *copy = strdup(list ? list : ""), *save = NULL, **v = NULL;
	int cnt = 0, rc = 0;

	*out = NULL;
	*n = 0;
	if (!copy)
		return t9k_err(-ENOMEM, "out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **nv = realloc(v, sizeof(*v) * (size_t)(cnt + 2));

		if (!nv) {
			rc = t9k_err(-ENOMEM, "out of memory");
			break;
		}
		v = nv;
		v[cnt] = NULL;
		rc = cache_net_check(tok);
		if (rc < 0)
			break;
		for (int i = 0; i < cnt && rc == 0; i++)
			if (!strcmp(v[i], tok))
				rc = t9k_err(T9K_EUSAGE, "cache group member '%s' is listed twice", tok);
		if (rc < 0)
			break;
		if (!(v[cnt] = strdup(tok))) {
			rc = t9k_err(-ENOMEM, "out of memory");
			break;
		}
		v[++cnt] = NULL;
	}
	free(copy);
	if (rc == 0 && cnt == 0)
		rc = t9k_err(T9K_EUSAGE, "empty cache group list");
	if (rc < 0) {
		cache_net_list_free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}
