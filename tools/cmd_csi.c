/* "t9kfs csi" (the Kubernetes CSI driver, csi/driver.h) and "t9kfs csi
 * mounter" (the node process that runs the driver's mount daemons,
 * csi/mounter.h). Both run in the foreground until SIGTERM or SIGINT;
 * stopping either leaves every mount serving. */
#include "tools/cli.h"

#include "csi/driver.h"
#include "csi/mounter.h"
#include "lib/err.h"
#include "lib/log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char csi_usage[] =
	"usage: t9kfs csi --endpoint unix:///PATH [--controller] [--node --node-id NODE\n"
	"                 [--state-dir DIR] [--mounter unix:///PATH]] [--workers N]\n"
	"                 [--check-interval MS]\n"
	"       t9kfs csi mounter [--listen unix:///PATH] [--ping]\n"
	"\n"
	"Runs the t9kfs CSI driver (csi.t9kfs.io) in the foreground: Identity, and the\n"
	"Controller and Node services (both unless one is named) on a gRPC unix socket.\n"
	"A volume is REPO@REF[:PATH]: a commit or tag mounts read-only, pinned to its\n"
	"commit; a branch mounts read-write, or read-only following its head. A PVC\n"
	"of a t9kfs StorageClass is a branch, a VolumeSnapshot a commit and a tag.\n"
	"\n"
	"  --endpoint unix:///PATH  the CSI socket (kubelet: /csi/csi.sock in the pod)\n"
	"  --controller             serve the Controller service (volumes, snapshots)\n"
	"  --node                   serve the Node service (mounts on this node)\n"
	"  --node-id NODE           this node's name (the topology key t9kfs.io/node)\n"
	"  --state-dir DIR          where staged and published volumes are recorded, so a\n"
	"                           restarted driver knows them (default $T9KFS_HOME/csi)\n"
	"  --mounter unix:///PATH   the node's mounter, 't9kfs csi mounter' (default\n"
	"                           unix://$T9KFS_HOME/csi/mounter.sock)\n"
	"  --workers N              threads for slow calls such as mounts (default 4)\n"
	"  --check-interval MS      how often mounts are checked; a dead one is mounted\n"
	"                           and bound into its targets again (default 1000)\n"
	"\n"
	"The metadata service is T9KFS_SERVER (token T9KFS_TOKEN or $T9KFS_HOME/token).\n"
	"Volume attributes: repo, ref, path, readOnly, cacheGroup and the 't9kfs\n"
	"mount -o' options; StorageClass parameters add fromRef, branchPrefix and\n"
	"onDelete (delete|retain|commit). See csi/deploy/README.md.\n";

static const char mounter_usage[] =
	"usage: t9kfs csi mounter [--listen unix:///PATH] [--ping]\n"
	"\n"
	"Runs the node's mounter in the foreground: the long-lived process that starts\n"
	"and stops the mount daemons of the CSI driver's volumes ('t9kfs mount' and\n"
	"'t9kfs umount' with this process's environment: T9KFS_HOME, T9KFS_SERVER,\n"
	"T9KFS_TOKEN, T9KFS_CACHE, store credentials), so they outlive the driver. It\n"
	"is the subreaper of those daemons. Stopping it leaves them running.\n"
	"\n"
	"  --listen unix:///PATH    its socket, mode 0600 (default\n"
	"                           unix://$T9KFS_HOME/csi/mounter.sock)\n"
	"  --ping                   exit 0 when a mounter answers at --listen\n";

static int mounter_cmd(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "ping", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char def[sizeof(cli->home) + 32];
	const char *listen = def;
	struct csi_mounter *m;
	bool ping = false;
	sigset_t set;
	int c, sig = 0, rc;

	snprintf(def, sizeof(def), "unix://%s/csi/mounter.sock", cli->home);
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'p': ping = true; break;
		case 'h': fputs(mounter_usage, stdout); return 0;
		default: fputs(mounter_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(mounter_usage, stderr);
		return 2;
	}
	if (ping) {
		rc = csi_mounter_ping(listen, 5);
		if (rc == 0)
			printf("a mounter answers at %s\n", listen);
		return rc < 0 ? cli_fail(rc) : 0;
	}
	if (!getenv("T9KFS_LOG"))
		t9k_log_threshold = T9K_LOG_INFO;
	if ((rc = cli_block_stop_signals(&set)) < 0)
		return cli_fail(rc);
	rc = csi_mounter_start(listen, &m);
	if (rc < 0)
		return cli_fail(rc);
	fprintf(stderr, "t9kfs: mounter listening on %s (pid %d)\n", listen, (int)getpid());
	fflush(stderr);
	while (sigwait(&set, &sig) != 0)
		;
	t9k_log(T9K_LOG_INFO, "mounter: stopping on %s; mounts keep running",
		sig == SIGINT ? "SIGINT" : "SIGTERM");
	csi_mounter_stop(m);
	return 0;
}

int cmd_csi(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "controller", no_argument, NULL, 'c' },
		{ "node", no_argument, NULL, 'n' },
		{ "node-id", required_argument, NULL, 'i' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "mounter", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "check-interval", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char state[sizeof(cli->home) + 8], mounter[sizeof(cli->home) + 32], tok[512];
	struct csi_driver_opts o = { .workers = 4, .check_ms = 1000 };
	struct csi_driver *d;
	long n;
	sigset_t set;
	int c, sig = 0, rc;

	if (argc > 1 && !strcmp(argv[1], "mounter"))
		return mounter_cmd(cli, argc - 1, argv + 1);
	snprintf(state, sizeof(state), "%s/csi", cli->home);
	snprintf(mounter, sizeof(mounter), "unix://%s/csi/mounter.sock", cli->home);
	o.state_dir = state;
	o.mounter = mounter;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': o.endpoint = optarg; break;
		case 'c': o.controller = true; break;
		case 'n': o.node = true; break;
		case 'i': o.node_id = optarg; break;
		case 's': o.state_dir = optarg; break;
		case 'm': o.mounter = optarg; break;
		case 'w':
			if ((rc = parse_int_opt("--workers", optarg, 1, 64, &n)) < 0)
				return cli_usage_error("%s", t9k_errmsg(rc));
			o.workers = (int)n;
			break;
		case 'k':
			if ((rc = parse_int_opt("--check-interval", optarg, 100, 600000, &n)) < 0)
				return cli_usage_error("%s", t9k_errmsg(rc));
			o.check_ms = (unsigned)n;
			break;
		case 'h': fputs(csi_usage, stdout); return 0;
		default: fputs(csi_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(csi_usage, stderr);
		return 2;
	}
	if (!o.endpoint)
		return cli_usage_error("--endpoint is required (see 't9kfs csi --help')");
	if (!o.controller && !o.node)
		o.controller = o.node = true;
	if (o.node && (!o.node_id || !*o.node_id))
		return cli_usage_error("--node-id is required for the node service");
	if (!getenv("T9KFS_LOG"))
		t9k_log_threshold = T9K_LOG_INFO;
	cli_token(cli, tok, sizeof(tok));
	o.server = cli->server;
	o.token = tok;
	if ((rc = cli_block_stop_signals(&set)) < 0)
		return cli_fail(rc);
	rc = csi_driver_start(&o, &d);
	memset(tok, 0, sizeof(tok));
	if (rc < 0)
		return cli_fail(rc);
	fprintf(stderr, "t9kfs: CSI driver listening on %s (pid %d)\n", o.endpoint, (int)getpid());
	fflush(stderr);
	while (sigwait(&set, &sig) != 0)
		;
	t9k_log(T9K_LOG_INFO, "csi: stopping on %s; volumes keep serving",
		sig == SIGINT ? "SIGINT" : "SIGTERM");
	csi_driver_stop(d);
	return 0;
}
