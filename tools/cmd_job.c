/* "t9kfs job": a training command on Kubernetes with its data declared.
 * submit resolves every input ref through the metadata service and pins
 * it to its commit id, renders a batch/v1 Job or a Kubeflow PyTorchJob
 * (plus a Volcano PodGroup for a gang-scheduled Job) whose pods mount the
 * inputs and the output branch as inline volumes of the t9kfs CSI driver
 * and run the command through 't9kfs run --in-pod', and pipes the YAML to
 * 'kubectl apply -f -' (or prints it: --dry-run). list, get, logs and
 * delete run kubectl on the objects labelled t9kfs.io/job.
 *
 * Scheduling stays Kubernetes': we only write what the schedulers read
 * (schedulerName, PodGroup or runPolicy.schedulingPolicy, Kueue's queue
 * label and suspend, a preferred node affinity for the cache group's
 * nodes). Nothing is printed or applied until every input resolved. */
#include "tools/cli.h"
#include "tools/members.h"
#include "tools/yaml.h"

#include "cache/net.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/util.h"
#include "meta/db.h"
#include "meta/members.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define JOB_NAME_MAX 50 /* NAME-worker-NNN and the job's Services stay DNS labels (63) */
#define JOB_LABEL "t9kfs.io/job"
#define JOB_IMAGE "ghcr.io/t9kfs/t9kfs:0.1.0" /* csi/deploy's tag: warmup init containers */
#define JOB_SERVER "http://t9kfs-meta.t9kfs.svc:7000" /* csi/deploy's metadata service */
#define JOB_SECRET "t9kfs-credentials"   /* csi/deploy/credentials-secret.yaml */
#define CSI_DRIVER "csi.t9kfs.io"

static const char job_usage[] =
	"usage: t9kfs job submit --image IMG [options] -- CMD [ARGS...]\n"
	"       t9kfs job list [-n|--namespace NS | -A]\n"
	"       t9kfs job get NAME [-n|--namespace NS]\n"
	"       t9kfs job logs NAME [-f] [-n|--namespace NS]\n"
	"       t9kfs job delete NAME [-n|--namespace NS]\n"
	"\n"
	"Runs a training command on Kubernetes with its data declared, as\n"
	"'t9kfs run' does on one machine: the inputs pinned to commit ids and\n"
	"mounted read-only by the t9kfs CSI driver, the output branch mounted\n"
	"read-write and committed with the run's record when the command ends.\n"
	"submit renders a batch/v1 Job or a Kubeflow PyTorchJob and applies it\n"
	"with kubectl; list, get, logs and delete run kubectl on the objects\n"
	"labelled t9kfs.io/job=NAME. kubectl must be on the PATH and point at\n"
	"the cluster. Run 't9kfs job submit --help' for the options.\n";

static const char submit_usage[] =
	"usage: t9kfs job submit --image IMG [--name NAME] [-n|--namespace NS]\n"
	"                        [--workers N] [--gpus N] [--cpu C] [--memory M]\n"
	"                        [--data REPO@REF[:PATH]=DIR]... [--output REPO@BRANCH=DIR]\n"
	"                        [--param K=V]... [-e K=V]... [--kind job|pytorchjob]\n"
	"                        [--scheduler default|volcano|kueue] [--queue Q]\n"
	"                        [--priority-class P] [--cache-group G] [--warmup]\n"
	"                        [--dry-run] -- CMD [ARGS...]\n"
	"\n"
	"Renders a training job and applies it with 'kubectl apply -f -'\n"
	"(--dry-run: prints the YAML instead, documents separated by ---). Each\n"
	"--data ref is resolved through the metadata service now and pinned to\n"
	"its commit id: every pod reads exactly that commit, mounted read-only at\n"
	"DIR by the t9kfs CSI driver (csi.t9kfs.io, an inline volume). --output\n"
	"is a branch, mounted read-write at DIR. The pods run\n"
	"  t9kfs run --in-pod --data REPO@COMMIT[:PATH]=DIR ... --output ...\n"
	"            --param K=V ... -- CMD [ARGS...]\n"
	"which commits the output branch with the run's record (inputs, params,\n"
	"command, exit status, metrics) when CMD ends, as a local 't9kfs run'\n"
	"does (the pod of rank 0 only): IMG must have t9kfs on its PATH.\n"
	"\n"
	"  --image IMG          the pods' image (with t9kfs in it)\n"
	"  --name NAME          the job's name, 1-50 of a-z, 0-9 and '-', a letter\n"
	"                       first (default t9kfs-DATE-TIME-XXXX); every object\n"
	"                       and pod gets the label t9kfs.io/job=NAME\n"
	"  -n, --namespace NS   its namespace (default: kubectl's current one)\n"
	"  --workers N          pods (default 1); with more, a PyTorchJob\n"
	"  --gpus N             nvidia.com/gpu per pod (a limit)\n"
	"  --cpu C, --memory M  requests and limits per pod (quantities: 4, 500m, 16Gi)\n"
	"  --data SPEC=DIR      an input at the absolute path DIR (repeatable)\n"
	"  --output SPEC=DIR    the output branch at the absolute path DIR\n"
	"  --param K=V          a parameter recorded with the run (repeatable)\n"
	"  -e K=V               an environment variable of the pods (repeatable);\n"
	"                       -e T9KFS_SERVER=URL: the metadata service the pods\n"
	"                       use (default " JOB_SERVER ")\n"
	"  --kind job           a batch/v1 Job: one pod (the default for one worker)\n"
	"  --kind pytorchjob    a Kubeflow PyTorchJob (kubeflow.org/v1): a Master\n"
	"                       and N-1 Worker pods (the default for more)\n"
	"  --scheduler S        default; volcano: gang scheduling, all pods or none\n"
	"                       (schedulerName volcano and a PodGroup of minMember =\n"
	"                       every pod; for a PyTorchJob its schedulingPolicy, from\n"
	"                       which the training operator makes the PodGroup); kueue:\n"
	"                       the job waits suspended in Kueue's LocalQueue --queue\n"
	"  --queue Q            the Volcano queue, or the Kueue LocalQueue (required)\n"
	"  --priority-class P   the pods' priorityClassName\n"
	"  --cache-group G      read the inputs through cache group G: @NAME (the\n"
	"                       members the metadata service lists; the pods then\n"
	"                       prefer the nodes those members run on) or HOST:PORT,...\n"
	"  --warmup             an init container per input loads it into the cache\n"
	"                       group before CMD starts (t9kfs warmup; --cache-group)\n"
	"  --dry-run            print the YAML; apply nothing\n"
	"\n"
	"The pods find the token in the Secret " JOB_SECRET " of their namespace\n"
	"(key token; with --warmup also aws-access-key-id and aws-secret-access-key\n"
	"when the store is S3), as csi/deploy/credentials-secret.yaml makes it in\n"
	"namespace t9kfs: copy it to the job's namespace.\n";

static const char list_usage[] =
	"usage: t9kfs job list [-n|--namespace NS | -A]\n"
	"\n"
	"Lists the Jobs and PyTorchJobs that 't9kfs job submit' made (kubectl get\n"
	"-l t9kfs.io/job), in namespace NS (default: kubectl's current one) or in\n"
	"all namespaces (-A).\n";
static const char get_usage[] =
	"usage: t9kfs job get NAME [-n|--namespace NS]\n"
	"\n"
	"Shows job NAME: its Job or PyTorchJob, PodGroup and pods (kubectl get\n"
	"-l t9kfs.io/job=NAME -o wide).\n";
static const char logs_usage[] =
	"usage: t9kfs job logs NAME [-f] [-n|--namespace NS]\n"
	"\n"
	"Prints the logs of every container of job NAME's pods, each line prefixed\n"
	"with its pod and container (kubectl logs -l t9kfs.io/job=NAME); -f follows\n"
	"them.\n";
static const char delete_usage[] =
	"usage: t9kfs job delete NAME [-n|--namespace NS]\n"
	"\n"
	"Deletes job NAME: its Job or PyTorchJob (and so its pods) and PodGroup\n"
	"(kubectl delete -l t9kfs.io/job=NAME). Its commits stay.\n";

enum job_kind { KIND_AUTO, KIND_JOB, KIND_PYTORCH };
enum job_sched { SCHED_DEFAULT, SCHED_VOLCANO, SCHED_KUEUE };

/* One mount: an input pinned to a commit, or the output branch. */
struct job_mount {
	struct spec sp;
	char commit[65];
	char dir[4097];
};

struct job {
	const char *image, *ns, *cpu, *memory, *queue, *priority, *group;
	char name[JOB_NAME_MAX + 1];
	long workers, gpus;
	enum job_kind kind;
	enum job_sched sched;
	bool warmup, dry_run, has_output;
	struct job_mount *in; /* nin of them */
	int nin;
	struct job_mount out;
	char **params, **env, **cmd; /* point into argv */
	int nparams, nenv, ncmd;
	const char *server; /* T9KFS_SERVER in the pods */
	char **nodes;       /* the cache group's Kubernetes nodes, sorted, unique */
	int nnodes;
	bool oom; /* a JSON allocation failed while rendering */
};

static void job_release(struct job *j)
{
	free(j->in);
	free(j->params);
	free(j->env);
	for (int i = 0; i < j->nnodes; i++)
		free(j->nodes[i]);
	free(j->nodes);
}

/* ---- checks of the user's words ---- */

/* A DNS-1123 label of at most max characters (namespaces, queues). */
static bool dns_label(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* A job's name: a DNS-1035 label (a letter first), as the training
 * operator wants of a PyTorchJob, short enough for NAME-worker-N. */
static bool job_name_ok(const char *s)
{
	return s[0] >= 'a' && s[0] <= 'z' && dns_label(s, JOB_NAME_MAX);
}

/* A Kubernetes quantity as users write them: 4, 0.5, 500m, 16Gi, 1e3. */
static bool quantity_ok(const char *s)
{
	static const char *const suffixes[] = { "",   "m",  "k",  "M",  "G",  "T",  "P", "E",
						"Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
	size_t n = strspn(s, "0123456789"), f = 0;

	if (s[n] == '.')
		f = strspn(s + n + 1, "0123456789"), n += 1 + f;
	if (n == 0 || (n == 1 && s[0] == '.') || (s[0] == '.' && f == 0))
		return false;
	if (s[n] == 'e' && s[n + 1] && strspn(s + n + 1, "0123456789") == strlen(s + n + 1))
		return true;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (!strcmp(s + n, suffixes[i]))
			return true;
	return false;
}

/* An environment variable name Kubernetes takes (C_IDENTIFIER-ish: it
 * allows '-' and '.' too, not a leading digit). */
static bool env_name_ok(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", s[i]) ||
		    !s[i])
			return false;
	return true;
}

/* DIR: absolute, no '.' or '..' component, not '/', normalised into out
 * (single slashes, no trailing one). */
static int dir_parse(const char *opt, const char *arg, const char *dir, char *out, size_t size)
{
	size_t o = 0;
	const char *p = dir;

	if (dir[0] != '/')
		return t9k_err(T9K_EUSAGE, "%s %s: DIR '%s' is not an absolute path", opt, arg, dir);
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0)
			break;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return t9k_err(T9K_EUSAGE, "%s %s: DIR '%s' has a '.' or '..' component", opt,
				       arg, dir);
		if (o + 1 + n >= size)
			return t9k_err(T9K_EUSAGE, "%s %s: DIR is too long", opt, arg);
		out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
	if (o == 0)
		return t9k_err(T9K_EUSAGE, "%s %s: DIR may not be '/'", opt, arg);
	return 0;
}

/* REPO[@REF][:PATH]=DIR (REF default main), split at the first "=/" as
 * 't9kfs run' does, so the pods' run reads what we wrote. */
static int mount_parse(const char *opt, const char *arg, struct job_mount *m)
{
	const char *eq = strstr(arg, "=/");
	char left[sizeof(m->sp.repo) + sizeof(m->sp.ref) + sizeof(m->sp.path) + 4];
	int rc;

	memset(m, 0, sizeof(*m));
	if (!eq && strchr(arg, '=') && strchr(arg, '=') != arg)
		return t9k_err(T9K_EUSAGE, "%s %s: DIR '%s' is not an absolute path", opt, arg,
			       strrchr(arg, '=') + 1);
	if (!eq || eq == arg)
		return t9k_err(T9K_EUSAGE, "%s %s: want REPO@REF[:PATH]=DIR", opt, arg);
	if ((size_t)(eq - arg) >= sizeof(left))
		return t9k_err(T9K_EUSAGE, "%s: '%s' is too long", opt, arg);
	memcpy(left, arg, (size_t)(eq - arg));
	left[eq - arg] = '\0';
	if ((rc = spec_parse(left, 0, &m->sp)) < 0)
		return t9k_err_wrap(rc, "%s", opt);
	if (!m->sp.has_ref)
		snprintf(m->sp.ref, sizeof(m->sp.ref), "%s", REPO_DEFAULT_BRANCH);
	return dir_parse(opt, arg, eq + 1, m->dir, sizeof(m->dir));
}

/* K=V with a non-empty K; *klen is K's length. */
static int kv_check(const char *opt, const char *arg, size_t *klen)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return t9k_err(T9K_EUSAGE, "%s '%s': want KEY=VALUE", opt, arg);
	*klen = (size_t)(eq - arg);
	return 0;
}

static void default_name(char *out, size_t size)
{
	unsigned char r[2] = { 0 };
	time_t now = time(NULL);
	struct tm tm;
	char when[32];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		r[0] = (unsigned char)getpid();
		r[1] = (unsigned char)(getpid() >> 8);
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", &tm);
	snprintf(out, size, "t9kfs-%s-%02x%02x", when, r[0], r[1]);
}

/* ---- the metadata service ---- */

/* Pins m to the commit its ref resolves to; *branch: whether it is one. */
static int mount_resolve(struct cli *cli, const char *opt, struct job_mount *m, bool *branch)
{
	char esc[1024], suffix[1100];
	json_t *reply = NULL;
	const char *id;
	int rc = meta_client_escape(m->sp.ref, esc, sizeof(esc));

	if (rc == 0) {
		snprintf(suffix, sizeof(suffix), "/resolve?ref=%s", esc);
		rc = cli_repo_call(cli, m->sp.repo, "GET", suffix, NULL, &reply);
	}
	if (rc < 0) {
		json_decref(reply);
		return t9k_err_wrap(rc, "%s %s@%s", opt, m->sp.repo, m->sp.ref);
	}
	id = json_string_value(json_object_get(reply, "commit"));
	if (!id || strlen(id) != 64) {
		json_decref(reply);
		return t9k_err(-EPROTO, "%s %s@%s: the metadata service answered no commit id", opt,
			       m->sp.repo, m->sp.ref);
	}
	memcpy(m->commit, id, 65);
	*branch = json_is_true(json_object_get(reply, "branch"));
	json_decref(reply);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The Kubernetes nodes of cache group @NAME's live members (none is an
 * error, as for a mount of the group; members without a node are left
 * out, with a note when that leaves none). */
static int group_nodes(struct cli *cli, struct job *j)
{
	struct meta_member *v = NULL;
	struct meta_client *c;
	char *list = NULL;
	int n = 0, rc;

	if ((rc = meta_cache_group_name_check(j->group + 1)) < 0)
		return t9k_err_wrap(T9K_EUSAGE, "--cache-group %s", j->group);
	if ((rc = cli_client(cli, &c)) < 0)
		return rc;
	rc = members_lookup(c, j->group + 1, &list, &v, &n);
	free(list);
	if (rc < 0)
		return t9k_err_wrap(rc, "--cache-group %s", j->group);
	j->nodes = calloc((size_t)n + 1, sizeof(*j->nodes));
	for (int i = 0; j->nodes && i < n; i++)
		if (v[i].node[0] && !(j->nodes[j->nnodes++] = strdup(v[i].node)))
			rc = t9k_err(-ENOMEM, "out of memory");
	free(v);
	if (!j->nodes)
		return t9k_err(-ENOMEM, "out of memory");
	if (rc < 0)
		return rc;
	qsort(j->nodes, (size_t)j->nnodes, sizeof(*j->nodes), cmp_str);
	n = 0; /* drop repeats: several members may run on one node */
	for (int i = 0; i < j->nnodes; i++) {
		if (n > 0 && !strcmp(j->nodes[i], j->nodes[n - 1]))
			free(j->nodes[i]);
		else
			j->nodes[n++] = j->nodes[i];
	}
	j->nnodes = n;
	if (j->nnodes == 0)
		fprintf(stderr, "t9kfs: note: no member of cache group '%s' names its Kubernetes node "
				"('t9kfs cache serve --node-name'): no node affinity\n",
			j->group + 1);
	return 0;
}

/* ---- rendering ---- */

/* Sets key to val in o (taking val); a NULL val or a failed set marks the
 * job out of memory, checked once at the end. */
static void put(struct job *j, json_t *o, const char *key, json_t *val)
{
	if (!val || json_object_set_new(o, key, val) < 0)
		j->oom = true;
}

static void push(struct job *j, json_t *a, json_t *val)
{
	if (!val || json_array_append_new(a, val) < 0)
		j->oom = true;
}

static json_t *str(const char *s)
{
	return json_string(s);
}

static json_t *strs(const char *const *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0)
			return json_decref(a), NULL;
	return a;
}

static bool is_pytorch(const struct job *j)
{
	return j->kind == KIND_PYTORCH;
}

static json_t *labels(struct job *j, bool queue)
{
	json_t *l = json_object();

	put(j, l, JOB_LABEL, str(j->name));
	put(j, l, "app.kubernetes.io/part-of", str("t9kfs"));
	if (queue && j->sched == SCHED_KUEUE)
		put(j, l, "kueue.x-k8s.io/queue-name", str(j->queue));
	return l;
}

/* t9kfs.io/inputs: [{"repo","ref","commit","path","dir"}], the refs as
 * given and the commits they were pinned to; t9kfs.io/output likewise. */
static json_t *annotations(struct job *j, bool pod)
{
	json_t *a = json_object(), *in = json_array();
	char *s;

	for (int i = 0; i < j->nin && in; i++)
		push(j, in, json_pack("{s:s,s:s,s:s,s:s,s:s}", "repo", j->in[i].sp.repo, "ref",
				      j->in[i].sp.ref, "commit", j->in[i].commit, "path",
				      j->in[i].sp.path, "dir", j->in[i].dir));
	s = in ? json_dumps(in, JSON_COMPACT) : NULL;
	put(j, a, "t9kfs.io/inputs", s ? str(s) : NULL);
	free(s);
	json_decref(in);
	if (j->has_output) {
		json_t *o = json_pack("{s:s,s:s,s:s}", "repo", j->out.sp.repo, "branch",
				      j->out.sp.ref, "dir", j->out.dir);

		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		put(j, a, "t9kfs.io/output", s ? str(s) : NULL);
		free(s);
		json_decref(o);
	}
	if (pod && j->sched == SCHED_VOLCANO && !is_pytorch(j))
		put(j, a, "scheduling.k8s.io/group-name", str(j->name));
	return a;
}

static json_t *metadata(struct job *j, bool queue)
{
	json_t *m = json_object();

	put(j, m, "name", str(j->name));
	if (j->ns)
		put(j, m, "namespace", str(j->ns));
	put(j, m, "labels", labels(j, queue));
	put(j, m, "annotations", annotations(j, false));
	return m;
}

static json_t *secret_env(struct job *j, const char *name, const char *key, bool optional)
{
	json_t *ref = json_pack("{s:s,s:s}", "name", JOB_SECRET, "key", key);

	if (ref && optional)
		put(j, ref, "optional", json_true());
	return json_pack("{s:s,s:{s:o}}", "name", name, "valueFrom", "secretKeyRef", ref);
}

static json_t *server_env(struct job *j)
{
	json_t *env = json_array();

	push(j, env, json_pack("{s:s,s:s}", "name", "T9KFS_SERVER", "value", j->server));
	push(j, env, secret_env(j, "T9KFS_TOKEN", "token", false));
	return env;
}

/* REPO@COMMIT[:PATH]=DIR, or REPO@BRANCH=DIR for the output. */
static char *mount_arg(const struct job_mount *m, bool output)
{
	char *s = NULL;

	if (asprintf(&s, "%s@%s%s%s=%s", m->sp.repo, output ? m->sp.ref : m->commit,
		     m->sp.path[0] ? ":" : "", m->sp.path, m->dir) < 0)
		return NULL;
	return s;
}

static json_t *run_command(struct job *j)
{
	json_t *a = json_array();
	char *s;

	push(j, a, str("t9kfs"));
	push(j, a, str("run"));
	push(j, a, str("--in-pod"));
	for (int i = 0; i < j->nin; i++) {
		push(j, a, str("--data"));
		s = mount_arg(&j->in[i], false);
		push(j, a, s ? str(s) : NULL);
		free(s);
	}
	if (j->has_output) {
		push(j, a, str("--output"));
		s = mount_arg(&j->out, true);
		push(j, a, s ? str(s) : NULL);
		free(s);
	}
	for (int i = 0; i < j->nparams; i++) {
		push(j, a, str("--param"));
		push(j, a, str(j->params[i]));
	}
	push(j, a, str("--"));
	for (int i = 0; i < j->ncmd; i++)
		push(j, a, str(j->cmd[i]));
	return a;
}

static json_t *resources(struct job *j)
{
	json_t *r = json_object(), *req = json_object(), *lim = json_object();

	if (j->cpu) {
		put(j, req, "cpu", str(j->cpu));
		put(j, lim, "cpu", str(j->cpu));
	}
	if (j->memory) {
		put(j, req, "memory", str(j->memory));
		put(j, lim, "memory", str(j->memory));
	}
	if (j->gpus > 0)
		put(j, lim, "nvidia.com/gpu", json_integer(j->gpus));
	if (json_object_size(req))
		put(j, r, "requests", req);
	else
		json_decref(req);
	if (json_object_size(lim))
		put(j, r, "limits", lim);
	else
		json_decref(lim);
	return r;
}

static json_t *main_container(struct job *j)
{
	json_t *c = json_object(), *env = server_env(j), *mounts = json_array(), *res;

	put(j, c, "name", str(is_pytorch(j) ? "pytorch" : "train"));
	put(j, c, "image", str(j->image));
	put(j, c, "command", run_command(j));
	for (int i = 0; i < j->nenv; i++) {
		size_t k = strcspn(j->env[i], "=");

		if (k == strlen("T9KFS_SERVER") && !strncmp(j->env[i], "T9KFS_SERVER", k))
			continue; /* it replaced the default */
		push(j, env, json_pack("{s:s%,s:s}", "name", j->env[i], k, "value", j->env[i] + k + 1));
	}
	put(j, c, "env", env);
	res = resources(j);
	if (res && json_object_size(res))
		put(j, c, "resources", res);
	else
		json_decref(res);
	/* HostToContainer: a volume the driver remounts (its mount daemon
	 * died) reaches the running container. */
	for (int i = 0; i < j->nin; i++) {
		char name[32];

		snprintf(name, sizeof(name), "data-%d", i);
		push(j, mounts, json_pack("{s:s,s:s,s:b,s:s}", "name", name, "mountPath", j->in[i].dir,
					  "readOnly", 1, "mountPropagation", "HostToContainer"));
	}
	if (j->has_output)
		push(j, mounts, json_pack("{s:s,s:s,s:s}", "name", "output", "mountPath", j->out.dir,
					  "mountPropagation", "HostToContainer"));
	if (json_array_size(mounts))
		put(j, c, "volumeMounts", mounts);
	else
		json_decref(mounts);
	return c;
}

/* t9kfs warmup REPO@COMMIT [PATH] --group G, one init container an input;
 * it reads the commit's trees from the store: S3 keys when there are. */
static json_t *warmup_container(struct job *j, int i)
{
	json_t *c = json_object(), *args = json_array(), *env = server_env(j);
	char name[32], *spec = NULL;

	snprintf(name, sizeof(name), "warmup-%d", i);
	if (asprintf(&spec, "%s@%s", j->in[i].sp.repo, j->in[i].commit) < 0)
		spec = NULL;
	put(j, c, "name", str(name));
	put(j, c, "image", str(JOB_IMAGE));
	put(j, c, "command", strs((const char *const[]){ "t9kfs" }, 1));
	push(j, args, str("warmup"));
	push(j, args, spec ? str(spec) : NULL);
	free(spec);
	if (j->in[i].sp.path[0])
		push(j, args, str(j->in[i].sp.path));
	push(j, args, str("--group"));
	push(j, args, str(j->group));
	put(j, c, "args", args);
	push(j, env, secret_env(j, "AWS_ACCESS_KEY_ID", "aws-access-key-id", true));
	push(j, env, secret_env(j, "AWS_SECRET_ACCESS_KEY", "aws-secret-access-key", true));
	put(j, c, "env", env);
	put(j, c, "resources", json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "requests", "cpu", "100m",
					 "memory", "64Mi", "limits", "cpu", "1", "memory", "512Mi"));
	put(j, c, "securityContext", json_pack("{s:b,s:{s:[s]}}", "allowPrivilegeEscalation", 0,
					       "capabilities", "drop", "ALL"));
	return c;
}

static json_t *volumes(struct job *j)
{
	json_t *v = json_array();

	for (int i = 0; i < j->nin; i++) {
		json_t *attrs = json_pack("{s:s,s:s}", "repo", j->in[i].sp.repo, "ref", j->in[i].commit);
		char name[32];

		if (attrs && j->in[i].sp.path[0])
			put(j, attrs, "path", str(j->in[i].sp.path));
		if (attrs && j->group)
			put(j, attrs, "cacheGroup", str(j->group));
		snprintf(name, sizeof(name), "data-%d", i);
		push(j, v, json_pack("{s:s,s:{s:s,s:b,s:o}}", "name", name, "csi", "driver", CSI_DRIVER,
				     "readOnly", 1, "volumeAttributes", attrs));
	}
	if (j->has_output) {
		json_t *attrs = json_pack("{s:s,s:s}", "repo", j->out.sp.repo, "ref", j->out.sp.ref);

		if (attrs && j->group)
			put(j, attrs, "cacheGroup", str(j->group));
		push(j, v, json_pack("{s:s,s:{s:s,s:b,s:o}}", "name", "output", "csi", "driver",
				     CSI_DRIVER, "readOnly", 0, "volumeAttributes", attrs));
	}
	return v;
}

/* Like Fluid's dataset affinity: prefer (never require) the nodes where
 * the cache group's members run, whose disks hold the chunks. */
static json_t *affinity(struct job *j)
{
	json_t *values = strs((const char *const *)j->nodes, j->nnodes);

	return json_pack("{s:{s:[{s:i,s:{s:[{s:s,s:s,s:o}]}}]}}", "nodeAffinity",
			 "preferredDuringSchedulingIgnoredDuringExecution", "weight", 100, "preference",
			 "matchExpressions", "key", "kubernetes.io/hostname", "operator", "In",
			 "values", values);
}

static json_t *pod_template(struct job *j)
{
	json_t *t = json_object(), *m = json_object(), *s = json_object(), *cs = json_array();

	put(j, m, "labels", labels(j, false));
	put(j, m, "annotations", annotations(j, true));
	put(j, t, "metadata", m);
	if (!is_pytorch(j))
		put(j, s, "restartPolicy", str("Never"));
	if (j->sched == SCHED_VOLCANO)
		put(j, s, "schedulerName", str("volcano"));
	if (j->priority)
		put(j, s, "priorityClassName", str(j->priority));
	if (j->nnodes)
		put(j, s, "affinity", affinity(j));
	if (j->warmup) {
		json_t *init = json_array();

		for (int i = 0; i < j->nin; i++)
			push(j, init, warmup_container(j, i));
		put(j, s, "initContainers", init);
	}
	push(j, cs, main_container(j));
	put(j, s, "containers", cs);
	if (j->nin || j->has_output)
		put(j, s, "volumes", volumes(j));
	put(j, t, "spec", s);
	return t;
}

/* Volcano's PodGroup for a batch Job: its one pod, with what it requests. */
static json_t *render_podgroup(struct job *j)
{
	json_t *pg = json_pack("{s:s,s:s}", "apiVersion", "scheduling.volcano.sh/v1beta1", "kind",
			       "PodGroup"),
	       *spec = json_object(), *min = json_object();

	put(j, pg, "metadata", metadata(j, false));
	put(j, spec, "minMember", json_integer(1));
	if (j->queue)
		put(j, spec, "queue", str(j->queue));
	if (j->priority)
		put(j, spec, "priorityClassName", str(j->priority));
	if (j->cpu)
		put(j, min, "cpu", str(j->cpu));
	if (j->memory)
		put(j, min, "memory", str(j->memory));
	if (j->gpus > 0)
		put(j, min, "nvidia.com/gpu", json_integer(j->gpus));
	if (json_object_size(min))
		put(j, spec, "minResources", min);
	else
		json_decref(min);
	put(j, pg, "spec", spec);
	return pg;
}

static json_t *render_job(struct job *j)
{
	json_t *o = json_pack("{s:s,s:s}", "apiVersion", "batch/v1", "kind", "Job"),
	       *spec = json_object();

	put(j, o, "metadata", metadata(j, true));
	if (j->sched == SCHED_KUEUE)
		put(j, spec, "suspend", json_true()); /* Kueue admits it, then unsuspends */
	put(j, spec, "backoffLimit", json_integer(0)); /* a failed run is committed, not rerun */
	put(j, spec, "template", pod_template(j));
	put(j, o, "spec", spec);
	return o;
}

static json_t *render_pytorchjob(struct job *j)
{
	json_t *o = json_pack("{s:s,s:s}", "apiVersion", "kubeflow.org/v1", "kind", "PyTorchJob"),
	       *spec = json_object(), *run = json_object(), *reps = json_object();

	put(j, o, "metadata", metadata(j, true));
	put(j, run, "backoffLimit", json_integer(0));
	if (j->sched == SCHED_KUEUE)
		put(j, run, "suspend", json_true());
	if (j->sched == SCHED_VOLCANO) {
		json_t *sp = json_object();

		put(j, sp, "minAvailable", json_integer(j->workers));
		if (j->queue)
			put(j, sp, "queue", str(j->queue));
		if (j->priority)
			put(j, sp, "priorityClass", str(j->priority));
		put(j, run, "schedulingPolicy", sp);
	}
	put(j, spec, "runPolicy", run);
	put(j, reps, "Master", json_pack("{s:i,s:s,s:o}", "replicas", 1, "restartPolicy", "Never",
					  "template", pod_template(j)));
	if (j->workers > 1)
		put(j, reps, "Worker", json_pack("{s:i,s:s,s:o}", "replicas", (int)j->workers - 1,
						  "restartPolicy", "Never", "template", pod_template(j)));
	put(j, spec, "pytorchReplicaSpecs", reps);
	put(j, o, "spec", spec);
	return o;
}

/* The documents, separated by ---, into out. */
static int render(struct job *j, struct buf *out)
{
	json_t *docs[2] = { NULL, NULL };
	int n = 0, rc = 0;

	if (j->sched == SCHED_VOLCANO && !is_pytorch(j))
		docs[n++] = render_podgroup(j); /* first: the pods name it */
	docs[n++] = is_pytorch(j) ? render_pytorchjob(j) : render_job(j);
	for (int i = 0; i < n && rc == 0; i++) {
		if (!docs[i] || j->oom)
			rc = t9k_err(-ENOMEM, "out of memory");
		else if (i > 0)
			rc = buf_addstr(out, "---\n");
		if (rc == 0 && (rc = yaml_emit(docs[i], out)) < 0)
			rc = t9k_err(rc, "out of memory");
	}
	for (int i = 0; i < n; i++)
		json_decref(docs[i]);
	return rc;
}

/* ---- kubectl ---- */

/* kubectl's path from PATH into out, or -ENOENT with what to do. */
static int kubectl_find(char *out, size_t size, const char *why)
{
	const char *path = getenv("PATH"), *p;

	for (p = path && *path ? path : "/usr/bin:/bin"; p && *p;) {
		size_t n = strcspn(p, ":");
		struct stat st;

		if (n > 0 && (size_t)snprintf(out, size, "%.*s/kubectl", (int)n, p) < size &&
		    stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	return t9k_err(-ENOENT, "kubectl is not on the PATH: %s", why);
}

/* Runs kubectl with argv (argv[0] "kubectl"), input on its stdin (when not
 * NULL), its stdout into capture (when not NULL; else ours). Its exit
 * status into *status; spawning failures are errors. */
static int kubectl_run(const char *path, char **argv, const struct buf *input, struct buf *capture,
		       int *status)
{
	posix_spawn_file_actions_t fa;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, rc = 0, err, ws;
	pid_t pid;
	void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);

	posix_spawn_file_actions_init(&fa);
	if ((input && pipe2(in, O_CLOEXEC) < 0) || (capture && pipe2(out, O_CLOEXEC) < 0)) {
		rc = t9k_err(-errno, "cannot make a pipe to kubectl: %s", strerror(errno));
		goto out;
	}
	if (input)
		posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	if (capture)
		posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	fflush(stdout);
	err = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	if (err) {
		rc = t9k_err(-err, "cannot run %s: %s", path, strerror(err));
		goto out;
	}
	if (input) {
		close(in[0]);
		in[0] = -1;
		/* kubectl may stop reading early (it failed): its status says why */
		err = write_full(in[1], input->data, input->len);
		if (err < 0 && err != -EPIPE)
			rc = t9k_err(err, "cannot write to kubectl: %s", strerror(-err));
		close(in[1]);
		in[1] = -1;
	}
	if (capture) {
		char chunk[8192];
		ssize_t n;

		close(out[1]);
		out[1] = -1;
		while ((n = read(out[0], chunk, sizeof(chunk))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 || buf_add(capture, chunk, (size_t)n) < 0) {
				rc = t9k_err(n < 0 ? -errno : -ENOMEM, "cannot read kubectl's output");
				break;
			}
		}
	}
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR) {
			rc = t9k_err(-errno, "cannot wait for kubectl: %s", strerror(errno));
			goto out;
		}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	posix_spawn_file_actions_destroy(&fa);
	signal(SIGPIPE, old_pipe);
	return rc;
}

/* The resource types of ours that the cluster serves: jobs.batch, and
 * pytorchjobs.kubeflow.org and podgroups.scheduling.volcano.sh where their
 * CRDs are installed (kubectl get a,b fails whole when b is unknown). A
 * partial answer (an aggregated API down) is used when it lists Jobs. */
static int kubectl_types(const char *path, bool podgroups, char *out, size_t size)
{
	char *argv[] = { "kubectl", "api-resources", "-o", "name", NULL };
	struct buf names = BUF_INIT;
	int status = 0, rc = kubectl_run(path, argv, NULL, &names, &status);
	bool jobs = false, pytorch = false, pg = false;

	for (char *line = (char *)names.data, *next; rc == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		jobs |= !strcmp(line, "jobs.batch");
		pytorch |= !strcmp(line, "pytorchjobs.kubeflow.org");
		pg |= podgroups && !strcmp(line, "podgroups.scheduling.volcano.sh");
	}
	buf_release(&names);
	if (rc == 0 && !jobs)
		rc = t9k_err(-EIO, "'kubectl api-resources' %s (exit status %d): is kubectl pointed "
				   "at the cluster?",
			     status ? "failed" : "lists no jobs.batch", status);
	if (rc == 0)
		snprintf(out, size, "jobs.batch%s%s", pytorch ? ",pytorchjobs.kubeflow.org" : "",
			 pg ? ",podgroups.scheduling.volcano.sh" : "");
	return rc;
}

/* Runs kubectl with argv; its non-zero exit is our failure. */
static int kubectl_do(const char *path, char **argv, const struct buf *input)
{
	int status = 0, rc = kubectl_run(path, argv, input, NULL, &status);

	if (rc == 0 && status)
		rc = t9k_err(-EIO, "'kubectl %s' failed (exit status %d; its message is above)",
			     argv[1], status);
	return rc;
}

/* ---- submit ---- */

static int parse_submit(struct job *j, int argc, char **argv, bool *help)
{
	enum { O_IMAGE = 256, O_NAME, O_WORKERS, O_GPUS, O_CPU, O_MEMORY, O_DATA, O_OUTPUT,
	       O_PARAM, O_KIND, O_SCHED, O_QUEUE, O_PRIO, O_GROUP, O_WARMUP, O_DRY };
	static const struct option opts[] = {
		{ "image", required_argument, NULL, O_IMAGE },
		{ "name", required_argument, NULL, O_NAME },
		{ "namespace", required_argument, NULL, 'n' },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "gpus", required_argument, NULL, O_GPUS },
		{ "cpu", required_argument, NULL, O_CPU },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "data", required_argument, NULL, O_DATA },
		{ "output", required_argument, NULL, O_OUTPUT },
		{ "param", required_argument, NULL, O_PARAM },
		{ "env", required_argument, NULL, 'e' },
		{ "kind", required_argument, NULL, O_KIND },
		{ "scheduler", required_argument, NULL, O_SCHED },
		{ "queue", required_argument, NULL, O_QUEUE },
		{ "priority-class", required_argument, NULL, O_PRIO },
		{ "cache-group", required_argument, NULL, O_GROUP },
		{ "warmup", no_argument, NULL, O_WARMUP },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *last_arg = NULL;
	int c, rc = 0;
	size_t k = 0;

	j->workers = 1;
	j->server = JOB_SERVER;
	j->in = calloc((size_t)argc, sizeof(*j->in));
	j->params = calloc((size_t)argc, sizeof(*j->params));
	j->env = calloc((size_t)argc, sizeof(*j->env));
	if (!j->in || !j->params || !j->env)
		return t9k_err(-ENOMEM, "out of memory");
	optind = 0;
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "+:e:n:h", opts, NULL)) != -1) {
		if (optarg)
			last_arg = optarg;
		switch (c) {
		case O_IMAGE: j->image = optarg; break;
		case O_NAME: name = optarg; break;
		case 'n': j->ns = optarg; break;
		case O_WORKERS: rc = parse_int_opt("--workers", optarg, 1, 1000, &j->workers); break;
		case O_GPUS: rc = parse_int_opt("--gpus", optarg, 0, 64, &j->gpus); break;
		case O_CPU: j->cpu = optarg; break;
		case O_MEMORY: j->memory = optarg; break;
		case O_DATA: rc = mount_parse("--data", optarg, &j->in[j->nin++]); break;
		case O_OUTPUT:
			if (j->has_output)
				rc = t9k_err(T9K_EUSAGE, "--output is given twice: a job has one output");
			else
				rc = mount_parse("--output", optarg, &j->out);
			j->has_output = true;
			break;
		case O_PARAM:
			if ((rc = kv_check("--param", optarg, &k)) == 0)
				j->params[j->nparams++] = optarg;
			break;
		case 'e':
			if ((rc = kv_check("-e", optarg, &k)) == 0 && !env_name_ok(optarg, k))
				rc = t9k_err(T9K_EUSAGE, "-e '%s': '%.*s' is not a valid variable name",
					     optarg, (int)k, optarg);
			else if (rc == 0 && k == 11 && !strncmp(optarg, "T9KFS_TOKEN", k))
				rc = t9k_err(T9K_EUSAGE, "-e T9KFS_TOKEN: the pods read the token from "
							 "the Secret " JOB_SECRET " (key token)");
			for (int i = 0; rc == 0 && i < j->nenv; i++)
				if (!strncmp(j->env[i], optarg, k + 1))
					rc = t9k_err(T9K_EUSAGE, "-e %.*s is given twice", (int)k, optarg);
			if (rc == 0)
				j->env[j->nenv++] = optarg;
			if (rc == 0 && k == 12 && !strncmp(optarg, "T9KFS_SERVER", k))
				j->server = optarg + k + 1;
			break;
		case O_KIND:
			if (!strcmp(optarg, "job"))
				j->kind = KIND_JOB;
			else if (!strcmp(optarg, "pytorchjob"))
				j->kind = KIND_PYTORCH;
			else
				rc = t9k_err(T9K_EUSAGE, "--kind '%s': want job or pytorchjob", optarg);
			break;
		case O_SCHED:
			if (!strcmp(optarg, "default"))
				j->sched = SCHED_DEFAULT;
			else if (!strcmp(optarg, "volcano"))
				j->sched = SCHED_VOLCANO;
			else if (!strcmp(optarg, "kueue"))
				j->sched = SCHED_KUEUE;
			else
				rc = t9k_err(T9K_EUSAGE, "--scheduler '%s': want default, volcano or kueue",
					     optarg);
			break;
		case O_QUEUE: j->queue = optarg; break;
		case O_PRIO: j->priority = optarg; break;
		case O_GROUP: j->group = optarg; break;
		case O_WARMUP: j->warmup = true; break;
		case O_DRY: j->dry_run = true; break;
		case 'h': *help = true; return 0;
		case ':':
			rc = t9k_err(T9K_EUSAGE, "%s needs a value (see 't9kfs job submit --help')",
				     argv[optind - 1]);
			break;
		default:
			if (optopt > 0 && optopt < 128)
				rc = t9k_err(T9K_EUSAGE, "unknown option '-%c' (see 't9kfs job submit "
							 "--help')",
					     optopt);
			else
				rc = t9k_err(T9K_EUSAGE, "unknown option '%s' (see 't9kfs job submit "
							 "--help')",
					     argv[optind - 1]);
			break;
		}
	}
	if (rc < 0)
		return rc;
	/* "--" ends the options (getopt took it), unless it was an option's value */
	if (optind < 2 || strcmp(argv[optind - 1], "--") || argv[optind - 1] == last_arg) {
		if (optind < argc)
			return t9k_err(T9K_EUSAGE, "unexpected '%s': put '--' before the command "
						   "(t9kfs job submit --image IMG ... -- CMD [ARGS...])",
				       argv[optind]);
		return t9k_err(T9K_EUSAGE, "missing '--' and the command to run "
					   "(t9kfs job submit --image IMG ... -- CMD [ARGS...])");
	}
	if (optind >= argc)
		return t9k_err(T9K_EUSAGE, "no command after '--' (t9kfs job submit ... -- CMD [ARGS...])");
	j->cmd = argv + optind;
	j->ncmd = argc - optind;

	if (!j->image || !*j->image || strpbrk(j->image, " \t\n"))
		return t9k_err(T9K_EUSAGE, j->image ? "--image '%s' is not an image name"
						    : "--image IMG is required (an image with t9kfs in it)",
			       j->image);
	if (name && !job_name_ok(name))
		return t9k_err(T9K_EUSAGE, "--name '%s': want 1-%d of a-z, 0-9 and '-', starting with "
					   "a letter and ending with a letter or digit",
			       name, JOB_NAME_MAX);
	if (name)
		snprintf(j->name, sizeof(j->name), "%s", name);
	else
		default_name(j->name, sizeof(j->name));
	if (j->ns && !dns_label(j->ns, 63))
		return t9k_err(T9K_EUSAGE, "--namespace '%s' is not a namespace name", j->ns);
	if (j->cpu && !quantity_ok(j->cpu))
		return t9k_err(T9K_EUSAGE, "--cpu '%s': want a quantity such as 4 or 500m", j->cpu);
	if (j->memory && !quantity_ok(j->memory))
		return t9k_err(T9K_EUSAGE, "--memory '%s': want a quantity such as 16Gi", j->memory);
	if (j->kind == KIND_AUTO)
		j->kind = j->workers > 1 ? KIND_PYTORCH : KIND_JOB;
	if (j->kind == KIND_JOB && j->workers > 1)
		return t9k_err(T9K_EUSAGE, "--kind job runs one pod: use --kind pytorchjob for "
					   "--workers %ld",
			       j->workers);
	if (j->sched == SCHED_KUEUE && !j->queue)
		return t9k_err(T9K_EUSAGE, "--scheduler kueue needs --queue (the LocalQueue to wait in)");
	if (j->sched == SCHED_DEFAULT && j->queue)
		return t9k_err(T9K_EUSAGE, "--queue needs --scheduler volcano or kueue");
	if (j->queue && !dns_label(j->queue, 63) && !(j->sched == SCHED_VOLCANO && *j->queue))
		return t9k_err(T9K_EUSAGE, "--queue '%s' is not a queue name", j->queue);
	if (j->priority && !dns_label(j->priority, 253))
		return t9k_err(T9K_EUSAGE, "--priority-class '%s' is not a PriorityClass name",
			       j->priority);
	if (j->warmup && !j->group)
		return t9k_err(T9K_EUSAGE, "--warmup loads the inputs into a cache group: give "
					   "--cache-group");
	if (j->warmup && j->nin == 0)
		return t9k_err(T9K_EUSAGE, "--warmup: no --data to warm up");
	for (int a = 0; a < j->nin + j->has_output; a++)
		for (int b = a + 1; b < j->nin + j->has_output; b++) {
			const char *da = a < j->nin ? j->in[a].dir : j->out.dir;
			const char *db = b < j->nin ? j->in[b].dir : j->out.dir;

			if (!strcmp(da, db))
				return t9k_err(T9K_EUSAGE, "two mounts at %s: give each its own DIR", da);
		}
	if (j->has_output && j->out.sp.has_path)
		return t9k_err(T9K_EUSAGE, "--output %s@%s: the output is a whole branch, no :PATH",
			       j->out.sp.repo, j->out.sp.ref);
	if (j->has_output && meta_ref_name_check(j->out.sp.ref) < 0)
		return t9k_err(T9K_EUSAGE, "--output %s@%s: '%s' is not a branch name", j->out.sp.repo,
			       j->out.sp.ref, j->out.sp.ref);
	return 0;
}

/* The group's syntax; for @NAME, its members' nodes. */
static int check_group(struct cli *cli, struct job *j)
{
	char **list = NULL;
	int n = 0, rc;

	if (j->group[0] == '@')
		return group_nodes(cli, j);
	rc = cache_net_list(j->group, &list, &n);
	if (rc == 0)
		cache_net_list_free(list);
	return rc < 0 ? t9k_err_wrap(T9K_EUSAGE, "--cache-group (@NAME or HOST:PORT,...)") : 0;
}

static int job_submit(struct cli *cli, int argc, char **argv)
{
	struct job j = { 0 };
	struct buf yaml = BUF_INIT;
	char kubectl[4200];
	bool help = false, branch;
	int rc = parse_submit(&j, argc, argv, &help);

	if (help) {
		fputs(submit_usage, stdout);
		goto out;
	}
	if (rc == 0 && !j.dry_run)
		rc = kubectl_find(kubectl, sizeof(kubectl), "install kubectl and point it at the "
							    "cluster, or print the YAML with --dry-run");
	for (int i = 0; rc == 0 && i < j.nin; i++)
		rc = mount_resolve(cli, "--data", &j.in[i], &branch);
	if (rc == 0 && j.has_output && (rc = mount_resolve(cli, "--output", &j.out, &branch)) == 0 &&
	    !branch)
		rc = t9k_err(T9K_EUSAGE, "--output %s@%s: '%s' is not a branch (the job commits its "
					 "output to a branch)",
			     j.out.sp.repo, j.out.sp.ref, j.out.sp.ref);
	if (rc == 0 && j.group)
		rc = check_group(cli, &j);
	if (rc == 0)
		rc = render(&j, &yaml);
	if (rc < 0)
		goto out;
	if (j.dry_run) {
		fwrite(yaml.data, 1, yaml.len, stdout);
		if (fflush(stdout) != 0)
			rc = t9k_err(-EIO, "cannot write the YAML to stdout");
	} else {
		char *args[] = { "kubectl", "apply", "-f", "-", NULL };

		rc = kubectl_do(kubectl, args, &yaml);
		if (rc == 0)
			printf("submitted job '%s': 't9kfs job get %s%s%s' shows it, 't9kfs job logs "
			       "%s -f' follows it\n",
			       j.name, j.name, j.ns ? " --namespace " : "", j.ns ? j.ns : "", j.name);
	}
out:
	buf_release(&yaml);
	job_release(&j);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- list, get, logs, delete ---- */

static int job_kubectl(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = argv[0], *usage = !strcmp(sub, "list")  ? list_usage
					    : !strcmp(sub, "get")  ? get_usage
					    : !strcmp(sub, "logs") ? logs_usage
								   : delete_usage;
	const char *ns = NULL, *name = NULL;
	bool all = false, follow = false;
	char kubectl[4200], types[200], sel[64 + JOB_NAME_MAX], *args[20];
	int c, n = 0, rc;

	(void)cli;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:Afh", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c == 'n')
			ns = optarg;
		else if (c == 'A' && !strcmp(sub, "list"))
			all = true;
		else if (c == 'f' && !strcmp(sub, "logs"))
			follow = true;
		else
			return fputs(usage, stderr), 2;
	}
	if (strcmp(sub, "list") && optind == argc - 1)
		name = argv[optind++];
	if (optind != argc || (!strcmp(sub, "list") ? name != NULL : name == NULL) || (all && ns))
		return fputs(usage, stderr), 2;
	if (name && !job_name_ok(name))
		return cli_usage_error("'%s' is not a job name (1-%d of a-z, 0-9 and '-', a letter "
				       "first)",
				       name, JOB_NAME_MAX);
	if (ns && !dns_label(ns, 63))
		return cli_usage_error("--namespace '%s' is not a namespace name", ns);
	rc = kubectl_find(kubectl, sizeof(kubectl), "install kubectl and point it at the cluster");
	if (rc == 0 && strcmp(sub, "logs"))
		rc = kubectl_types(kubectl, strcmp(sub, "list") != 0, types, sizeof(types));
	if (rc < 0)
		return cli_fail(rc);
	snprintf(sel, sizeof(sel), JOB_LABEL "%s%s", name ? "=" : "", name ? name : "");
	args[n++] = "kubectl";
	args[n++] = (char *)sub;
	if (!strcmp(sub, "get")) {
		strncat(types, ",pods", sizeof(types) - strlen(types) - 1);
		args[n++] = types;
	} else if (strcmp(sub, "logs")) {
		args[n++] = types;
	}
	args[n++] = "-l";
	args[n++] = sel;
	if (!strcmp(sub, "list")) {
		args[1] = "get";
		args[n++] = "-L";
		args[n++] = JOB_LABEL;
	} else if (!strcmp(sub, "get")) {
		args[n++] = "-o";
		args[n++] = "wide";
	} else if (!strcmp(sub, "logs")) {
		args[n++] = "--all-containers=true";
		args[n++] = "--prefix=true";
		args[n++] = "--tail=-1";
		if (follow) {
			args[n++] = "--follow";
			args[n++] = "--max-log-requests=100";
		}
	}
	if (ns) {
		args[n++] = "-n";
		args[n++] = (char *)ns;
	}
	if (all)
		args[n++] = "-A";
	args[n] = NULL;
	rc = kubectl_do(kubectl, args, NULL);
	return rc < 0 ? cli_fail(rc) : 0;
}

int cmd_job(struct cli *cli, int argc, char **argv)
{
	static const char *const subs[] = { "list", "get", "logs", "delete" };

	if (argc < 2) {
		fputs(job_usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(job_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "submit"))
		return job_submit(cli, argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i]))
			return job_kubectl(cli, argc - 1, argv + 1);
	return cli_usage_error("unknown command 'job %s' (see 't9kfs job --help')", argv[1]);
}
