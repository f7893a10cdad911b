/* The metadata service as every client process finds it (the t9kfs
 * command, the SDK's libt9kfs.so): the state directory $T9KFS_HOME
 * (default ~/.t9kfs), its config file, the token, the author of commits,
 * and the embedded default server that a client starts on a unix socket
 * there when no T9KFS_SERVER is set (DESIGN "Embedded default").
 *
 *   char home[4096], server[4200], tok[512];
 *   meta_local_home(NULL, home, sizeof(home));
 *   meta_local_setting(home, "server", server, sizeof(server));  // env, then config
 *   ... no server: unix:HOME/meta.sock, embedded ...
 *   meta_local_server_ensure(home, "unix:HOME/meta.sock", true, NULL, &started);
 *   meta_local_token(home, tok, sizeof(tok));
 *   meta_client_new(server, tok, &c);
 *
 * Precedence of a setting: the caller's explicit value, then the
 * environment (T9KFS_*), then HOME/config.
 */
#ifndef T9K_META_LOCAL_H
#define T9K_META_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

/* The state directory: home if given and not empty, else $T9KFS_HOME,
 * else $HOME/.t9kfs. -ENAMETOOLONG (message set) when it does not fit. */
int meta_local_home(const char *home, char *out, size_t size);

/* Calls fn(arg, key, env, value) for each "key = value" line of
 * HOME/config, key one of server, store, cache, cache_group, author, log,
 * ui_listen and env its T9KFS_* variable. A missing file is fine; an unknown key
 * or a malformed line is T9K_EUSAGE naming file and line. A negative
 * return of fn stops the walk and is returned. */
typedef int (*meta_local_config_fn)(void *arg, const char *key, const char *env,
				    const char *value);
int meta_local_config_each(const char *home, meta_local_config_fn fn, void *arg);
/* The command's way: each setting of HOME/config becomes the default of
 * its environment variable (setenv without overwriting). */
int meta_local_config_load(const char *home);
/* One setting (a config key as above): its environment variable when set
 * and not empty, else the config file's value, else "" (0 either way);
 * < 0 for a config file that cannot be read. */
int meta_local_setting(const char *home, const char *key, char *out, size_t size);

/* The service's token: $T9KFS_TOKEN, else HOME/token, else "" (the
 * server then answers 401). */
int meta_local_token(const char *home, char *tok, size_t size);

/* The author of commits: $T9KFS_AUTHOR, else USER@HOST. */
void meta_local_author(char *out, size_t size);

/* The pid of the embedded server of home (HOME/server.pid) if it runs, else 0. */
int meta_local_server_pid(const char *home);

/* Makes sure the service at server answers: when it does not and
 * embedded is set, starts the embedded server of home (`EXE --home HOME
 * meta serve` with its database, store, socket and token under home;
 * exe NULL: this process's own binary, /proc/self/exe) and waits up to
 * 10 s for it. The embedded server also listens on the ui_listen setting
 * (default 127.0.0.1:0, a free loopback port; "off": not at all) for the
 * web console, and writes its addresses to HOME/server.addr. *started tells whether it did. A server that is not
 * embedded and does not answer is -ECONNREFUSED with a message. */
int meta_local_server_ensure(const char *home, const char *server, bool embedded, const char *exe,
			     bool *started);

#endif
