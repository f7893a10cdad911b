/* OS helpers: EINTR-safe I/O, durable mkdir -p, size parsing. */
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int write_full(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pwrite_full(int fd, const void *data, size_t len, off_t off)
{
	const char *p = data;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

ssize_t read_full(int fd, void *data, size_t len)
{
	char *p = data;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t pread_full(int fd, void *data, size_t len, off_t off)
{
	char *p = data;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, off + (off_t)got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t pread_direct(int fd, void *data, size_t len, off_t off, size_t room)
{
	size_t want = (len + PREAD_DIRECT_ALIGN - 1) & ~(size_t)(PREAD_DIRECT_ALIGN - 1), got = 0;
	char *p = data;
	int fl;

	if ((uintptr_t)data % PREAD_DIRECT_ALIGN || off % PREAD_DIRECT_ALIGN || room < want)
		return -EINVAL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0)
		return -EINVAL;
	/* a short read is the end of the file; one that is not aligned ends
	 * the loop (the next offset could not be read directly) */
	while (got < len && got % PREAD_DIRECT_ALIGN == 0) {
		ssize_t n = pread(fd, p + got, want - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			got = (size_t)-errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	(void)fcntl(fd, F_SETFL, fl);
	if ((ssize_t)got < 0)
		return (ssize_t)got;
	return (ssize_t)(got < len ? got : len);
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	close(fd);
	return rc;
}

int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);
	char *slash;
	int rc;

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	memcpy(tmp, path, len + 1);
	slash = strrchr(tmp, '/');
	while (slash && slash > tmp && slash[-1] == '/')
		slash--;
	if (slash && slash != tmp) {
		*slash = '\0';
		rc = mkdir_p(tmp, mode);
		if (rc < 0)
			return rc;
	}
	if (mkdir(path, mode) < 0)
		return errno == EEXIST ? 0 : -errno;
	if (slash) {
		if (slash == tmp)
			tmp[1] = '\0', tmp[0] = '/';
		rc = fsync_dir(tmp);
		if (rc < 0)
			return rc;
	} else {
		rc = fsync_dir(".");
		if (rc < 0)
			return rc;
	}
	return 1;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mult = 1ULL << 10; end++; break;
	case 'M': mult = 1ULL << 20; end++; break;
	case 'G': mult = 1ULL << 30; end++; break;
	case 'T': mult = 1ULL << 40; end++; break;
	default: return -EINVAL;
	}
	if (mult > 1 && (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib")))
		end += strlen(end);
	if (*end || (v && mult > UINT64_MAX / v))
		return -EINVAL;
	*out = v * mult;
	return 0;
}

char *format_size(uint64_t bytes, char *out, size_t outsz)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outsz, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, outsz, "%.1f %s", v, units[u]);
	return out;
}

int cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int listen_first(const struct addrinfo *res, int type_flags, int backlog)
{
	int rc = -EADDRNOTAVAIL, one = 1;

	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | type_flags, ai->ai_protocol);

		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			return fd;
		rc = -errno;
		close(fd);
	}
	return rc;
}

int open_dir_beneath(const char *root, const char *path)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV };
	int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC), fd, e;

	if (rfd < 0 || !*path)
		return rfd < 0 ? -errno : rfd;
	fd = (int)syscall(SYS_openat2, rfd, path, &how, sizeof(how));
	e = errno;
	close(rfd);
	return fd < 0 ? -e : fd;
}
