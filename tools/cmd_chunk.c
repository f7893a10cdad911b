/* "t9kfs chunk": debugging access to the chunk layer. put cuts a file into
 * chunks and stores them (printing the manifest), get writes chunks'
 * verified plaintext, verify checks stored chunks against their ids. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/util.h"
#include "store/chunk.h"
#include "store/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char put_usage[] =
	"usage: t9kfs chunk put [options] FILE|-\n"
	"\n"
	"Cuts FILE (or stdin) into content-defined chunks, stores the new ones and\n"
	"prints the manifest: one line per chunk, '<id> <length>'.\n"
	"\n"
	"  --min SIZE      smallest chunk (default 256K)\n"
	"  --avg SIZE      average chunk, a power of two (default 1M)\n"
	"  --max SIZE      largest chunk (default 4M)\n"
	"  --level N       zstd level, 0 = no compression (default 1)\n"
	"  --threads N     workers (default: CPUs - 1; the reader helps)\n"
	"  -q, --quiet     no summary line on stderr\n";

struct put_ctx {
	struct progress prog;
	uint64_t total;
	uint64_t done;
	uint64_t n;
};

static int print_chunk(void *arg, const struct chunk_loc *c, uint64_t off)
{
	struct put_ctx *ctx = arg;
	char hex[OID_HEXSZ + 1];

	(void)off;
	if (printf("%s %u\n", oid_to_hex(&c->id, hex), c->len) < 0)
		return t9k_err(-EIO, "writing the manifest to stdout: %s", strerror(errno));
	ctx->done += c->len;
	ctx->n++;
	progress_update(&ctx->prog, ctx->done, ctx->total, ctx->n);
	return 0;
}

static int parse_u32_size(const char *opt, const char *arg, uint32_t *out)
{
	uint64_t v;

	if (parse_size(arg, &v) < 0 || v > UINT32_MAX)
		return cli_usage_error("invalid size '%s' for %s", arg, opt);
	*out = (uint32_t)v;
	return 0;
}

static int parse_int(const char *opt, const char *arg, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < lo || v > hi)
		return cli_usage_error("invalid value '%s' for %s (want %d..%d)", arg, opt, lo, hi);
	*out = (int)v;
	return 0;
}

static int chunk_put_cmd(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "min", required_argument, NULL, 'm' }, { "avg", required_argument, NULL, 'a' },
		{ "max", required_argument, NULL, 'M' }, { "level", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	uint32_t min = CDC_MIN_DEFAULT, avg = CDC_AVG_DEFAULT, max = CDC_MAX_DEFAULT;
	struct chunk_pipeline_opts po;
	struct chunk_pipeline *p = NULL;
	struct put_ctx ctx = { 0 };
	struct chunk_stats st;
	struct store *s = NULL;
	int c, fd = -1, quiet = 0, rc;
	const char *file;
	struct stat sb;
	double t0;

	chunk_pipeline_opts_init(&po);
	optind = 0;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case 'm': rc = parse_u32_size("--min", optarg, &min); break;
		case 'a': rc = parse_u32_size("--avg", optarg, &avg); break;
		case 'M': rc = parse_u32_size("--max", optarg, &max); break;
		case 'l': rc = parse_int("--level", optarg, 0, 19, &po.zlevel); break;
		case 't': rc = parse_int("--threads", optarg, 1, 256, &po.threads); break;
		case 'q': quiet = 1; break;
		case 'h': fputs(put_usage, stdout); return 0;
		default: fputs(put_usage, stderr); return 2;
		}
		if (rc)
			return rc;
	}
	if (optind != argc - 1) {
		fputs(put_usage, stderr);
		return 2;
	}
	rc = cdc_params_init(&po.cdc, min, avg, max);
	if (rc < 0)
		return cli_fail(rc);
	file = argv[optind];
	/* Open the input before the store, so a bad path writes nothing. */
	fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0)
		return cli_fail(t9k_err(-errno, "cannot open '%s': %s", file, strerror(errno)));
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		rc = t9k_err(-EISDIR, "'%s' is a directory", file);
		goto out;
	}
	ctx.total = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
	rc = cli_open_store(cli, &s);
	if (rc < 0)
		goto out;
	rc = chunk_pipeline_new(s, &po, &p);
	if (rc < 0)
		goto out;
	progress_init(&ctx.prog, "chunking");
	t0 = now_sec();
	rc = chunk_pipeline_run(p, chunk_read_fd, &fd, print_chunk, &ctx, &st);
	progress_done(&ctx.prog);
	if (rc == 0 && fflush(stdout) != 0)
		rc = t9k_err(-EIO, "writing the manifest to stdout: %s", strerror(errno));
	if (rc == 0 && !quiet) {
		char in[32], out[32];
		double dt = now_sec() - t0;

		fprintf(stderr, "t9kfs: %llu chunks (%llu new), %s in, %s stored, %.0f MB/s\n",
			(unsigned long long)st.chunks, (unsigned long long)st.chunks_new,
			format_size(st.bytes, in, sizeof(in)),
			format_size(st.bytes_stored, out, sizeof(out)),
			dt > 0 ? (double)st.bytes / dt / 1e6 : 0.0);
	}
out:
	chunk_pipeline_free(p);
	store_close(s);
	if (fd > STDIN_FILENO)
		close(fd);
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char get_usage[] =
	"usage: t9kfs chunk get [-o FILE] ID...\n"
	"\n"
	"Writes the verified contents of the chunks, concatenated, to stdout or\n"
	"FILE. FILE appears only when every chunk was read and verified.\n";

static int chunk_get_cmd(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *outpath = NULL;
	char tmp[PATH_MAX] = "";
	struct buf data = BUF_INIT;
	struct store *s = NULL;
	struct oid *ids = NULL;
	int c, n, fd = STDOUT_FILENO, rc = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': outpath = optarg; break;
		case 'h': fputs(get_usage, stdout); return 0;
		default: fputs(get_usage, stderr); return 2;
		}
	}
	n = argc - optind;
	if (n < 1) {
		fputs(get_usage, stderr);
		return 2;
	}
	ids = calloc((size_t)n, sizeof(*ids));
	if (!ids)
		return cli_fail(t9k_err(-ENOMEM, "out of memory"));
	for (int i = 0; i < n && rc == 0; i++)
		rc = oid_from_hex(&ids[i], argv[optind + i]);
	if (rc == 0)
		rc = cli_open_store(cli, &s);
	if (rc == 0 && outpath) {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.t9kfs-tmp", outpath) >= sizeof(tmp))
			rc = t9k_err(-ENAMETOOLONG, "output path too long");
		else if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
			rc = t9k_err(-errno, "cannot create '%s': %s", tmp, strerror(errno));
	}
	for (int i = 0; i < n && rc == 0; i++) {
		buf_reset(&data);
		rc = chunk_get(s, &ids[i], &data);
		if (rc == 0 && (rc = write_full(fd, data.data, data.len)) < 0)
			rc = t9k_err(rc, "writing output: %s", strerror(-rc));
	}
	if (outpath && fd >= 0) {
		if (rc == 0 && fsync(fd) < 0)
			rc = t9k_err(-errno, "writing '%s': %s", tmp, strerror(errno));
		close(fd);
		if (rc == 0 && rename(tmp, outpath) < 0)
			rc = t9k_err(-errno, "cannot create '%s': %s", outpath, strerror(errno));
		if (rc < 0)
			unlink(tmp);
	}
	buf_release(&data);
	store_close(s);
	free(ids);
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char verify_usage[] =
	"usage: t9kfs chunk verify [ID...]\n"
	"\n"
	"Reads chunks back and checks each against its id: the given ones, or\n"
	"every chunk in the store (and every delta chunk, with its base). Prints\n"
	"one line per bad chunk; exits 1 if any.\n";

struct verify_ctx {
	struct store *s;
	struct buf data;
	struct progress prog;
	uint64_t n, bad, bytes;
};

static int verify_one(struct verify_ctx *v, const struct oid *id)
{
	int rc;

	buf_reset(&v->data);
	rc = chunk_get(v->s, id, &v->data);
	v->n++;
	v->bytes += v->data.len;
	progress_update(&v->prog, v->bytes, 0, v->n);
	if (rc == T9K_ECORRUPT || rc == -ENOENT) {
		progress_done(&v->prog);
		fprintf(stderr, "t9kfs: %s\n", t9k_errmsg(rc));
		v->bad++;
		return 0;
	}
	return rc;
}

static int verify_key(const char *key, uint64_t size, void *arg)
{
	struct oid id;
	int rc;

	(void)size;
	rc = chunk_key_parse(key, &id);
	if (rc < 0) {
		fprintf(stderr, "t9kfs: stray object '%s' among chunks\n", key);
		((struct verify_ctx *)arg)->bad++;
		return 0;
	}
	return verify_one(arg, &id);
}

/* A delta chunk (store/chunk.h) is verified as itself, with its base,
 * even where the chunk is also stored whole. */
static int verify_delta_key(const char *key, uint64_t size, void *arg)
{
	struct verify_ctx *v = arg;
	struct buf obj = BUF_INIT;
	struct oid id;
	int rc;

	(void)size;
	if (strncmp(key, CHUNK_NS_DELTA "/", sizeof(CHUNK_NS_DELTA)) ||
	    oid_from_hex(&id, key + sizeof(CHUNK_NS_DELTA)) < 0) {
		fprintf(stderr, "t9kfs: stray object '%s' among delta chunks\n", key);
		v->bad++;
		return 0;
	}
	buf_reset(&v->data);
	rc = store_get(v->s, key, 0, STORE_WHOLE, &obj);
	if (rc == 0)
		rc = chunk_delta_decode(v->s, &id, obj.data, obj.len, &v->data);
	buf_release(&obj);
	v->n++;
	v->bytes += v->data.len;
	progress_update(&v->prog, v->bytes, 0, v->n);
	if (rc == T9K_ECORRUPT || rc == -ENOENT) {
		progress_done(&v->prog);
		fprintf(stderr, "t9kfs: %s\n", t9k_errmsg(rc));
		v->bad++;
		return 0;
	}
	return rc;
}

static int chunk_verify_cmd(struct cli *cli, int argc, char **argv)
{
	struct verify_ctx v = { 0 };
	int rc = 0;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(verify_usage, stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		struct oid id;

		if (argv[i][0] == '-')
			return cli_usage_error("unknown option '%s' (see 't9kfs chunk verify --help')",
					       argv[i]);
		if ((rc = oid_from_hex(&id, argv[i])) < 0)
			return cli_fail(rc);
	}
	rc = cli_open_store(cli, &v.s);
	if (rc < 0)
		return cli_fail(rc);
	progress_init(&v.prog, "verifying");
	if (argc > 1) {
		for (int i = 1; i < argc && rc == 0; i++) {
			struct oid id;

			oid_from_hex(&id, argv[i]);
			rc = verify_one(&v, &id);
		}
	} else {
		rc = store_list(v.s, "chunks/", verify_key, &v);
		if (rc == 0)
			rc = store_list(v.s, CHUNK_NS_DELTA "/", verify_delta_key, &v);
	}
	progress_done(&v.prog);
	buf_release(&v.data);
	store_close(v.s);
	if (rc < 0)
		return cli_fail(rc);
	printf("verified %llu chunks, %llu bytes: %llu bad\n", (unsigned long long)v.n,
	       (unsigned long long)v.bytes, (unsigned long long)v.bad);
	return v.bad ? 1 : 0;
}

static const struct cli_cmd chunk_cmds[] = {
	{ "put", chunk_put_cmd, "chunk and store a file, print its manifest" },
	{ "get", chunk_get_cmd, "write the verified contents of chunks" },
	{ "verify", chunk_verify_cmd, "check stored chunks against their ids" },
	{ NULL, NULL, NULL },
};

int cmd_chunk(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "chunk", chunk_cmds, argc - 1, argv + 1);
}
