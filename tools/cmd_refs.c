/* "t9kfs repo|branch|tag": repositories and refs through the metadata
 * service. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char repo_usage[] =
	"usage: t9kfs repo create NAME [--store URL] [--min SIZE --avg SIZE --max SIZE]\n"
	"                              [--pack-size SIZE]\n"
	"       t9kfs repo list [--json]\n"
	"       t9kfs repo show NAME [--json]\n"
	"       t9kfs repo delete NAME\n"
	"\n"
	"A repository has its own branches, tags and object store (default: the\n"
	"server's store plus /NAME). A new repository has branch 'main' with one\n"
	"empty commit. delete removes the refs and staging, not the stored objects.\n"
	"show adds the retention rules, the last gc and the storage (t9kfs du).\n"
	"\n"
	"--pack-size SIZE  write the chunks of large files in packs of about SIZE\n"
	"                  bytes (one object per pack: fewer, larger requests); 0:\n"
	"                  no packs. At least --max (the largest chunk), at most 1G.\n"
	"                  Default: 16M on an s3:// store, 0 on others.\n";

int cmd_repo(struct cli *cli, int argc, char **argv)
{
	struct meta_client *c;
	char path[400];
	json_t *j = NULL, *body;
	int rc;

	if (argc < 2 || cli_help_asked(argc, argv, repo_usage)) {
		if (argc < 2)
			fputs(repo_usage, stderr);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "create")) {
		static const struct option opts[] = {
			{ "store", required_argument, NULL, 's' }, { "min", required_argument, NULL, 'm' },
			{ "avg", required_argument, NULL, 'a' }, { "max", required_argument, NULL, 'M' },
			{ "pack-size", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 },
		};
		const char *store = NULL;
		uint64_t sz[3] = { 0 }, pack = 0;
		bool has_pack = false;
		int o;

		optind = 0;
		while ((o = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
			int k = o == 'm' ? 0 : o == 'a' ? 1 : o == 'M' ? 2 : -1;

			if (o == 's')
				store = optarg;
			else if (o == 'p' && (parse_size(optarg, &pack) < 0 || pack > (1u << 30)))
				return cli_usage_error("invalid pack size '%s': want 0 (no packs) or a "
						       "size up to 1G", optarg);
			else if (o == 'p')
				has_pack = true;
			else if (k >= 0 && parse_size(optarg, &sz[k]) == 0)
				continue;
			else if (k >= 0)
				return cli_usage_error("invalid size '%s'", optarg);
			else
				return fputs(repo_usage, stderr), 2;
		}
		if (optind != argc - 2)
			return fputs(repo_usage, stderr), 2;
		rc = meta_repo_name_check(argv[optind + 1]);
		if (rc < 0)
			return cli_fail(rc);
		body = json_pack("{s:s}", "name", argv[optind + 1]);
		if (store)
			json_object_set_new(body, "store", json_string(store));
		if (sz[0] || sz[1] || sz[2])
			json_object_set_new(body, "chunk",
					    json_pack("{s:I,s:I,s:I}", "min", (json_int_t)(sz[0] ? sz[0] : 256 << 10),
						      "avg", (json_int_t)(sz[1] ? sz[1] : 1 << 20),
						      "max", (json_int_t)(sz[2] ? sz[2] : 4 << 20)));
		/* left out, the service picks by store URL: it knows the default store */
		if (has_pack)
			json_object_set_new(body, "pack_size", json_integer((json_int_t)pack));
		rc = cli_client(cli, &c);
		if (rc == 0)
			rc = meta_client_call(c, "POST", "/repos", body, &j);
		json_decref(body);
		if (rc == 0)
			printf("created repository '%s' (store %s, branch main)\n", argv[optind + 1],
			       json_string_value(json_object_get(j, "store")));
		json_decref(j);
		return rc < 0 ? cli_fail(rc) : 0;
	}
	if (!strcmp(argv[1], "list")) {
		bool js = argc == 3 && !strcmp(argv[2], "--json");
		size_t i;
		json_t *r;

		if (argc > 3 || (argc == 3 && !js))
			return fputs(repo_usage, stderr), 2;
		rc = cli_client(cli, &c);
		if (rc == 0)
			rc = meta_client_call(c, "GET", "/repos", NULL, &j);
		if (rc < 0)
			return json_decref(j), cli_fail(rc);
		if (js)
			cli_print_json(j);
		else
			json_array_foreach(json_object_get(j, "repos"), i, r) {
				char when[64];

				cli_format_time(json_integer_value(json_object_get(r, "created_ns")), when,
					    sizeof(when));
				printf("%-24s %s  %s\n", json_string_value(json_object_get(r, "name")),
				       when, json_string_value(json_object_get(r, "store")));
			}
		json_decref(j);
		return 0;
	}
	if (!strcmp(argv[1], "show")) {
		bool js = argc == 4 && !strcmp(argv[3], "--json");

		if (argc < 3 || argc > 4 || (argc == 4 && !js))
			return fputs(repo_usage, stderr), 2;
		return cli_repo_show(cli, argv[2], js);
	}
	if (!strcmp(argv[1], "delete")) {
		if (argc != 3)
			return fputs(repo_usage, stderr), 2;
		rc = cli_repo_path(argv[2], NULL, path, sizeof(path));
		if (rc == 0)
			rc = cli_client(cli, &c);
		if (rc == 0)
			rc = meta_client_call(c, "DELETE", path, NULL, NULL);
		if (rc == 0)
			printf("deleted repository '%s'\n", argv[2]);
		return rc < 0 ? cli_fail(rc) : 0;
	}
	return cli_usage_error("unknown command 'repo %s' (see 't9kfs repo --help')", argv[1]);
}

/* branch and tag share everything but names */
static int refs_cmd(struct cli *cli, int argc, char **argv, const char *kind, const char *usage)
{
	struct meta_client *c;
	struct spec sp;
	char path[800], suffix[400], esc[256];
	json_t *j = NULL;
	int rc;

	if (argc < 2 || cli_help_asked(argc, argv, usage)) {
		if (argc < 2)
			fputs(usage, stderr);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "create")) {
		const char *from = NULL;

		if (argc == 5 && !strcmp(argv[3], "--from"))
			from = argv[4];
		else if (argc != 3)
			return fputs(usage, stderr), 2;
		rc = spec_parse(argv[2], SPEC_REF, &sp);
		if (rc == 0)
			rc = meta_ref_name_check(sp.ref);
		if (rc == 0)
			rc = cli_repo_path(sp.repo, !strcmp(kind, "branch") ? "/branches" : "/tags", path,
					   sizeof(path));
		if (rc == 0)
			rc = cli_client(cli, &c);
		if (rc == 0) {
			json_t *body = json_pack("{s:s,s:s}", "name", sp.ref,
						 !strcmp(kind, "branch") ? "from" : "target",
						 from ? from : "main");

			rc = meta_client_call(c, "POST", path, body, &j);
			json_decref(body);
		}
		if (rc == 0)
			printf("created %s %s@%s at %.12s\n", kind, sp.repo, sp.ref,
			       json_string_value(json_object_get(j, "commit")));
		json_decref(j);
		return rc < 0 ? cli_fail(rc) : 0;
	}
	if (!strcmp(argv[1], "list")) {
		bool js = argc == 4 && !strcmp(argv[3], "--json");
		size_t i, plen = strlen(kind) + 1;
		json_t *r;

		if (argc != 3 && !js)
			return fputs(usage, stderr), 2;
		rc = spec_parse(argv[2], 0, &sp);
		snprintf(suffix, sizeof(suffix), "/refs?prefix=%s%%2F", kind);
		if (rc == 0)
			rc = cli_repo_path(sp.repo, suffix, path, sizeof(path));
		if (rc == 0)
			rc = cli_client(cli, &c);
		if (rc == 0)
			rc = meta_client_call(c, "GET", path, NULL, &j);
		if (rc < 0)
			return json_decref(j), cli_fail(rc);
		if (js)
			cli_print_json(j);
		else
			json_array_foreach(json_object_get(j, "refs"), i, r)
				printf("%-30s %.12s\n", json_string_value(json_object_get(r, "name")) + plen,
				       json_string_value(json_object_get(r, "commit")));
		json_decref(j);
		return 0;
	}
	if (!strcmp(argv[1], "delete")) {
		if (argc != 3)
			return fputs(usage, stderr), 2;
		rc = spec_parse(argv[2], SPEC_REF, &sp);
		if (rc == 0)
			rc = meta_client_escape(sp.ref, esc, sizeof(esc));
		snprintf(suffix, sizeof(suffix), "/%s/%s", !strcmp(kind, "branch") ? "branches" : "tags",
			 esc);
		if (rc == 0)
			rc = cli_repo_path(sp.repo, suffix, path, sizeof(path));
		if (rc == 0)
			rc = cli_client(cli, &c);
		if (rc == 0)
			rc = meta_client_call(c, "DELETE", path, NULL, NULL);
		if (rc == 0)
			printf("deleted %s %s@%s\n", kind, sp.repo, sp.ref);
		return rc < 0 ? cli_fail(rc) : 0;
	}
	return cli_usage_error("unknown command '%s %s' (see 't9kfs %s --help')", kind, argv[1], kind);
}

int cmd_branch(struct cli *cli, int argc, char **argv)
{
	return refs_cmd(cli, argc, argv, "branch",
			"usage: t9kfs branch create REPO@NEW [--from REF]   (default: main)\n"
			"       t9kfs branch list REPO [--json]\n"
			"       t9kfs branch delete REPO@NAME\n"
			"\n"
			"A branch is a movable name for a commit, created in O(1). Deleting a\n"
			"branch drops its staged changes too.\n");
}

int cmd_tag(struct cli *cli, int argc, char **argv)
{
	return refs_cmd(cli, argc, argv, "tag",
			"usage: t9kfs tag create REPO@NAME [--from REF]   (default: main)\n"
			"       t9kfs tag list REPO [--json]\n"
			"       t9kfs tag delete REPO@NAME\n"
			"\n"
			"A tag names one commit for good: it mounts read-only.\n");
}
