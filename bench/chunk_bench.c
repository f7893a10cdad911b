/* chunk_bench: throughput of the whole chunk pipeline (FastCDC, SHA-256,
 * zstd, file:// puts) on deterministic in-memory data, one JSON line per run;
 * each run gets a fresh store directory, so none dedups against another. */
#include "lib/err.h"
#include "lib/util.h"
#include "store/pipeline.h"
#include "store/store.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char usage[] =
	"usage: chunk_bench [--size BYTES] [--kind random|text] [--store DIR]\n"
	"                   [--threads N] [--runs N]\n"
	"\n"
	"Generates SIZE bytes (default 1G) of deterministic data and runs it\n"
	"through the chunk pipeline into a fresh file:// store under DIR (default\n"
	"$TMPDIR or /tmp) RUNS times (default 1), printing one JSON line per run.\n"
	"  --kind random   incompressible bytes (xoshiro256**), the default\n"
	"  --kind text     words from a Zipf-distributed vocabulary, ~3-4x with zstd\n"
	"  --threads N     pipeline workers (default 0: CPUs - 1, the reader helps)\n";

#define VOCAB_WORDS 4096
#define WORD_MAX 12
#define ZIPF_SLOTS 65536

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

static void fill_random(uint8_t *data, size_t len)
{
	struct rng r;
	size_t i;

	rng_seed(&r, 0x62656e6368726e64ULL); /* "benchrnd" */
	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = rng_next(&r);

		memcpy(data + i, &v, 8);
	}
	if (i < len) {
		uint64_t v = rng_next(&r);

		memcpy(data + i, &v, len - i);
	}
}

/* Words of 2..WORD_MAX lowercase letters; word i has Zipf weight 1/(i+1),
 * drawn in O(1) through a table of ZIPF_SLOTS quantiles. One in 12
 * separators is a newline. */
static int fill_text(uint8_t *data, size_t len)
{
	char (*words)[WORD_MAX] = malloc(VOCAB_WORDS * sizeof(*words));
	uint8_t *wlen = malloc(VOCAB_WORDS);
	uint16_t *zipf = malloc(ZIPF_SLOTS * sizeof(*zipf));
	double total = 0, cdf = 0;
	struct rng r;
	size_t pos = 0;
	int i, rc = 0;

	if (!words || !wlen || !zipf) {
		rc = t9k_err(-ENOMEM, "out of memory building the vocabulary");
		goto out;
	}
	rng_seed(&r, 0x62656e6368747874ULL); /* "benchtxt" */
	for (i = 0; i < VOCAB_WORDS; i++) {
		uint64_t v = rng_next(&r);

		wlen[i] = (uint8_t)(2 + v % (WORD_MAX - 1));
		v /= WORD_MAX - 1;
		for (int j = 0; j < wlen[i]; j++) {
			words[i][j] = (char)('a' + v % 26);
			v /= 26;
			if (v < 26)
				v = rng_next(&r);
		}
		total += 1.0 / (i + 1);
	}
	i = 0;
	cdf = 1.0;
	for (int j = 0; j < ZIPF_SLOTS; j++) {
		double q = (j + 0.5) / ZIPF_SLOTS * total;

		while (cdf < q && i < VOCAB_WORDS - 1) {
			i++;
			cdf += 1.0 / (i + 1);
		}
		zipf[j] = (uint16_t)i;
	}
	while (pos < len) {
		uint64_t v = rng_next(&r);
		int w = zipf[v & (ZIPF_SLOTS - 1)];
		size_t n = wlen[w] < len - pos ? wlen[w] : len - pos;

		memcpy(data + pos, words[w], n);
		pos += n;
		if (pos < len)
			data[pos++] = (v >> 16) % 12 == 0 ? '\n' : ' ';
	}
out:
	free(words);
	free(wlen);
	free(zipf);
	return rc;
}

struct mem_reader {
	const uint8_t *data;
	size_t len, pos;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct mem_reader *m = arg;
	size_t n = m->len - m->pos < len ? m->len - m->pos : len;

	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static int rm_err;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && !rm_err)
		rm_err = t9k_err(-errno, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

static int rm_tree(const char *dir)
{
	rm_err = 0;
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && !rm_err)
		rm_err = t9k_err(-errno, "cannot remove '%s': %s", dir, strerror(errno));
	return rm_err;
}

static double tv_sec(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* One timed run into a fresh store directory under root; the CPU time of
 * the whole process during the run (all its threads) is reported too. */
static int run_once(const char *root, const uint8_t *data, size_t len, int threads,
		    const char *kind, int run)
{
	char dir[PATH_MAX], url[PATH_MAX + 16];
	struct chunk_pipeline_opts po;
	struct chunk_pipeline *p = NULL;
	struct mem_reader m = { data, len, 0 };
	struct store *s = NULL;
	struct chunk_stats st;
	struct rusage ru0, ru1;
	int made = 0, rc;
	double t0, dt;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/run-XXXXXX", root) >= sizeof(dir))
		return t9k_err(-ENAMETOOLONG, "store directory '%s' is too long", root);
	if (!mkdtemp(dir))
		return t9k_err(-errno, "cannot create a directory in '%s': %s", root, strerror(errno));
	made = 1;
	snprintf(url, sizeof(url), "file://%s", dir);
	rc = store_open(url, &s);
	if (rc < 0)
		goto out;
	chunk_pipeline_opts_init(&po);
	po.threads = threads;
	rc = chunk_pipeline_new(s, &po, &p);
	if (rc < 0)
		goto out;
	if (getrusage(RUSAGE_SELF, &ru0) != 0)
		return t9k_err(-errno, "getrusage: %s", strerror(errno));
	t0 = now_sec();
	rc = chunk_pipeline_run(p, mem_read, &m, NULL, NULL, &st);
	dt = now_sec() - t0;
	if (getrusage(RUSAGE_SELF, &ru1) != 0)
		return t9k_err(-errno, "getrusage: %s", strerror(errno));
	if (rc < 0)
		goto out;
	if (st.bytes != len) {
		rc = t9k_err(-EIO, "pipeline read %llu bytes of %zu", (unsigned long long)st.bytes,
			     len);
		goto out;
	}
	printf("{\"bench\":\"chunk_pipeline\",\"kind\":\"%s\",\"run\":%d,\"bytes\":%zu,"
	       "\"seconds\":%.4f,\"mb_per_s\":%.1f,\"chunks\":%llu,\"chunks_new\":%llu,"
	       "\"bytes_stored\":%llu,\"threads\":%d,\"user_s\":%.3f,\"sys_s\":%.3f}\n",
	       kind, run, len, dt, dt > 0 ? (double)len / dt / 1e6 : 0.0,
	       (unsigned long long)st.chunks, (unsigned long long)st.chunks_new,
	       (unsigned long long)st.bytes_stored, threads > 0 ? threads : (cpu_count() > 1 ? cpu_count() - 1 : 1),
	       tv_sec(&ru1.ru_utime) - tv_sec(&ru0.ru_utime), tv_sec(&ru1.ru_stime) - tv_sec(&ru0.ru_stime));
	if (fflush(stdout) != 0)
		rc = t9k_err(-EIO, "writing to stdout: %s", strerror(errno));
out:
	chunk_pipeline_free(p);
	store_close(s);
	if (made) {
		int r = rm_tree(dir);

		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

static int parse_int(const char *opt, const char *arg, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < lo || v > hi)
		return t9k_err(T9K_EUSAGE, "invalid value '%s' for %s (want %d..%d)", arg, opt, lo,
			       hi);
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' }, { "kind", required_argument, NULL, 'k' },
		{ "store", required_argument, NULL, 'd' }, { "threads", required_argument, NULL, 't' },
		{ "runs", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kind = "random", *dir = getenv("TMPDIR");
	char root[PATH_MAX];
	uint64_t size = 1ULL << 30;
	int c, threads = 0, runs = 1, rc = 0;
	uint8_t *data = NULL;

	if (!dir || !*dir)
		dir = "/tmp";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_size(optarg, &size) < 0 || size == 0 || size > SIZE_MAX / 2)
				rc = t9k_err(T9K_EUSAGE, "invalid size '%s' for --size", optarg);
			break;
		case 'k': kind = optarg; break;
		case 'd': dir = optarg; break;
		case 't': rc = parse_int("--threads", optarg, 0, 256, &threads); break;
		case 'r': rc = parse_int("--runs", optarg, 1, 1000, &runs); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 1;
		}
		if (rc < 0)
			goto out;
	}
	if (optind != argc) {
		rc = t9k_err(T9K_EUSAGE, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (strcmp(kind, "random") && strcmp(kind, "text")) {
		rc = t9k_err(T9K_EUSAGE, "unknown kind '%s' (want random or text)", kind);
		goto out;
	}
	/* file:// wants an absolute path; this also checks DIR exists. */
	if (!realpath(dir, root)) {
		rc = t9k_err(-errno, "store directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	data = malloc(size);
	if (!data) {
		rc = t9k_err(-ENOMEM, "out of memory allocating %llu bytes of input",
			     (unsigned long long)size);
		goto out;
	}
	if (!strcmp(kind, "random"))
		fill_random(data, size);
	else if ((rc = fill_text(data, size)) < 0)
		goto out;
	for (int i = 1; i <= runs && rc == 0; i++)
		rc = run_once(root, data, size, threads, kind, i);
out:
	free(data);
	if (rc < 0) {
		fprintf(stderr, "chunk_bench: %s\n", t9k_errmsg(rc));
		return 1;
	}
	return 0;
}
