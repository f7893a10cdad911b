/* Data commands: import, export, put, get, cat, rm, ls, stat. They read
 * and write the object store directly (resolving refs and staging through
 * the metadata service), so file bytes never pass through the service. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/util.h"
#include "meta/json.h"
#include "meta/transfer.h"
#include "store/chunk.h"
#include "store/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *ref_or_main(const struct spec *sp)
{
	return sp->has_ref ? sp->ref : "main";
}

/* Opens the repo and resolves the spec's ref to a commit. */
static int open_at(struct cli *cli, const struct spec *sp, struct repo **r, struct oid *commit,
		   bool *is_branch)
{
	int rc = cli_repo(cli, sp, r);

	if (rc == 0)
		rc = repo_resolve_ex(*r, ref_or_main(sp), commit, is_branch);
	return rc;
}

/* ---- import / export ---- */

struct prog_ctx {
	struct progress p;
};

static void show_progress(void *arg, const struct transfer_stats *st)
{
	struct prog_ctx *pc = arg;

	progress_update(&pc->p, st->bytes, st->total_bytes, st->files + st->symlinks);
}

int cmd_commit_staged(struct cli *cli, const char *repo, const char *branch, const char *msg,
		      json_t *meta, json_t **out);

static const char import_usage[] =
	"usage: t9kfs import [-m MSG] [--meta KEY=VALUE]... [--no-owner] DIR REPO@BRANCH[:PREFIX]\n"
	"\n"
	"Stores every file, symlink, directory, fifo, socket and device under DIR\n"
	"(modes, mtimes and owners kept, hard links as link groups) and stages them\n"
	"at PREFIX of the branch, adding to what is there. With -m, commits them\n"
	"too. Files are chunked, deduplicated and compressed on all cores; a\n"
	"progress line shows on a terminal.\n"
	"  --no-owner   record no owners (entries show the mounting user)\n";

int cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' }, { "meta", required_argument, NULL, 'k' },
		{ "no-owner", no_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct import_opts io = { 0 };
	struct transfer_stats st;
	struct prog_ctx pc;
	const char *msg = NULL;
	json_t *meta = json_object(), *commit = NULL;
	struct repo *r = NULL;
	struct spec sp;
	double t0;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
		if (o == 'm') {
			msg = optarg;
		} else if (o == 'o') {
			io.no_owner = true;
		} else if (o == 'k') {
			char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg)
				return json_decref(meta), cli_usage_error("--meta wants KEY=VALUE, not '%s'", optarg);
			json_object_set_new(meta, (*eq = '\0', optarg), json_string(eq + 1));
		} else {
			json_decref(meta);
			fputs(import_usage, o == 'h' ? stdout : stderr);
			return o == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 2) {
		json_decref(meta);
		fputs(import_usage, stderr);
		return 2;
	}
	rc = spec_parse(argv[optind + 1], 0, &sp);
	if (rc == 0)
		rc = cli_repo(cli, &sp, &r);
	if (rc < 0)
		goto out;
	progress_init(&pc.p, "importing");
	io.progress = show_progress;
	io.arg = &pc;
	t0 = now_sec();
	rc = repo_import(r, ref_or_main(&sp), argv[optind], sp.path, &io, &st);
	progress_done(&pc.p);
	if (rc < 0)
		goto out;
	{
		char in[32], stored[32];
		double dt = now_sec() - t0;

		printf("staged %llu files, %llu symlinks, %llu dirs: %s read, %s new in the store, "
		       "%.0f MB/s\n",
		       (unsigned long long)st.files, (unsigned long long)st.symlinks,
		       (unsigned long long)st.dirs, format_size(st.bytes, in, sizeof(in)),
		       format_size(st.bytes_stored, stored, sizeof(stored)),
		       dt > 0 ? (double)st.bytes / dt / 1e6 : 0.0);
		if (st.specials || st.links)
			printf("staged %llu fifos, sockets and devices; %llu names of hard-linked files\n",
			       (unsigned long long)st.specials, (unsigned long long)st.links);
		if (st.skipped)
			printf("skipped %llu entries of types trees do not hold\n",
			       (unsigned long long)st.skipped);
	}
	if (msg) {
		rc = cmd_commit_staged(cli, sp.repo, ref_or_main(&sp), msg, meta, &commit);
		if (rc == 0)
			printf("committed %.12s on %s@%s\n",
			       json_string_value(json_object_get(commit, "id")), sp.repo, ref_or_main(&sp));
	}
out:
	json_decref(meta);
	json_decref(commit);
	repo_close(r);
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char export_usage[] =
	"usage: t9kfs export [--no-owner] REPO@REF[:PATH] DIR\n"
	"\n"
	"Writes the tree (or file) at PATH of the commit to DIR, which must not\n"
	"exist, with modes, mtimes, symlinks, fifos, sockets and hard links; as\n"
	"root also owners and devices (others skip devices, and say so). Every\n"
	"chunk is verified.\n"
	"  --no-owner   leave everything owned by the exporting user\n";

int cmd_export(struct cli *cli, int argc, char **argv)
{
	struct export_opts eo = { 0 };
	struct transfer_stats st;
	struct prog_ctx pc;
	struct repo *r = NULL;
	struct spec sp;
	struct oid c;
	int rc;

	if (cli_help_asked(argc, argv, export_usage))
		return 0;
	if (argc == 4 && !strcmp(argv[1], "--no-owner")) {
		eo.no_owner = true;
		argv++;
		argc--;
	}
	if (argc != 3)
		return fputs(export_usage, stderr), 2;
	rc = spec_parse(argv[1], 0, &sp);
	if (rc == 0)
		rc = open_at(cli, &sp, &r, &c, NULL);
	if (rc == 0) {
		progress_init(&pc.p, "exporting");
		eo.progress = show_progress;
		eo.arg = &pc;
		rc = repo_export_ex(r, &c, sp.path, argv[2], &eo, &st);
		progress_done(&pc.p);
	}
	if (rc == 0) {
		char sz[32];

		printf("exported %llu files, %llu symlinks, %llu dirs (%s) to %s\n",
		       (unsigned long long)st.files, (unsigned long long)st.symlinks,
		       (unsigned long long)st.dirs, format_size(st.bytes, sz, sizeof(sz)), argv[2]);
		if (st.specials || st.links)
			printf("made %llu fifos, sockets and devices; %llu hard links\n",
			       (unsigned long long)st.specials, (unsigned long long)st.links);
		if (st.skipped)
			printf("skipped %llu devices (and their links): only root makes devices\n",
			       (unsigned long long)st.skipped);
	}
	repo_close(r);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- single files ---- */

static const char put_usage[] =
	"usage: t9kfs put LOCAL REPO@BRANCH:PATH\n"
	"\n"
	"Stores the local file and stages it at PATH (commit to record it).\n";

int cmd_put(struct cli *cli, int argc, char **argv)
{
	struct chunk_pipeline_opts po;
	struct chunk_pipeline *p = NULL;
	uint8_t inl[META_INLINE_MAX];
	struct tree_entry e;
	struct repo *r = NULL;
	struct spec sp;
	struct stat sb;
	int fd = -1, rc;

	if (cli_help_asked(argc, argv, put_usage))
		return 0;
	if (argc != 3)
		return fputs(put_usage, stderr), 2;
	rc = spec_parse(argv[2], SPEC_PATH, &sp);
	if (rc < 0)
		return cli_fail(rc);
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_fail(t9k_err(-errno, "cannot open '%s': %s", argv[1], strerror(errno)));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return cli_fail(t9k_err(-EINVAL, "'%s' is not a regular file", argv[1]));
	}
	rc = cli_repo(cli, &sp, &r);
	if (rc == 0)
		rc = repo_pipeline_opts(r, &po);
	if (rc == 0)
		rc = chunk_pipeline_new(repo_store(r), &po, &p);
	if (rc == 0)
		rc = repo_file_store(r, p, NULL, fd, &sb, &e, inl, NULL);
	if (rc == 0) { /* its owner, as import records it */
		e.has_owner = true;
		e.uid = sb.st_uid;
		e.gid = sb.st_gid;
		rc = repo_stage(r, ref_or_main(&sp), sp.path, &e);
	}
	if (rc == 0)
		printf("staged %s@%s:%s (%llu bytes)\n", sp.repo, ref_or_main(&sp), sp.path,
		       (unsigned long long)e.size);
	chunk_pipeline_free(p);
	repo_close(r);
	close(fd);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* Looks up the spec's path; for the caller to release hold. */
static int lookup_spec(struct cli *cli, const struct spec *sp, struct repo **r,
		       struct tree_entry *e, struct meta_node **hold)
{
	struct oid c;
	int rc = open_at(cli, sp, r, &c, NULL);

	*hold = NULL;
	return rc < 0 ? rc : repo_lookup(*r, &c, sp->path, e, hold);
}

static const char rm_usage[] =
	"usage: t9kfs rm REPO@BRANCH:PATH\n"
	"\n"
	"Stages the removal of a file or a whole directory at PATH.\n";

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct repo *r = NULL;
	struct spec sp;
	int rc;

	if (cli_help_asked(argc, argv, rm_usage))
		return 0;
	if (argc != 2)
		return fputs(rm_usage, stderr), 2;
	rc = spec_parse(argv[1], SPEC_PATH, &sp);
	if (rc == 0) /* refuse to stage the removal of nothing */
		rc = lookup_spec(cli, &sp, &r, &e, &hold);
	if (rc == 0)
		rc = repo_stage(r, ref_or_main(&sp), sp.path, NULL);
	if (rc == 0)
		printf("staged removal of %s@%s:%s\n", sp.repo, ref_or_main(&sp), sp.path);
	if (hold)
		meta_node_put(repo_objects(r), hold);
	repo_close(r);
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char cat_usage[] =
	"usage: t9kfs cat REPO@REF:PATH\n"
	"\n"
	"Writes the file's verified content to stdout.\n";

int cmd_cat(struct cli *cli, int argc, char **argv)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct repo *r = NULL;
	struct spec sp;
	int rc;

	if (cli_help_asked(argc, argv, cat_usage))
		return 0;
	if (argc != 2)
		return fputs(cat_usage, stderr), 2;
	rc = spec_parse(argv[1], SPEC_PATH, &sp);
	if (rc == 0)
		rc = lookup_spec(cli, &sp, &r, &e, &hold);
	if (rc == 0 && S_ISDIR(e.mode))
		rc = t9k_err(-EISDIR, "'%s' is a directory (use ls)", sp.path);
	if (rc == 0)
		rc = repo_file_to_fd(r, &e, STDOUT_FILENO);
	if (hold)
		meta_node_put(repo_objects(r), hold);
	repo_close(r);
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char get_usage[] =
	"usage: t9kfs get REPO@REF:PATH LOCAL\n"
	"\n"
	"Copies a file out of a commit (verified; LOCAL appears only when complete).\n";

int cmd_get(struct cli *cli, int argc, char **argv)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct repo *r = NULL;
	struct spec sp;
	char tmp[4200];
	int rc, fd = -1;

	if (cli_help_asked(argc, argv, get_usage))
		return 0;
	if (argc != 3)
		return fputs(get_usage, stderr), 2;
	rc = spec_parse(argv[1], SPEC_PATH, &sp);
	if (rc == 0)
		rc = lookup_spec(cli, &sp, &r, &e, &hold);
	if (rc == 0 && !S_ISREG(e.mode))
		rc = t9k_err(-EISDIR, "'%s' is not a file (use export for directories)", sp.path);
	if (rc == 0) {
		snprintf(tmp, sizeof(tmp), "%s.t9kfs-tmp", argv[2]);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			rc = t9k_err(-errno, "cannot create '%s': %s", tmp, strerror(errno));
	}
	if (rc == 0)
		rc = repo_file_to_fd(r, &e, fd);
	if (fd >= 0) {
		if (rc == 0 && (fchmod(fd, e.mode & 07777) < 0 || fsync(fd) < 0))
			rc = t9k_err(-errno, "writing '%s': %s", tmp, strerror(errno));
		close(fd);
		if (rc == 0 && rename(tmp, argv[2]) < 0)
			rc = t9k_err(-errno, "cannot create '%s': %s", argv[2], strerror(errno));
		if (rc < 0)
			unlink(tmp);
	}
	if (hold)
		meta_node_put(repo_objects(r), hold);
	repo_close(r);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- ls / stat ---- */

static char type_char(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	default: return '-';
	}
}

static const char *type_word(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	default: return "file";
	}
}

/* "uid:gid", or "-" for an entry stored without an owner. */
static const char *owner_str(const struct tree_entry *e, char *buf, size_t size)
{
	if (!e->has_owner)
		return "-";
	snprintf(buf, size, "%u:%u", e->uid, e->gid);
	return buf;
}

/* ls -l: mode (with set-ID and sticky bits as ls shows them), size (a
 * device's numbers), owner, mtime (UTC), path. */
static void print_long(const struct tree_entry *e, const char *path)
{
	char perm[11], when[32], own[32], size[32];
	time_t t = (time_t)(e->mtime_ns / 1000000000);
	struct tm tm;

	perm[0] = type_char(e->mode);
	for (int i = 0; i < 9; i++)
		perm[1 + i] = (e->mode >> (8 - i)) & 1 ? "rwxrwxrwx"[i] : '-';
	if (e->mode & S_ISUID)
		perm[3] = perm[3] == 'x' ? 's' : 'S';
	if (e->mode & S_ISGID)
		perm[6] = perm[6] == 'x' ? 's' : 'S';
	if (e->mode & S_ISVTX)
		perm[9] = perm[9] == 'x' ? 't' : 'T';
	perm[10] = '\0';
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
		snprintf(size, sizeof(size), "%u, %u", e->dev_major, e->dev_minor);
	else
		snprintf(size, sizeof(size), "%llu", (unsigned long long)e->size);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	printf("%s %12s %-11s %s %s%s\n", perm, size, owner_str(e, own, sizeof(own)), when, path,
	       S_ISDIR(e->mode) ? "/" : "");
}

static int ls_dir(struct repo *r, const struct oid *tree, const char *prefix, bool lng, bool rec)
{
	struct tree_iter *it;
	struct tree_entry e;
	int rc = tree_iter_new(repo_objects(r), tree, NULL, 0, &it);

	while (rc == 0 && (rc = tree_iter_next(it, &e)) == 1) {
		char path[4400];

		snprintf(path, sizeof(path), "%s%.*s", prefix, (int)e.name_len, e.name);
		if (lng)
			print_long(&e, path);
		else
			printf("%s%s\n", path, S_ISDIR(e.mode) ? "/" : "");
		rc = 0;
		if (rec && S_ISDIR(e.mode)) {
			struct oid sub = e.id;

			strncat(path, "/", sizeof(path) - strlen(path) - 1);
			rc = ls_dir(r, &sub, path, lng, rec);
		}
	}
	tree_iter_free(it);
	return rc;
}

static const char ls_usage[] =
	"usage: t9kfs ls [-l] [-R] REPO@REF[:PATH]\n"
	"\n"
	"Lists a directory of a commit (names sorted; directories end in '/').\n"
	"  -l   mode, size (devices: major, minor), owner uid:gid ('-': none\n"
	"       stored), mtime (UTC)\n"
	"  -R   recursively\n";

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct repo *r = NULL;
	bool lng = false, rec = false;
	struct spec sp;
	int o, rc;

	optind = 0;
	while ((o = getopt(argc, argv, "lRh")) != -1) {
		if (o == 'l')
			lng = true;
		else if (o == 'R')
			rec = true;
		else
			return fputs(ls_usage, o == 'h' ? stdout : stderr), o == 'h' ? 0 : 2;
	}
	if (cli_help_asked(argc, argv, ls_usage))
		return 0;
	if (optind != argc - 1)
		return fputs(ls_usage, stderr), 2;
	rc = spec_parse(argv[optind], 0, &sp);
	if (rc == 0)
		rc = lookup_spec(cli, &sp, &r, &e, &hold);
	if (rc == 0) {
		if (S_ISDIR(e.mode)) {
			struct oid tree = e.id;
			char prefix[4200] = "";

			if (rec && sp.path[0])
				snprintf(prefix, sizeof(prefix), "%s/", sp.path);
			rc = ls_dir(r, &tree, prefix, lng, rec);
		} else if (lng) {
			print_long(&e, sp.path);
		} else {
			printf("%s\n", sp.path);
		}
	}
	if (hold)
		meta_node_put(repo_objects(r), hold);
	repo_close(r);
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char stat_usage[] =
	"usage: t9kfs stat [--json] REPO@REF:PATH\n"
	"\n"
	"Shows one entry: type, mode, size, owner, mtime, a device's numbers, its\n"
	"hard-link group, a directory's subdirectories and its object id.\n";

int cmd_stat(struct cli *cli, int argc, char **argv)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct repo *r = NULL;
	bool js = argc == 3 && !strcmp(argv[1], "--json");
	char hex[OID_HEXSZ + 1];
	struct spec sp;
	int rc;

	if (cli_help_asked(argc, argv, stat_usage))
		return 0;
	if (argc != 2 && !js)
		return fputs(stat_usage, stderr), 2;
	rc = spec_parse(argv[argc - 1], 0, &sp);
	if (rc == 0)
		rc = lookup_spec(cli, &sp, &r, &e, &hold);
	if (rc == 0 && js) {
		/* the entry as meta/API.md shows it (but inline bytes), and the path */
		json_t *j = meta_json_entry(&e);

		json_object_del(j, "name");
		json_object_del(j, "inline");
		json_object_set_new(j, "path", json_string(sp.path));
		cli_print_json(j);
		json_decref(j);
	} else if (rc == 0) {
		bool special = S_ISFIFO(e.mode) || S_ISSOCK(e.mode) || S_ISCHR(e.mode) ||
			       S_ISBLK(e.mode);
		char when[64], own[32];

		cli_format_time(e.mtime_ns, when, sizeof(when));
		printf("  path: %s\n  type: %s\n  mode: %04o\n  size: %llu%s\n owner: %s\n mtime: %s\n",
		       sp.path[0] ? sp.path : "/", type_word(e.mode), e.mode & 07777,
		       (unsigned long long)e.size, S_ISDIR(e.mode) ? " entries" : " bytes",
		       e.has_owner ? owner_str(&e, own, sizeof(own)) : "none stored (mounts show the mounting user)",
		       when);
		if (S_ISCHR(e.mode) || S_ISBLK(e.mode))
			printf("device: %u, %u\n", e.dev_major, e.dev_minor);
		if (e.link_id)
			printf(" links: %u names (hard-link group %016llx)\n", e.nlink,
			       (unsigned long long)e.link_id);
		if (S_ISDIR(e.mode) && e.has_subdirs)
			printf("  dirs: %u subdirectories\n", e.subdirs);
		if (!special)
			printf("    id: %s%s\n", e.is_inline ? "(inline)" : oid_to_hex(&e.id, hex),
			       e.is_chunk ? " (one chunk, no manifest)" : "");
	}
	if (hold)
		meta_node_put(repo_objects(r), hold);
	repo_close(r);
	return rc < 0 ? cli_fail(rc) : 0;
}
