/* fsx: a random-operation exerciser in the spirit of fsx and pjdfstest.
 * It applies the same random operations to two directory trees, a t9kfs
 * branch mount and a local directory, and checks after each one that
 * both gave the same result (success, or the same errno) and, for reads
 * and stats, the same bytes and attributes. Every so often, and at the
 * end, it compares the two trees whole.
 *
 * Operations: write at an offset, append, truncate (shrink and grow),
 * rename (files and directories, over existing targets, into
 * subdirectories), unlink, mkdir, rmdir, chmod, read-compare, stat-compare,
 * and writes, reads and fsyncs through files kept open across the other
 * operations (so renamed and unlinked open files are exercised too).
 *
 * usage: fsx [-n OPS] [-s SEED] [-v] MOUNT_DIR LOCAL_DIR
 * Exit status 0 when the trees agreed throughout, 1 at the first
 * difference (the last operations are printed), 2 on bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SIZE (6u << 20)   /* files stay below this */
#define MAX_IO (1536u << 10)  /* bytes per write or read */
#define KEPT 3                /* files kept open */
#define HISTORY 24
#define FULL_EVERY 1000

static const char *const dirs[] = { "", "d0", "d1", "d0/d2", "d1/d3", "d0/d2/d4" };
static const char *const names[] = { "f0", "f1", "f2", "f3", "f4", "f5", "d0", "d1", "d2", "d3" };

static const char *root[2]; /* [0] the mount, [1] the local directory */
static uint64_t rng;
static long opno;
static bool verbose;
static char history[HISTORY][512];
static uint8_t *buf[2], *data;

struct kept {
	int fd[2];
	char path[256];
};
static struct kept kept[KEPT];

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;
	char *h = history[opno % HISTORY];

	va_start(ap, fmt);
	vsnprintf(h, sizeof(history[0]), fmt, ap);
	va_end(ap);
	if (verbose)
		printf("%ld %s\n", opno, h);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fsx: op %ld: ", opno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fprintf(stderr, "fsx: the last operations:\n");
	for (long i = opno - HISTORY + 1; i <= opno; i++)
		if (i >= 0)
			fprintf(stderr, "  %ld %s\n", i, history[i % HISTORY]);
	exit(1);
}

static void path_of(int side, const char *rel, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", root[side], rel);
}

static void rand_path(char *out, size_t size)
{
	const char *d = dirs[below(sizeof(dirs) / sizeof(dirs[0]))];
	const char *n = names[below(sizeof(names) / sizeof(names[0]))];

	snprintf(out, size, "%s%s%s", d, *d ? "/" : "", n);
}

/* Both results must agree: same success, or the same errno. */
static void same_result(const char *what, long r0, int e0, long r1, int e1)
{
	if ((r0 < 0) != (r1 < 0) || (r0 < 0 && e0 != e1))
		fail("%s: mount %ld (%s), local %ld (%s)", what, r0, r0 < 0 ? strerror(e0) : "ok", r1,
		     r1 < 0 ? strerror(e1) : "ok");
	if (r0 >= 0 && r0 != r1)
		fail("%s: mount returned %ld, local %ld", what, r0, r1);
}

static void fill(uint64_t len)
{
	uint64_t seed = rnd();

	for (uint64_t i = 0; i < len; i += 8) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		memcpy(data + i, &seed, len - i < 8 ? len - i : 8);
	}
}

/* ---- operations on both trees ---- */

static void op_write(bool append)
{
	char rel[256], p[2][512];
	uint64_t off = below(MAX_SIZE - MAX_IO), len = 1 + below(below(4) ? 65536 : MAX_IO);
	long r[2], w[2], c[2];
	int e[2], we[2], ce[2];

	rand_path(rel, sizeof(rel));
	fill(len);
	note("%s %s off %llu len %llu", append ? "append" : "write", rel, (unsigned long long)off,
	     (unsigned long long)len);
	for (int s = 0; s < 2; s++) {
		int fd;

		path_of(s, rel, p[s], sizeof(p[s]));
		errno = 0;
		fd = open(p[s], append ? O_WRONLY | O_CREAT | O_APPEND : O_RDWR | O_CREAT, 0644);
		r[s] = fd;
		e[s] = errno;
		w[s] = c[s] = 0;
		we[s] = ce[s] = 0;
		if (fd < 0)
			continue;
		errno = 0;
		w[s] = append ? write(fd, data, len) : pwrite(fd, data, len, (off_t)off);
		we[s] = errno;
		errno = 0;
		c[s] = close(fd);
		ce[s] = errno;
	}
	same_result("open", r[0] < 0 ? -1 : 0, e[0], r[1] < 0 ? -1 : 0, e[1]);
	same_result("write", w[0], we[0], w[1], we[1]);
	same_result("close", c[0], ce[0], c[1], ce[1]);
}

static void op_truncate(void)
{
	char rel[256], p[2][512];
	uint64_t size = below(4) ? below(MAX_SIZE) : below(8192);
	long r[2];
	int e[2];

	rand_path(rel, sizeof(rel));
	note("truncate %s %llu", rel, (unsigned long long)size);
	for (int s = 0; s < 2; s++) {
		path_of(s, rel, p[s], sizeof(p[s]));
		errno = 0;
		r[s] = truncate(p[s], (off_t)size);
		e[s] = errno;
	}
	same_result("truncate", r[0], e[0], r[1], e[1]);
}

static void op_read(void)
{
	char rel[256], p[2][512];
	uint64_t off = below(MAX_SIZE), len = 1 + below(MAX_IO);
	long r[2] = { 0, 0 }, o[2];
	int e[2] = { 0, 0 }, oe[2];

	rand_path(rel, sizeof(rel));
	note("read %s off %llu len %llu", rel, (unsigned long long)off, (unsigned long long)len);
	for (int s = 0; s < 2; s++) {
		int fd;

		path_of(s, rel, p[s], sizeof(p[s]));
		errno = 0;
		fd = open(p[s], O_RDONLY);
		o[s] = fd < 0 ? -1 : 0;
		oe[s] = errno;
		if (fd < 0)
			continue;
		errno = 0;
		r[s] = pread(fd, buf[s], len, (off_t)off);
		e[s] = errno;
		close(fd);
	}
	same_result("open for read", o[0], oe[0], o[1], oe[1]);
	same_result("read", r[0], e[0], r[1], e[1]);
	if (r[0] > 0 && memcmp(buf[0], buf[1], (size_t)r[0])) {
		long i = 0;

		while (buf[0][i] == buf[1][i])
			i++;
		fail("read %s: bytes differ at offset %llu", rel, (unsigned long long)off + (uint64_t)i);
	}
}

static void compare_stat(const char *rel, const struct stat *a, const struct stat *b)
{
	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT))
		fail("%s: type %o on the mount, %o locally", rel, a->st_mode & S_IFMT,
		     b->st_mode & S_IFMT);
	if ((a->st_mode & 07777) != (b->st_mode & 07777))
		fail("%s: mode %o on the mount, %o locally", rel, a->st_mode & 07777,
		     b->st_mode & 07777);
	if (!S_ISDIR(a->st_mode) && a->st_size != b->st_size)
		fail("%s: size %lld on the mount, %lld locally", rel, (long long)a->st_size,
		     (long long)b->st_size);
}

static void op_stat(void)
{
	char rel[256], p[2][512];
	struct stat st[2];
	long r[2];
	int e[2];

	rand_path(rel, sizeof(rel));
	note("stat %s", rel);
	for (int s = 0; s < 2; s++) {
		path_of(s, rel, p[s], sizeof(p[s]));
		errno = 0;
		r[s] = lstat(p[s], &st[s]);
		e[s] = errno;
	}
	same_result("lstat", r[0], e[0], r[1], e[1]);
	if (r[0] == 0)
		compare_stat(rel, &st[0], &st[1]);
}

static void op_path2(const char *what)
{
	char a[256], b[256], p[2][512], q[2][512];
	long r[2];
	int e[2];

	rand_path(a, sizeof(a));
	rand_path(b, sizeof(b));
	note("%s %s %s", what, a, b);
	for (int s = 0; s < 2; s++) {
		path_of(s, a, p[s], sizeof(p[s]));
		path_of(s, b, q[s], sizeof(q[s]));
		errno = 0;
		r[s] = rename(p[s], q[s]);
		e[s] = errno;
	}
	same_result(what, r[0], e[0], r[1], e[1]);
}

static void op_path1(int which)
{
	static const char *const what[] = { "unlink", "mkdir", "rmdir", "chmod" };
	static const mode_t modes[] = { 0600, 0644, 0755, 0700 };
	mode_t mode = modes[below(4)];
	char rel[256], p[2][512];
	long r[2];
	int e[2];

	rand_path(rel, sizeof(rel));
	note("%s %s%s", what[which], rel, which == 3 ? (mode == 0600 ? " 600" : " other") : "");
	for (int s = 0; s < 2; s++) {
		path_of(s, rel, p[s], sizeof(p[s]));
		errno = 0;
		r[s] = which == 0 ? unlink(p[s]) : which == 1 ? mkdir(p[s], 0755) :
		       which == 2 ? rmdir(p[s]) : chmod(p[s], mode);
		e[s] = errno;
	}
	same_result(what[which], r[0], e[0], r[1], e[1]);
}

/* ---- files kept open ---- */

static void op_keep(void)
{
	struct kept *k = &kept[below(KEPT)];
	long r[2];
	int e[2];

	if (k->fd[0] >= 0) { /* close it */
		note("close kept %s", k->path);
		for (int s = 0; s < 2; s++) {
			errno = 0;
			r[s] = close(k->fd[s]);
			e[s] = errno;
			k->fd[s] = -1;
		}
		same_result("close kept", r[0], e[0], r[1], e[1]);
		return;
	}
	rand_path(k->path, sizeof(k->path));
	note("open kept %s", k->path);
	for (int s = 0; s < 2; s++) {
		char p[512];

		path_of(s, k->path, p, sizeof(p));
		errno = 0;
		k->fd[s] = open(p, O_RDWR | O_CREAT, 0644);
		e[s] = errno;
	}
	same_result("open kept", k->fd[0] < 0 ? -1 : 0, e[0], k->fd[1] < 0 ? -1 : 0, e[1]);
	if (k->fd[0] < 0 && k->fd[1] >= 0)
		close(k->fd[1]), k->fd[1] = -1;
}

static void op_kept_io(void)
{
	struct kept *k = &kept[below(KEPT)];
	uint64_t off = below(MAX_SIZE - MAX_IO), len = 1 + below(262144);
	int kind = (int)below(4); /* write, read, fsync, ftruncate */
	long r[2];
	int e[2];

	if (k->fd[0] < 0)
		return;
	if (kind == 0)
		fill(len);
	note("kept %s %s off %llu len %llu", k->path,
	     kind == 0 ? "pwrite" : kind == 1 ? "pread" : kind == 2 ? "fsync" : "ftruncate",
	     (unsigned long long)off, (unsigned long long)len);
	for (int s = 0; s < 2; s++) {
		errno = 0;
		r[s] = kind == 0 ? pwrite(k->fd[s], data, len, (off_t)off) :
		       kind == 1 ? pread(k->fd[s], buf[s], len, (off_t)off) :
		       kind == 2 ? fsync(k->fd[s]) : ftruncate(k->fd[s], (off_t)(off / 3));
		e[s] = errno;
	}
	same_result("kept io", r[0], e[0], r[1], e[1]);
	if (kind == 1 && r[0] > 0 && memcmp(buf[0], buf[1], (size_t)r[0]))
		fail("kept read %s: bytes differ", k->path);
}

/* ---- whole trees ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list_dir(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, cap = 0;
	char **v = NULL;

	if (!d)
		fail("cannot list %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				fail("out of memory");
		}
		v[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), name_cmp);
	*out = v;
	return n;
}

static void compare_files(const char *a, const char *b, off_t size)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);

	if (fa < 0 || fb < 0)
		fail("cannot open %s or %s", a, b);
	for (off_t off = 0; off < size; off += MAX_IO) {
		ssize_t na = pread(fa, buf[0], MAX_IO, off), nb = pread(fb, buf[1], MAX_IO, off);

		if (na != nb || na < 0 || memcmp(buf[0], buf[1], (size_t)na))
			fail("%s: contents differ near offset %lld", a, (long long)off);
	}
	close(fa);
	close(fb);
}

static void compare_tree(const char *rel)
{
	char a[1024], b[1024];
	char **na, **nb;
	size_t n0, n1;

	path_of(0, rel, a, sizeof(a));
	path_of(1, rel, b, sizeof(b));
	n0 = list_dir(a, &na);
	n1 = list_dir(b, &nb);
	for (size_t i = 0; i < n0 || i < n1; i++) {
		char sub[512], pa[1024], pb[1024];
		struct stat sa, sb;

		if (i >= n0 || i >= n1 || strcmp(na[i], nb[i]))
			fail("directory '%s' differs: '%s' on the mount, '%s' locally", rel,
			     i < n0 ? na[i] : "(end)", i < n1 ? nb[i] : "(end)");
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", na[i]);
		path_of(0, sub, pa, sizeof(pa));
		path_of(1, sub, pb, sizeof(pb));
		if (lstat(pa, &sa) < 0 || lstat(pb, &sb) < 0)
			fail("cannot stat %s", sub);
		compare_stat(sub, &sa, &sb);
		if (S_ISDIR(sa.st_mode))
			compare_tree(sub);
		else if (S_ISREG(sa.st_mode))
			compare_files(pa, pb, sa.st_size);
	}
	for (size_t i = 0; i < n0; i++)
		free(na[i]);
	for (size_t i = 0; i < n1; i++)
		free(nb[i]);
	free(na);
	free(nb);
}

int main(int argc, char **argv)
{
	long ops = 20000, counts[12] = { 0 };
	unsigned long long seed = 1;
	int o;

	while ((o = getopt(argc, argv, "n:s:v")) != -1) {
		if (o == 'n')
			ops = atol(optarg);
		else if (o == 's')
			seed = strtoull(optarg, NULL, 0);
		else if (o == 'v')
			verbose = true;
		else
			return fprintf(stderr, "usage: fsx [-n OPS] [-s SEED] [-v] MOUNT LOCAL\n"), 2;
	}
	if (optind != argc - 2 || ops < 0)
		return fprintf(stderr, "usage: fsx [-n OPS] [-s SEED] [-v] MOUNT LOCAL\n"), 2;
	root[0] = argv[optind];
	root[1] = argv[optind + 1];
	rng = seed * 0x9E3779B97F4A7C15ULL + 1;
	buf[0] = malloc(MAX_IO);
	buf[1] = malloc(MAX_IO);
	data = malloc(MAX_IO + 8);
	if (!buf[0] || !buf[1] || !data)
		return fprintf(stderr, "fsx: out of memory\n"), 1;
	for (int i = 0; i < KEPT; i++)
		kept[i].fd[0] = kept[i].fd[1] = -1;
	for (opno = 0; opno < ops; opno++) {
		int pick = (int)below(100);

		if (pick < 18)
			op_write(false), counts[0]++;
		else if (pick < 24)
			op_write(true), counts[1]++;
		else if (pick < 32)
			op_truncate(), counts[2]++;
		else if (pick < 46)
			op_read(), counts[3]++;
		else if (pick < 54)
			op_stat(), counts[4]++;
		else if (pick < 63)
			op_path2("rename"), counts[5]++;
		else if (pick < 69)
			op_path1(0), counts[6]++;
		else if (pick < 77)
			op_path1(1), counts[7]++;
		else if (pick < 83)
			op_path1(2), counts[8]++;
		else if (pick < 86)
			op_path1(3), counts[9]++;
		else if (pick < 90)
			op_keep(), counts[10]++;
		else
			op_kept_io(), counts[11]++;
		if (opno % FULL_EVERY == FULL_EVERY - 1)
			compare_tree("");
	}
	for (int i = 0; i < KEPT; i++)
		for (int s = 0; s < 2; s++)
			if (kept[i].fd[s] >= 0 && close(kept[i].fd[s]) < 0)
				fail("closing a kept file: %s", strerror(errno));
	compare_tree("");
	printf("fsx: %ld ops agreed (seed %llu): %ld writes, %ld appends, %ld truncates, %ld reads, "
	       "%ld stats, %ld renames, %ld unlinks, %ld mkdirs, %ld rmdirs, %ld chmods, "
	       "%ld open/close, %ld kept-file ops\n",
	       ops, seed, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6],
	       counts[7], counts[8], counts[9], counts[10], counts[11]);
	free(buf[0]);
	free(buf[1]);
	free(data);
	return 0;
}
