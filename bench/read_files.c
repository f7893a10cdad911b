/* read_files: reads every regular file under DIR once, whole, with N
 * threads taking files in a shuffled order (fixed seed), as a training data
 * loader does; prints one JSON line with files/s and MB/s. */
#include "lib/err.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
	"usage: read_files [--threads N] [--seed S] DIR\n"
	"\n"
	"Reads every regular file under DIR once with N threads (default 8) in an\n"
	"order shuffled with seed S (default 1); prints files, bytes, seconds,\n"
	"files/s and MB/s as one JSON line. Any read error fails the run.\n";

struct files {
	char **paths;
	size_t n, cap;
};

struct job {
	struct files *f;
	atomic_size_t next;
	atomic_ullong bytes;
	atomic_int failed;
};

static int add(struct files *f, const char *path)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 4096;
		char **p = realloc(f->paths, cap * sizeof(*p));

		if (!p)
			return t9k_err(-ENOMEM, "out of memory listing files");
		f->paths = p;
		f->cap = cap;
	}
	if (!(f->paths[f->n] = strdup(path)))
		return t9k_err(-ENOMEM, "out of memory listing files");
	f->n++;
	return 0;
}

/* Depth-first, so a directory's files come together before the shuffle. */
static int walk(struct files *f, const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d)
		return t9k_err(-errno, "cannot open directory '%s': %s", dir, strerror(errno));
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path)) {
			rc = t9k_err(-ENAMETOOLONG, "path under '%s' too long", dir);
			break;
		}
		if (lstat(path, &st) != 0)
			rc = t9k_err(-errno, "cannot stat '%s': %s", path, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = walk(f, path);
		else if (S_ISREG(st.st_mode))
			rc = add(f, path);
	}
	if (rc == 0 && errno)
		rc = t9k_err(-errno, "cannot read directory '%s': %s", dir, strerror(errno));
	closedir(d);
	return rc;
}

static void *reader(void *arg)
{
	struct job *j = arg;
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);

	if (!buf) {
		fprintf(stderr, "read_files: out of memory\n");
		atomic_store(&j->failed, 1);
		return NULL;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		unsigned long long got = 0;
		ssize_t n;
		int fd;

		if (i >= j->f->n || atomic_load(&j->failed))
			break;
		fd = open(j->f->paths[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "read_files: cannot open '%s': %s\n", j->f->paths[i],
				strerror(errno));
			atomic_store(&j->failed, 1);
			break;
		}
		while ((n = read(fd, buf, bufsz)) > 0)
			got += (unsigned long long)n;
		if (n < 0) {
			fprintf(stderr, "read_files: cannot read '%s': %s\n", j->f->paths[i],
				strerror(errno));
			atomic_store(&j->failed, 1);
		}
		close(fd);
		atomic_fetch_add(&j->bytes, got);
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	struct files f = { 0 };
	struct job j;
	pthread_t tid[256];
	unsigned long seed = 1;
	int threads = 8, started = 0, rc = 0;
	const char *dir = NULL;
	double t0, dt;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoul(argv[++i], NULL, 10);
		} else if (argv[i][0] != '-' && !dir) {
			dir = argv[i];
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!dir || threads < 1 || threads > 256) {
		fputs(usage, stderr);
		return 2;
	}
	if ((rc = walk(&f, dir)) < 0) {
		fprintf(stderr, "read_files: %s\n", t9k_errmsg(rc));
		return 1;
	}
	if (f.n == 0) {
		fprintf(stderr, "read_files: no files under '%s'\n", dir);
		return 1;
	}
	srand48((long)seed);
	for (size_t i = f.n - 1; i > 0; i--) {
		size_t k = (size_t)(drand48() * (double)(i + 1));
		char *t = f.paths[i];

		f.paths[i] = f.paths[k];
		f.paths[k] = t;
	}
	j.f = &f;
	atomic_init(&j.next, 0);
	atomic_init(&j.bytes, 0);
	atomic_init(&j.failed, 0);
	t0 = now_sec();
	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, reader, &j) != 0) {
			fprintf(stderr, "read_files: cannot start a thread\n");
			atomic_store(&j.failed, 1);
			break;
		}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	dt = now_sec() - t0;
	for (size_t i = 0; i < f.n; i++)
		free(f.paths[i]);
	free(f.paths);
	if (atomic_load(&j.failed))
		return 1;
	printf("{\"bench\":\"read_files\",\"files\":%zu,\"bytes\":%llu,\"threads\":%d,"
	       "\"seconds\":%.4f,\"files_per_s\":%.1f,\"mb_per_s\":%.1f}\n",
	       f.n, (unsigned long long)atomic_load(&j.bytes), threads, dt,
	       dt > 0 ? (double)f.n / dt : 0.0,
	       dt > 0 ? (double)atomic_load(&j.bytes) / dt / 1e6 : 0.0);
	return fflush(stdout) == 0 ? 0 : 1;
}
