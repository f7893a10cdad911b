/* "t9kfs cache serve|stats" (the per-node cache daemon, cache/server.h)
 * and "t9kfs warmup" (loading a dataset's chunks into the cache ahead of
 * a job, cache/client.h). Also the cache address defaults the mount uses.
 */
#include "tools/cli.h"

#include "cache/client.h"
#include "cache/net.h"
#include "cache/server.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/db.h"
#include "meta/members.h"
#include "meta/objects.h"
#include "meta/tree.h"
#include "tools/members.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char serve_usage[] =
	"usage: t9kfs cache serve [--dir DIR] --capacity SIZE [--listen HOST:PORT]\n"
	"                         [--advertise HOST:PORT]\n"
	"                         [--group PEERS | --meta URL [--group-name NAME]\n"
	"                         [--member-ttl MS] [--node-name NAME]]\n"
	"                         [--socket PATH] [--metrics HOST:PORT]\n"
	"                         [--io auto|uring|pread] [--peer-timeout MS] [--peer-wait MS]\n"
	"                         [--peer-skip MS]\n"
	"                         [--max-conns N] [--stores PREFIXES] [--rdma-buffers N]\n"
	"\n"
	"Runs the node's chunk cache daemon in the foreground (SIGINT/SIGTERM stop\n"
	"it). Chunks are kept as files under DIR (default $T9KFS_HOME/cache) up to\n"
	"SIZE bytes (K, M, G, T suffixes), evicted least recently used first, and\n"
	"kept across restarts. Mounts on this node reach it on the unix socket\n"
	"(default DIR/cache.sock: 't9kfs mount --cache unix:DIR/cache.sock').\n"
	"\n"
	"  --listen HOST:PORT   TCP address for the other members of the group\n"
	"  --advertise HOST:PORT  this member's address in the group, when it is not\n"
	"                       --listen's (e.g. --listen 0.0.0.0:7070 --advertise\n"
	"                       10.0.0.7:7070)\n"
	"  --group PEERS        comma-separated HOST:PORT of every member, this one\n"
	"                       included (as given to --advertise or --listen); each\n"
	"                       chunk is kept by one owner chosen by rendezvous hashing\n"
	"  --meta URL           instead of --group: register with heartbeats in the\n"
	"                       metadata service at URL (unix:PATH or http://HOST:PORT,\n"
	"                       token from $T9KFS_TOKEN or $T9KFS_HOME/token) and take\n"
	"                       the group's live members from it; a member that stops\n"
	"                       beating leaves after --member-ttl, one that stops\n"
	"                       cleanly at once\n"
	"  --group-name NAME    the group to join with --meta (default: default)\n"
	"  --member-ttl MS      a heartbeat every MS/3, valid for MS (9000)\n"
	"  --node-name NAME     with --meta: the Kubernetes node this daemon runs on\n"
	"                       (e.g. spec.nodeName from the downward API), recorded\n"
	"                       with its membership for schedulers and operators\n"
	"                       (1-253 of a-z, 0-9, '-', '.'; default: none)\n"
	"  --metrics HOST:PORT  serve Prometheus text at http://HOST:PORT/metrics\n"
	"  --io MODE            disk I/O engine: io_uring, falling back to pread (auto)\n"
	"  --peer-timeout MS    a peer that cannot be connected to within MS (2000),\n"
	"  --peer-wait MS       or does not answer a request within MS (10000: it may\n"
	"                       be reading the chunk from a slow store), is skipped\n"
	"  --peer-skip MS       for MS before it is tried again (5000)\n"
	"  --max-conns N        concurrent client and peer connections (256)\n"
	"  --stores PREFIXES    open only stores whose URL starts with one of these\n"
	"                       (comma-separated, e.g. s3://datasets/); default: any\n"
	"  --rdma-buffers N     with an RDMA device here and at a peer, chunks up to\n"
	"                       4 MiB go to it by RDMA READ from N registered 4 MiB\n"
	"                       buffers (8; 0: TCP only); untested on real devices\n"
	"\n"
	"The TCP port has no authentication: listen on a private network only.\n"
	"s3:// credentials come from this daemon's environment or ~/.aws.\n";

static const char stats_usage[] =
	"usage: t9kfs cache stats [--cache ADDR | --group PEERS]\n"
	"\n"
	"Prints a cache daemon's counters, one 'name value' a line (the local\n"
	"daemon by default: $T9KFS_CACHE or unix:$T9KFS_HOME/cache/cache.sock;\n"
	"with --group, every member in turn, each after a '# HOST:PORT' line).\n"
	"PEERS is HOST:PORT,... or @NAME: the live members of a group registered\n"
	"in the metadata service; a member that named its node (cache serve\n"
	"--node-name) then also has a 'node NAME' line.\n";

static const char warmup_usage[] =
	"usage: t9kfs warmup REPO@REF [PATH...] [--cache ADDR | --group PEERS]\n"
	"                    [-j N] [--progress]\n"
	"\n"
	"Loads the chunks of the files under PATH (default: everything) of a\n"
	"commit into the cache: through the local daemon (--cache, default\n"
	"$T9KFS_CACHE or unix:$T9KFS_HOME/cache/cache.sock), or straight into the\n"
	"owners of a group (--group HOST:PORT,... or @NAME for the live members of\n"
	"a group registered in the metadata service). Chunks already cached are\n"
	"not fetched again.\n"
	"Prints chunks, bytes, MB/s and how many were cached already.\n"
	"\n"
	"  -j N        requests in flight (default 8)\n"
	"  --progress  show progress on stderr even when it is not a terminal\n";

/* The local daemon's address: $T9KFS_CACHE, else the default socket. */
static void default_cache_addr(struct cli *cli, char *out, size_t size)
{
	const char *env = getenv("T9KFS_CACHE");

	if (env && *env)
		snprintf(out, size, "%s", env);
	else
		snprintf(out, size, "unix:%s/cache/cache.sock", cli->home);
}

/* PEERS as given, or for @NAME the live members of cache group NAME in
 * the metadata service (cache serve --meta); *list is the caller's, and
 * so is *v when v is not NULL: the @NAME members with their nodes (NULL,
 * 0 for PEERS). */
static int group_arg(struct cli *cli, const char *arg, char **list, struct meta_member **v,
		     int *n)
{
	struct meta_client *mc;
	int rc;

	*list = NULL;
	if (v)
		*v = NULL, *n = 0;
	if (arg[0] != '@')
		return (*list = strdup(arg)) ? 0 : t9k_err(-ENOMEM, "out of memory");
	if ((rc = meta_cache_group_name_check(arg + 1)) < 0 || (rc = cli_client(cli, &mc)) < 0)
		return rc;
	return members_lookup(mc, arg + 1, list, v, n);
}

/* ---- serve ---- */

static struct cache_server *serving;

static int serve_set_group(void *arg, const char *list)
{
	return cache_server_set_group(arg, list);
}

/* --meta: joins the group, *list its members now (this daemon included). */
static int serve_join(struct cli *cli, const char *url, const char *name, const char *self,
		      const char *node, uint32_t ttl_ms, char **list, struct members_watch **w)
{
	struct meta_client *mc;
	int rc = snprintf(cli->server, sizeof(cli->server), "%s", url);

	if (rc < 0 || (size_t)rc >= sizeof(cli->server))
		return t9k_err(T9K_EUSAGE, "--meta URL is too long");
	cli->embedded = false;
	rc = cli_client_new(cli, &mc);
	if (rc == 0)
		rc = members_watch_new(mc, name, self, node, ttl_ms, list, w);
	if (rc == 0)
		t9k_log(T9K_LOG_INFO, "cache: joined group '%s' at %s: %s%s%s%s", name, url, *list,
			node ? " (this member on node " : "", node ? node : "", node ? ")" : "");
	return rc;
}

static void *signal_main(void *arg)
{
	sigset_t *set = arg;
	int sig;

	while (sigwait(set, &sig) != 0)
		;
	t9k_log(T9K_LOG_INFO, "cache: stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	cache_server_stop(serving);
	return NULL;
}

static int cache_serve_cmd(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "advertise", required_argument, NULL, 'A' },
		{ "group", required_argument, NULL, 'g' },
		{ "meta", required_argument, NULL, 'M' },
		{ "group-name", required_argument, NULL, 'N' },
		{ "member-ttl", required_argument, NULL, 'T' },
		{ "node-name", required_argument, NULL, 'o' },
		{ "socket", required_argument, NULL, 's' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "io", required_argument, NULL, 'i' },
		{ "peer-timeout", required_argument, NULL, 't' },
		{ "peer-skip", required_argument, NULL, 'k' },
		{ "peer-wait", required_argument, NULL, 'w' },
		{ "max-conns", required_argument, NULL, 'n' },
		{ "stores", required_argument, NULL, 'S' },
		{ "rdma-buffers", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cache_server_opts o;
	char dir[sizeof(cli->home) + 16];
	const char *meta = NULL, *group_name = "default", *node = NULL;
	struct members_watch *watch = NULL;
	char *members = NULL;
	long ttl = MEMBERS_WATCH_TTL_MS;
	bool have_cap = false;
	pthread_t sigth;
	sigset_t set;
	long n;
	int c, rc;

	cache_server_opts_init(&o);
	snprintf(dir, sizeof(dir), "%s/cache", cli->home);
	o.dir = dir;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o.dir = optarg; break;
		case 'c':
			if (parse_size(optarg, &o.capacity) < 0 || o.capacity == 0)
				return cli_usage_error("bad --capacity '%s' (want a size such as 512M or "
						       "20G)", optarg);
			have_cap = true;
			break;
		case 'l': o.listen = optarg; break;
		case 'A': o.advertise = optarg; break;
		case 'g': o.group = optarg; break;
		case 'M': meta = optarg; break;
		case 'N':
			if ((rc = meta_cache_group_name_check(optarg)) < 0)
				return cli_fail(rc);
			group_name = optarg;
			break;
		case 'T':
			if ((rc = parse_int_opt("--member-ttl", optarg, 1000, 600000, &ttl)) < 0)
				return cli_fail(rc);
			break;
		case 'o':
			if ((rc = meta_members_node_check(optarg)) < 0)
				return cli_fail(rc);
			node = optarg;
			break;
		case 's': o.socket = optarg; break;
		case 'S': o.stores = optarg; break;
		case 'm': o.metrics = optarg; break;
		case 'i':
			if (!strcmp(optarg, "auto"))
				o.io_mode = CACHE_IO_AUTO;
			else if (!strcmp(optarg, "uring") || !strcmp(optarg, "io_uring"))
				o.io_mode = CACHE_IO_URING;
			else if (!strcmp(optarg, "pread"))
				o.io_mode = CACHE_IO_PREAD;
			else
				return cli_usage_error("bad --io '%s' (want auto, uring or pread)", optarg);
			break;
		case 't':
			if ((rc = parse_int_opt("--peer-timeout", optarg, 10, 600000, &n)) < 0)
				return cli_fail(rc);
			o.peer_timeout_ms = (int)n;
			break;
		case 'w':
			if ((rc = parse_int_opt("--peer-wait", optarg, 10, 3600000, &n)) < 0)
				return cli_fail(rc);
			o.peer_wait_ms = (int)n;
			break;
		case 'k':
			if ((rc = parse_int_opt("--peer-skip", optarg, 0, 3600000, &n)) < 0)
				return cli_fail(rc);
			o.dead_ms = (int)n;
			break;
		case 'n':
			if ((rc = parse_int_opt("--max-conns", optarg, 1, 100000, &n)) < 0)
				return cli_fail(rc);
			o.max_conns = (int)n;
			break;
		case 'R':
			if ((rc = parse_int_opt("--rdma-buffers", optarg, 0, 4096, &n)) < 0)
				return cli_fail(rc);
			o.rdma_buffers = (int)n;
			break;
		case 'h': fputs(serve_usage, stdout); return 0;
		default: fputs(serve_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(serve_usage, stderr);
		return 2;
	}
	if (!have_cap)
		return cli_usage_error("cache serve needs --capacity SIZE (see 't9kfs cache serve --help')");
	if (o.listen && (rc = cache_net_check(o.listen)) < 0)
		return cli_fail(rc);
	if (o.listen && cache_net_is_unix(o.listen))
		return cli_usage_error("--listen wants HOST:PORT (the unix socket is --socket)");
	if (o.metrics && ((rc = cache_net_check(o.metrics)) < 0))
		return cli_fail(rc);
	if (meta && o.group)
		return cli_usage_error("--group and --meta exclude each other (a static member list, "
				       "or the live one of the metadata service)");
	if (node && o.group)
		return cli_usage_error("--node-name and --group exclude each other (the node is "
				       "recorded with the membership in the metadata service: use "
				       "--meta)");
	if (node && !meta)
		return cli_usage_error("--node-name needs --meta URL (the node is recorded with the "
				       "membership in the metadata service)");
	if ((meta || o.advertise) && !o.listen)
		return cli_usage_error("--meta and --advertise need --listen HOST:PORT: where this "
				       "member takes the other members' connections");
	if (o.advertise && (rc = cache_net_check(o.advertise)) < 0)
		return cli_fail(rc);
	if (meta && !o.advertise && (!strncmp(o.listen, "0.0.0.0:", 8) || !strncmp(o.listen, "[::]:", 5)))
		return cli_usage_error("--listen %s is no address the other members can reach: say "
				       "which one with --advertise HOST:PORT", o.listen);
	if (!getenv("T9KFS_LOG"))
		t9k_log_threshold = T9K_LOG_INFO;

	if ((rc = cli_block_stop_signals(&set)) < 0)
		return cli_fail(rc);
	if (meta && (rc = serve_join(cli, meta, group_name, o.advertise ? o.advertise : o.listen,
					node, (uint32_t)ttl, &members, &watch)) < 0)
		return cli_fail(rc);
	o.group = members ? members : o.group;
	rc = cache_server_new(&o, &serving);
	if (rc == 0 && watch)
		rc = members_watch_start(watch, serve_set_group, serving);
	if (rc < 0) {
		members_watch_stop(watch);
		free(members);
		cache_server_free(serving);
		serving = NULL;
		return cli_fail(rc);
	}
	fprintf(stderr, "t9kfs: cache daemon ready (pid %d)\n", (int)getpid());
	fflush(stderr);
	rc = pthread_create(&sigth, NULL, signal_main, &set);
	if (rc) {
		members_watch_stop(watch);
		free(members);
		cache_server_free(serving);
		return cli_fail(t9k_err(-rc, "cannot start a thread: %s", strerror(rc)));
	}
	rc = cache_server_run(serving);
	pthread_kill(sigth, SIGTERM); /* when run ended on its own */
	pthread_join(sigth, NULL);
	members_watch_stop(watch); /* leaves the group before the port closes */
	free(members);
	cache_server_free(serving);
	serving = NULL;
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- stats ---- */

static int cache_stats_cmd(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cache", required_argument, NULL, 'c' },
		{ "group", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cache_client_opts co = { .store_url = "none", .timeout_ms = 3000 };
	struct cache_client *cc = NULL;
	struct meta_member *nodes = NULL; /* @NAME: the members with their nodes */
	char addr[sizeof(cli->home) + 64], **members = NULL, *glist = NULL;
	const char *group = NULL, *local = NULL;
	int c, rc = 0, failed = 0, n = 1, nn = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': local = optarg; break;
		case 'g': group = optarg; break;
		case 'h': fputs(stats_usage, stdout); return 0;
		default: fputs(stats_usage, stderr); return 2;
		}
	}
	if (optind != argc || (local && group)) {
		fputs(stats_usage, stderr);
		return 2;
	}
	if (!local && !group) {
		default_cache_addr(cli, addr, sizeof(addr));
		local = addr;
	}
	if (group && (rc = group_arg(cli, group, &glist, &nodes, &nn)) < 0)
		return cli_fail(rc);
	co.local = local;
	co.group = glist;
	rc = cache_client_new(&co, &cc);
	if (rc == 0 && group)
		rc = cache_net_list(glist, &members, &n);
	free(glist);
	if (rc < 0) {
		cache_client_free(cc);
		free(nodes);
		return cli_fail(rc);
	}
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < n; i++) {
		struct buf t = BUF_INIT;

		rc = cache_client_stats(cc, i, &t);
		if (members)
			printf("# %s\n", members[i]);
		for (int k = 0; members && k < nn; k++)
			if (nodes[k].node[0] && !strcmp(nodes[k].addr, members[i]))
				printf("node %s\n", nodes[k].node);
		if (rc < 0) {
			fprintf(stderr, "t9kfs: %s\n", t9k_errmsg(rc));
			failed++;
		} else {
			fputs((char *)t.data, stdout);
		}
		buf_release(&t);
	}
	cache_net_list_free(members);
	cache_client_free(cc);
	free(nodes);
	return failed ? 1 : 0;
}

/* ---- warmup ----
 *
 * The tree walk (this thread) feeds chunk ids through a bounded queue to
 * -j workers, each sending batches to the cache, so memory stays fixed
 * whatever the size of the dataset. A chunk shared by several files is
 * asked for once per file; the later asks are cache hits.
 */

#define WARM_BATCH 16
#define WARM_QUEUE 4096

struct warm_job {
	struct cache_client *cc;
	pthread_mutex_t lock;
	pthread_cond_t space, items; /* the queue has room / has items or ended */
	struct proto_item q[WARM_QUEUE];
	size_t head, count;          /* under lock */
	bool eof;                    /* under lock: the walk is over */
	uint64_t queued, queued_bytes; /* the walker's */
	struct progress *pr;
	atomic_ullong done, bytes, already, failed;
	atomic_int last_err;
};

static void warm_progress(struct warm_job *w)
{
	/* the total is known once the walk is over */
	progress_update(w->pr, atomic_load(&w->bytes), w->eof ? w->queued_bytes : 0,
			atomic_load(&w->done));
}

/* Queues chunk mc with its location: the daemon that loads it fetches it
 * from its own object or from its pack range. */
static int add_item(struct warm_job *w, const struct manifest_chunk *mc)
{
	struct proto_item it;
	int rc = cli_cache_item(mc, &it);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&w->lock);
	while (w->count == WARM_QUEUE)
		pthread_cond_wait(&w->space, &w->lock);
	w->q[(w->head + w->count) % WARM_QUEUE] = it;
	w->count++;
	pthread_cond_signal(&w->items);
	pthread_mutex_unlock(&w->lock);
	w->queued++;
	w->queued_bytes += mc->len;
	warm_progress(w);
	return 0;
}

/* Queues the chunks of a stored file (payload 0 or 2). */
static int add_file(struct warm_job *w, struct repo *r, const struct tree_entry *e)
{
	struct manifest m = { 0 };
	int rc;

	if (e->is_inline || e->size == 0)
		return 0;
	rc = meta_manifest_get(repo_objects(r), e, &m);
	for (uint32_t i = 0; rc == 0 && i < m.nchunks; i++)
		rc = add_item(w, &m.chunks[i]);
	manifest_release(&m);
	return rc;
}

static int add_tree(struct warm_job *w, struct repo *r, const struct oid *tree)
{
	struct tree_iter *it;
	struct tree_entry e;
	int rc = tree_iter_new(repo_objects(r), tree, NULL, 0, &it);

	while (rc == 0 && (rc = tree_iter_next(it, &e)) == 1) {
		struct oid id = e.id;

		if (S_ISDIR(e.mode))
			rc = add_tree(w, r, &id);
		else if (S_ISREG(e.mode))
			rc = add_file(w, r, &e);
		else
			rc = 0;
	}
	tree_iter_free(it);
	return rc;
}

static void *warm_main(void *arg)
{
	struct warm_job *w = arg;

	for (;;) {
		struct proto_item batch[WARM_BATCH];
		int32_t st[WARM_BATCH];
		uint8_t src[WARM_BATCH];
		size_t k = 0;

		pthread_mutex_lock(&w->lock);
		while (w->count == 0 && !w->eof)
			pthread_cond_wait(&w->items, &w->lock);
		while (k < WARM_BATCH && w->count > 0) {
			batch[k++] = w->q[w->head];
			w->head = (w->head + 1) % WARM_QUEUE;
			w->count--;
		}
		pthread_cond_broadcast(&w->space);
		pthread_mutex_unlock(&w->lock);
		if (k == 0)
			break; /* the walk is over and the queue empty */
		cache_client_warm(w->cc, batch, (uint32_t)k, st, src); /* per-chunk statuses say it */
		for (size_t j = 0; j < k; j++) {
			if (st[j] < 0) {
				atomic_fetch_add(&w->failed, 1);
				atomic_store(&w->last_err, st[j]);
				continue;
			}
			atomic_fetch_add(&w->done, 1);
			atomic_fetch_add(&w->bytes, batch[j].len);
			if (src[j] == PROTO_SRC_LOCAL)
				atomic_fetch_add(&w->already, 1);
		}
	}
	return NULL;
}

/* Walks every PATH (argv[first..argc), or the root) of commit. */
static int warm_walk(struct warm_job *w, struct repo *r, const struct oid *commit, int first,
		     int argc, char **argv)
{
	int rc = 0;

	for (int i = first; i < argc || i == first; i++) {
		const char *path = i < argc ? argv[i] : "";
		struct meta_node *hold = NULL;
		struct tree_entry e;
		struct spec ps;
		char full[4200];

		snprintf(full, sizeof(full), "x:%s", path);
		memset(&ps, 0, sizeof(ps));
		if (strspn(path, "/") != strlen(path)) /* not the root */
			rc = spec_parse(full, SPEC_PATH, &ps); /* normalises the path */
		if (rc == 0)
			rc = repo_lookup(r, commit, ps.path, &e, &hold);
		if (rc == 0) {
			struct oid id = e.id;

			rc = S_ISDIR(e.mode) ? add_tree(w, r, &id) : S_ISREG(e.mode) ? add_file(w, r, &e) : 0;
		}
		if (hold)
			meta_node_put(repo_objects(r), hold);
		if (rc < 0 || i >= argc)
			break;
	}
	return rc;
}

int cmd_warmup(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cache", required_argument, NULL, 'c' },
		{ "group", required_argument, NULL, 'g' },
		{ "progress", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct warm_job *w = calloc(1, sizeof(*w));
	struct cache_client_opts co = { .timeout_ms = 30000 };
	char addr[sizeof(cli->home) + 64], a[32], *glist = NULL;
	const char *group = NULL, *local = NULL;
	pthread_t th[64];
	struct repo *r = NULL;
	struct progress pr;
	struct oid commit;
	struct spec sp;
	bool force_progress = false;
	long jobs = 8;
	int c, rc = 0, nth = 0;
	double t0, secs;

	if (!w)
		return cli_fail(t9k_err(-ENOMEM, "out of memory"));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->space, NULL);
	pthread_cond_init(&w->items, NULL);
	w->pr = &pr;
	optind = 0;
	while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': local = optarg; break;
		case 'g': group = optarg; break;
		case 'p': force_progress = true; break;
		case 'j':
			rc = parse_int_opt("-j", optarg, 1, 64, &jobs);
			break;
		case 'h': fputs(warmup_usage, stdout); goto out;
		default: fputs(warmup_usage, stderr); rc = T9K_EUSAGE; goto out_usage;
		}
		if (rc < 0)
			goto out;
	}
	if (optind >= argc || (local && group)) {
		fputs(warmup_usage, stderr);
		rc = T9K_EUSAGE;
		goto out_usage;
	}
	if (!local && !group) {
		default_cache_addr(cli, addr, sizeof(addr));
		local = addr;
	}
	rc = spec_parse(argv[optind], 0, &sp);
	if (rc == 0 && sp.has_path && sp.path[0])
		rc = t9k_err(T9K_EUSAGE, "give paths after the spec: t9kfs warmup REPO@REF PATH...");
	if (rc == 0)
		rc = cli_repo(cli, &sp, &r);
	if (rc == 0)
		rc = repo_resolve(r, sp.has_ref ? sp.ref : "main", &commit);
	if (rc == 0 && group)
		rc = group_arg(cli, group, &glist, NULL, NULL);
	if (rc < 0)
		goto out;
	co.local = local;
	co.group = glist;
	co.store_url = store_url(repo_store(r));
	rc = cache_client_new(&co, &w->cc);
	if (rc < 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	progress_init(&pr, "warmup");
	if (force_progress)
		pr.on = true;
	t0 = now_sec();
	for (; nth < jobs; nth++) {
		int err = pthread_create(&th[nth], NULL, warm_main, w);

		if (err) {
			rc = t9k_err(-err, "cannot start a thread: %s", strerror(err));
			break;
		}
	}
	if (nth > 0)
		rc = warm_walk(w, r, &commit, optind + 1, argc, argv);
	pthread_mutex_lock(&w->lock);
	w->eof = true;
	if (rc < 0)
		w->count = 0; /* the walk failed: stop */
	pthread_cond_broadcast(&w->items);
	pthread_mutex_unlock(&w->lock);
	while (rc == 0 && atomic_load(&w->done) + atomic_load(&w->failed) < w->queued) {
		warm_progress(w);
		usleep(50000);
	}
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (rc < 0)
		goto out;
	pr.last = 0; /* the final figures, however short the run */
	warm_progress(w);
	if (force_progress && !isatty(STDERR_FILENO))
		fputc('\n', stderr);
	else
		progress_done(&pr);
	secs = now_sec() - t0;
	printf("warmed %llu chunks, %s in %.2f s (%.0f MB/s); %llu were cached already",
	       (unsigned long long)atomic_load(&w->done), format_size(atomic_load(&w->bytes), a, sizeof(a)),
	       secs, (double)atomic_load(&w->bytes) / (secs > 1e-6 ? secs : 1e-6) / 1e6,
	       (unsigned long long)atomic_load(&w->already));
	printf("\n");
	if (atomic_load(&w->failed)) {
		int e = atomic_load(&w->last_err);

		rc = t9k_err(e ? e : -EIO, "%llu chunks could not be loaded: %s",
			     (unsigned long long)atomic_load(&w->failed), t9k_strerror(e ? e : -EIO));
	}
out:
	if (rc < 0)
		cli_fail(rc);
out_usage:
	cache_client_free(w->cc);
	free(glist);
	repo_close(r);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->space);
	pthread_cond_destroy(&w->items);
	free(w);
	return rc == T9K_EUSAGE ? 2 : rc < 0 ? 1 : 0;
}

static const struct cli_cmd cache_cmds[] = {
	{ "serve", cache_serve_cmd, "run the node's chunk cache daemon in the foreground" },
	{ "stats", cache_stats_cmd, "print a cache daemon's counters" },
	{ NULL, NULL, NULL },
};

int cmd_cache(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "cache", cache_cmds, argc - 1, argv + 1);
}
