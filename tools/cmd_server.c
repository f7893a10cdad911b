/* "t9kfs server start|stop|status": the embedded default metadata server
 * under $T9KFS_HOME (unix socket meta.sock, RocksDB in db/, the file://
 * store in store/, pid in server.pid, log in server.log). */
#include "tools/cli.h"

#include "lib/err.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: t9kfs server start|stop|status\n"
	"\n"
	"Manages the local metadata server that t9kfs starts on first use when\n"
	"T9KFS_SERVER is not set: socket $T9KFS_HOME/meta.sock, database\n"
	"$T9KFS_HOME/db, store file://$T9KFS_HOME/store, log $T9KFS_HOME/server.log.\n"
	"status exits 0 when the server answers, 3 when it does not.\n";

int cmd_server(struct cli *cli, int argc, char **argv)
{
	bool started;
	int pid, rc;

	if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc == 2 ? stdout : stderr);
		return argc == 2 ? 0 : 2;
	}
	if (!cli->embedded && strcmp(argv[1], "status"))
		return cli_usage_error("T9KFS_SERVER is set (%s): start and stop that server where it runs",
				       cli->server);
	if (!strcmp(argv[1], "start")) {
		rc = cli_server_ensure(cli, &started);
		if (rc < 0)
			return cli_fail(rc);
		printf("%s at %s (pid %d)\n", started ? "started" : "already running", cli->server,
		       cli_server_pid(cli));
		return 0;
	}
	if (!strcmp(argv[1], "stop")) {
		pid = cli_server_pid(cli);
		if (!pid) {
			printf("not running\n");
			return 0;
		}
		if (kill(pid, SIGTERM) < 0)
			return cli_fail(t9k_err(-errno, "cannot stop pid %d: %s", pid, strerror(errno)));
		for (int i = 0; i < 200 && kill(pid, 0) == 0; i++)
			usleep(50000);
		if (kill(pid, 0) == 0)
			return cli_fail(t9k_err(-ETIMEDOUT, "server pid %d did not stop in 10 s", pid));
		printf("stopped (pid %d)\n", pid);
		return 0;
	}
	if (!strcmp(argv[1], "status")) {
		struct meta_client *c;

		rc = meta_client_new(cli->server, NULL, &c);
		if (rc == 0) {
			rc = meta_client_call(c, "GET", "/health", NULL, NULL);
			meta_client_free(c);
		}
		if (rc < 0) {
			printf("not running (%s)\n", cli->server);
			return 3;
		}
		pid = cli->embedded ? cli_server_pid(cli) : 0;
		if (pid)
			printf("running at %s (pid %d)\n", cli->server, pid);
		else
			printf("running at %s\n", cli->server);
		return 0;
	}
	return cli_usage_error("unknown command 'server %s' (start, stop or status)", argv[1]);
}
