/* "t9kfs token": named tokens of the metadata service (README
 * "Permissions", meta/authz.h) over /api/v1/tokens: create (the secret
 * printed once), list (never a secret) and revoke. Needs an --admin
 * token (the token file's is one). Grants and durations are checked here
 * first, so a typo is a usage error before anything is sent. */
#include "tools/cli.h"

#include "lib/err.h"
#include "meta/authz.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: t9kfs token create NAME [--admin] [--repo PATTERN:PERM]... [--expires DURATION]\n"
	"       t9kfs token list [--json]\n"
	"       t9kfs token revoke NAME\n"
	"\n"
	"Named tokens of the metadata service (needs an --admin token, such as\n"
	"the server's token file). create prints the new token's secret once, on\n"
	"stdout; the service keeps only its SHA-256. Use it as T9KFS_TOKEN.\n"
	"\n"
	"  --admin              admin of every repository, and of tokens\n"
	"  --repo PATTERN:PERM  PERM (read, write or admin) on the repositories\n"
	"                       whose names match the glob PATTERN (team-*:write);\n"
	"                       repeatable, at most 16\n"
	"  --expires DURATION   the token stops working after 90s, 10m, 12h, 30d\n"
	"  --json               list as JSON\n"
	"\n"
	"read: resolve, log, diff, trees, files, chunk lookups, a cache group's\n"
	"members; write: stage, commit, branches, tags, refs, chunk records,\n"
	"cache heartbeats; admin: create/delete the repository, retention, gc.\n"
	"A cache group's name is matched by the same patterns.\n";

static int token_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin", no_argument, NULL, 'a' },
		{ "repo", required_argument, NULL, 'r' },
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *body = json_object(), *grants = json_array(), *j = NULL;
	struct meta_client *c;
	struct authz_grant g;
	int64_t ns;
	int o, rc;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (o) {
		case 'a':
			json_object_set_new(body, "admin", json_true());
			break;
		case 'r':
			if ((rc = authz_grant_parse(optarg, &g)) < 0)
				goto usage;
			json_array_append_new(grants, json_string(optarg));
			break;
		case 'e':
			if ((rc = authz_duration_parse(optarg, &ns)) < 0)
				goto usage;
			json_object_set_new(body, "expires", json_string(optarg));
			break;
		default:
			rc = cli_fail(cli_bad_option("token create", o, argv));
			goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = t9k_err(T9K_EUSAGE, "token create wants one NAME (see 't9kfs token --help')");
		goto fail;
	}
	if ((rc = meta_token_name_check(argv[optind])) < 0)
		goto usage;
	json_object_set_new(body, "name", json_string(argv[optind]));
	json_object_set(body, "grants", grants);
	if ((rc = cli_client(cli, &c)) < 0 || (rc = meta_client_call(c, "POST", "/tokens", body, &j)) < 0)
		goto fail;
	printf("%s\n", cli_js(j, "secret"));
	fprintf(stderr, "t9kfs: created token '%s'; its secret is shown only now\n", cli_js(j, "name"));
	rc = 0;
	goto out;
usage: {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", t9k_errmsg(rc));
		rc = t9k_err(T9K_EUSAGE, "%s", msg);
	}
fail:
	rc = cli_fail(rc);
out:
	json_decref(j);
	json_decref(body);
	json_decref(grants);
	return rc;
}

static int token_list(struct cli *cli, int argc, char **argv)
{
	struct meta_client *c;
	bool as_json = false;
	json_t *j = NULL, *a, *t;
	size_t i;
	int rc;

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--json"))
			as_json = true;
		else
			return cli_usage_error("token list: unknown argument '%s'", argv[k]);
	}
	if ((rc = cli_client(cli, &c)) < 0 || (rc = meta_client_call(c, "GET", "/tokens", NULL, &j)) < 0) {
		json_decref(j);
		return cli_fail(rc);
	}
	a = json_object_get(j, "tokens");
	if (as_json) {
		cli_print_json(a);
		json_decref(j);
		return 0;
	}
	printf("%-24s %-8s %-28s %s\n", "NAME", "STATE", "EXPIRES", "GRANTS");
	json_array_foreach(a, i, t) {
		json_t *g, *gr = json_object_get(t, "grants");
		int64_t exp = json_integer_value(json_object_get(t, "expires_ns"));
		char when[64] = "never";
		size_t k;

		if (exp)
			cli_format_time(exp, when, sizeof(when));
		printf("%-24s %-8s %-28s", cli_js(t, "name"),
		       json_is_true(json_object_get(t, "expired")) ? "expired" : "active", when);
		if (json_is_true(json_object_get(t, "admin")))
			printf(" --admin");
		json_array_foreach(gr, k, g)
			printf(" %s:%s", cli_js(g, "pattern"), cli_js(g, "perm"));
		printf("\n");
	}
	json_decref(j);
	return 0;
}

static int token_revoke(struct cli *cli, int argc, char **argv)
{
	struct meta_client *c;
	char path[128];
	json_t *j = NULL;
	int rc;

	if (argc != 2)
		return cli_usage_error("token revoke wants one NAME (see 't9kfs token --help')");
	if ((rc = meta_token_name_check(argv[1])) < 0)
		return cli_usage_error("%s", t9k_errmsg(rc));
	snprintf(path, sizeof(path), "/tokens/%s", argv[1]);
	if ((rc = cli_client(cli, &c)) < 0 || (rc = meta_client_call(c, "DELETE", path, NULL, &j)) < 0) {
		json_decref(j);
		return cli_fail(rc);
	}
	json_decref(j);
	fprintf(stderr, "t9kfs: revoked token '%s'\n", argv[1]);
	return 0;
}

int cmd_token(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || cli_help_asked(argc, argv, usage)) {
		if (argc < 2)
			fputs(usage, stderr);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "create"))
		return token_create(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return token_list(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "revoke"))
		return token_revoke(cli, argc - 1, argv + 1);
	return cli_usage_error("unknown command 'token %s' (want create, list or revoke)", argv[1]);
}
