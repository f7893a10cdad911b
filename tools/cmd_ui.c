/* "t9kfs ui": where the web console is (README "Web console"): the
 * service's TCP address plus /ui/, printed and, with --open, opened. For
 * the embedded default server that is its loopback listener, which it
 * writes to $T9KFS_HOME/server.addr once listening. */
#include "tools/cli.h"

#include "lib/err.h"

#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char usage[] =
	"usage: t9kfs ui [--open]\n"
	"\n"
	"Prints the address of the web console: http://HOST:PORT/ui/ of\n"
	"T9KFS_SERVER, or of the local server (started if needed), which listens\n"
	"for the console on loopback TCP (setting ui_listen, T9KFS_UI_LISTEN:\n"
	"default 127.0.0.1:0, a free port; off for none). Log in there with the\n"
	"token: $T9KFS_HOME/token, or the server's --token-file.\n"
	"\n"
	"  --open   also open it in a browser ($BROWSER, else xdg-open)\n";

/* The first TCP address of the local server's HOME/server.addr into out;
 * waits up to 3 s for the file (the server writes it once listening). */
static int local_addr(struct cli *cli, char *out, size_t size)
{
	char path[sizeof(cli->home) + 16], line[512];
	bool found = false, seen = false;

	snprintf(path, sizeof(path), "%s/server.addr", cli->home);
	for (int i = 0; i < 60 && !seen; i++) {
		FILE *f = fopen(path, "re");

		if (!f) {
			usleep(50000);
			continue;
		}
		seen = true;
		while (!found && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] && strncmp(line, "unix:", 5)) {
				snprintf(out, size, "%s", line);
				found = true;
			}
		}
		fclose(f);
	}
	if (found)
		return 0;
	return t9k_err(T9K_ENOTFOUND,
		       "the local server (pid %d) has no TCP address for the console: ui_listen is "
		       "off, or its address could not be bound (see %s/server.log), or an older t9kfs "
		       "started it; restart it with 't9kfs server stop' and run 't9kfs ui' again",
		       cli_server_pid(cli), cli->home);
}

/* http://ADDR/ui/, where a wildcard address becomes the loopback one. */
static void console_url(const char *addr, char *out, size_t size)
{
	if (!strncmp(addr, "0.0.0.0:", 8))
		snprintf(out, size, "http://127.0.0.1:%s/ui/", addr + 8);
	else if (!strncmp(addr, "[::]:", 5))
		snprintf(out, size, "http://[::1]:%s/ui/", addr + 5);
	else
		snprintf(out, size, "http://%s/ui/", addr);
}

static int open_url(const char *url)
{
	const char *browser = getenv("BROWSER");
	char *args[3] = { (char *)(browser && *browser ? browser : "xdg-open"), (char *)url, NULL };
	pid_t pid;
	int st, rc = posix_spawnp(&pid, args[0], NULL, NULL, args, environ);

	if (rc != 0)
		return t9k_err(-rc, "cannot open %s with %s: %s (set BROWSER)", url, args[0], strerror(rc));
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return t9k_err(-EIO, "%s %s failed", args[0], url);
	return 0;
}

int cmd_ui(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "open", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char addr[512], url[sizeof(cli->server) + 16];
	bool open = false, started;
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': open = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return cli_fail(cli_bad_option("ui", c, argv));
		}
	}
	if (optind != argc)
		return cli_usage_error("ui takes no arguments (see 't9kfs ui --help')");
	if (!cli->embedded) {
		size_t n = strlen(cli->server);

		if (strncmp(cli->server, "http://", 7) && strncmp(cli->server, "https://", 8))
			return cli_fail(t9k_err(T9K_EUSAGE,
						"T9KFS_SERVER is %s: the console needs the service on TCP "
						"(t9kfs meta serve --listen HOST:PORT)", cli->server));
		while (n && cli->server[n - 1] == '/')
			n--;
		snprintf(url, sizeof(url), "%.*s/ui/", (int)n, cli->server);
	} else {
		rc = cli_server_ensure(cli, &started);
		if (rc == 0)
			rc = local_addr(cli, addr, sizeof(addr));
		if (rc < 0)
			return cli_fail(rc);
		console_url(addr, url, sizeof(url));
	}
	printf("%s\n", url);
	fflush(stdout);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "log in with the token in %s/token (or the server's --token-file)\n",
			cli->home);
	if (open && (rc = open_url(url)) < 0)
		return cli_fail(rc);
	return 0;
}
