// Offline checks of what 't9kfs job submit --dry-run' renders: no cluster.
// Run by test/integration/t0801-job.sh.
//
//   node validate-job.mjs --modules DIR [--bin T9KFS] [--image IMG]
//        [--summary OUT] [--commit NAME=ID]... FILE...
//
// Each FILE is one render (documents separated by ---). Every check prints
// one line, "ok   FILE#N KIND: RULE" or "FAIL FILE#N KIND: RULE: why"
// ("skip" when it cannot run here); the exit status is 1 when any failed.
//   * YAML: kubectl's reading (YAML 1.1) and YAML 1.2's agree;
//   * schemas: core kinds with kubernetes-models (k8s-models.mjs), unknown
//     fields included; the PyTorchJob and PodGroup CRDs with the JSON
//     schemas beside this file (written from their published OpenAPI
//     definitions; see their $comment), whose embedded core types
//     (x-kubernetes-type) go to kubernetes-models again;
//   * our rules: labels, pinned inputs, volumes and mounts, the run and
//     warmup command lines (flags against --bin's --help), credentials, gang
//     scheduling, Kueue, cache affinity, GPUs.
// --summary OUT writes the fields that matter, one stable line each, for
// golden files; --commit NAME=ID writes ID as <NAME> there. --image: the
// t9kfs image the init containers must use (csi/deploy's).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { k8sModels } from "../csi/k8s-models.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
let modules = null, bin = null, image = null, summaryOut = null;
const files = [], commits = new Map();
for (let i = 0; i < argv.length; i++) {
	if (argv[i] === "--modules") modules = argv[++i];
	else if (argv[i] === "--bin") bin = argv[++i];
	else if (argv[i] === "--image") image = argv[++i];
	else if (argv[i] === "--summary") summaryOut = argv[++i];
	else if (argv[i] === "--commit") {
		const [k, v] = (argv[++i] ?? "").split("=");
		if (!k || !v) usage();
		commits.set(v, k);
	} else if (!argv[i].startsWith("-")) files.push(argv[i]);
	else usage();
}
if (!modules || files.length === 0) usage();
function usage() {
	console.error("usage: node validate-job.mjs --modules DIR [--bin T9KFS] [--image IMG] [--summary OUT] [--commit NAME=ID]... FILE...");
	process.exit(2);
}
modules = path.resolve(modules);
const k8s = k8sModels(modules);
// ajv comes with kubernetes-models (its validators are ajv's).
const Ajv = createRequire(path.join(modules, "@kubernetes-models/validate/package.json"))("ajv").default;

// ---------------------------------------------------------------- reporting

let checks = 0, failures = 0;
function check(where, rule, problems) {
	checks++;
	problems = [].concat(problems ?? []).filter(Boolean);
	if (problems.length === 0) console.log(`ok   ${where}: ${rule}`);
	else {
		failures++;
		console.log(`FAIL ${where}: ${rule}: ${problems.join("; ")}`);
	}
}
const skip = (where, rule, why) => console.log(`skip ${where}: ${rule}: ${why}`);

// ---------------------------------------------------------------- CRD schemas

const KUBERNETES_TYPES = { ObjectMeta: ["meta/v1", "ObjectMeta"], PodSpec: ["v1", "PodSpec"] };
const pending = []; // validateType promises of the embedded core types: [where, promise]
const ajv = new Ajv({ allErrors: true, strict: false });
// The OpenAPI integer formats of the CRDs.
ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat("int64", { type: "number", validate: (n) => Number.isSafeInteger(n) });
ajv.addKeyword({
	keyword: "x-kubernetes-type",
	schemaType: "string",
	validate: function kubernetesType(type, data, _schema, ctx) {
		const [api, kind] = KUBERNETES_TYPES[type] ?? [];
		const where = `${ctx?.instancePath || ""}`;
		if (!api) return false;
		pending.push(k8s.validateType(api, kind, data, `${kind} at ${where || "/"}`));
		return true;
	},
});
const CRD_SCHEMAS = {
	"kubeflow.org/v1/PyTorchJob": "pytorchjob.schema.json",
	"scheduling.volcano.sh/v1beta1/PodGroup": "podgroup.schema.json",
};
const validators = new Map();
function crdValidator(api, kind) {
	const file = CRD_SCHEMAS[`${api}/${kind}`];
	if (!file) return null;
	if (!validators.has(file))
		validators.set(file, ajv.compile(JSON.parse(fs.readFileSync(path.join(here, file), "utf8"))));
	return validators.get(file);
}
async function validateCrd(validate, obj) {
	pending.length = 0;
	const ok = validate(obj);
	const out = ok ? [] : validate.errors.map((e) =>
		`${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` '${e.params.additionalProperty}'` : ""}${e.params?.allowedValues ? ` (${e.params.allowedValues.join(", ")})` : ""}`);
	for (const p of await Promise.all(pending.splice(0))) out.push(...(p ?? ["no kubernetes-models type"]));
	return out;
}

// ---------------------------------------------------------------- helpers

const COMMIT = /^[0-9a-f]{64}$/;
const DRIVER = "csi.t9kfs.io";
const ATTRS = new Set(["repo", "ref", "path", "readOnly", "cacheGroup"]); // csi/volume.c node_keys
const SECRET = "t9kfs-credentials";
// The pod templates of a workload: [label, replicas, template].
function templates(obj) {
	if (obj.kind === "Job") return [["pod", obj.spec?.parallelism ?? 1, obj.spec?.template]];
	if (obj.kind === "PyTorchJob")
		return Object.entries(obj.spec?.pytorchReplicaSpecs ?? {}).map(([t, r]) => [t, r?.replicas ?? 1, r?.template]);
	return [];
}
const helpCache = new Map();
// The flags `t9kfs WORDS --help` lists, or a reason it cannot say.
function helpFlags(words) {
	const key = words.join(" ");
	if (!helpCache.has(key)) {
		const r = spawnSync(bin, [...words, "--help"], { encoding: "utf8" });
		const text = `${r.stdout ?? ""}${r.stderr ?? ""}`;
		helpCache.set(key, r.status === 0 && new RegExp(`^usage: t9kfs ${key}\\b`, "m").test(text)
			? { flags: new Set(text.match(/--?[a-zA-Z][\w-]*/g)) }
			: { error: `'t9kfs ${key} --help' failed (exit ${r.status ?? r.signal}): ${text.trim().split("\n")[0]}` });
	}
	return helpCache.get(key);
}
function checkFlags(where, words, args) {
	if (!bin) return;
	const h = helpFlags(words);
	const rule = `flags of 't9kfs ${words.join(" ")}' are in its --help`;
	if (h.error) return skip(where, rule, h.error);
	const flags = [...new Set(args.filter((a) => /^--?[a-zA-Z]/.test(a)).map((a) => a.split("=")[0]))];
	check(where, rule, flags.filter((f) => !h.flags.has(f)).map((f) => `${f} is not in its --help`));
}
const mountArg = (i, ref) => `${i.repo}@${ref}${i.path ? `:${i.path}` : ""}=${i.dir}`;
function parseJson(s) {
	try { return JSON.parse(s); } catch { return undefined; }
}

// ---------------------------------------------------------------- one render

const summary = [];
const say = (line) => summary.push([...commits].reduce((l, [id, name]) => l.replaceAll(id, `<${name}>`), line));
const js = (v) => JSON.stringify(v);

async function render(file) {
	const text = fs.readFileSync(file, "utf8");
	const name = path.basename(file);
	const read = (version) => {
		const docs = k8s.YAML.parseAllDocuments(text, { version });
		const errors = docs.flatMap((d) => d.errors.map((e) => e.message.split("\n")[0]));
		return { errors, values: errors.length ? [] : docs.map((d) => d.toJS()).filter((v) => v != null) };
	};
	const y11 = read("1.1"), y12 = read("1.2");
	check(name, "YAML parses", y11.errors);
	check(name, "YAML 1.1 (kubectl) and 1.2 read the same values",
		js(y11.values) === js(y12.values) ? null : "the readings differ");
	const docs = y11.values;
	say(`== ${name}`);
	const podGroups = docs.filter((d) => d.kind === "PodGroup");

	for (const [n, obj] of docs.entries()) {
		const api = obj.apiVersion, kind = obj.kind;
		const where = `${name}#${n} ${kind}`;
		// Schemas.
		const validate = crdValidator(api, kind);
		if (validate) {
			check(where, `schema (${api} ${kind}, test/job/${CRD_SCHEMAS[`${api}/${kind}`]}), unknown fields`,
				await validateCrd(validate, obj));
		} else {
			const problems = await k8s.validateType(api, kind, obj);
			check(where, `schema (${api} ${kind}, kubernetes-models), unknown fields`,
				problems ?? `no schema for ${api} ${kind}`);
		}
		// Labels and the inputs annotation, on the object and its pods.
		const jobName = obj.metadata?.name;
		const metas = [["metadata", obj.metadata], ...templates(obj).map(([t, , tpl]) => [`${t} template`, tpl?.metadata])];
		check(where, "labels t9kfs.io/job and part-of; inputs annotation", metas.flatMap(([w, m]) => [
			m?.labels?.["t9kfs.io/job"] !== jobName && `${w}: t9kfs.io/job is ${m?.labels?.["t9kfs.io/job"]}, not ${jobName}`,
			m?.labels?.["app.kubernetes.io/part-of"] !== "t9kfs" && `${w}: no app.kubernetes.io/part-of: t9kfs`,
			!Array.isArray(parseJson(m?.annotations?.["t9kfs.io/inputs"] ?? "")) && `${w}: t9kfs.io/inputs is not a JSON list`,
		]));
		const inputs = parseJson(obj.metadata?.annotations?.["t9kfs.io/inputs"] ?? "") ?? [];
		const output = parseJson(obj.metadata?.annotations?.["t9kfs.io/output"] ?? "null");

		if (kind === "PodGroup") {
			const s = obj.spec ?? {};
			say(`PodGroup ${jobName}: minMember=${s.minMember} queue=${s.queue ?? "-"} priorityClassName=${s.priorityClassName ?? "-"} minResources=${js(s.minResources ?? {})}`);
			continue;
		}
		const labels = obj.metadata?.labels ?? {};
		const queue = labels["kueue.x-k8s.io/queue-name"];
		const run = obj.spec?.runPolicy ?? {};
		const suspend = kind === "Job" ? obj.spec?.suspend : run.suspend;
		say(`${kind} ${jobName}: kueue-queue=${queue ?? "-"} suspend=${suspend ?? "-"} backoffLimit=${kind === "Job" ? obj.spec?.backoffLimit : run.backoffLimit}` +
			(run.schedulingPolicy ? ` schedulingPolicy=${js(run.schedulingPolicy)}` : ""));
		say(`  inputs: ${inputs.map((i) => `${i.repo}@${i.ref} -> ${i.commit}${i.path ? `:${i.path}` : ""} at ${i.dir}`).join(", ") || "-"}`);
		say(`  output: ${output ? `${output.repo}@${output.branch} at ${output.dir}` : "-"}`);
		check(where, "inputs pinned to commit ids", inputs.map((i) => !COMMIT.test(i.commit ?? "") && `${i.repo}@${i.ref} is pinned to '${i.commit}'`));
		if (queue)
			check(where, "Kueue: queue label on the workload, created suspended", suspend === true ? null : "not suspend: true");

		const pods = templates(obj);
		const total = pods.reduce((s, [, r]) => s + r, 0);
		let volcano = false;
		for (const [role, replicas, tpl] of pods) {
			const at = `${where} ${role}`;
			const spec = tpl?.spec ?? {};
			const ann = tpl?.metadata?.annotations ?? {};
			volcano ||= spec.schedulerName === "volcano";
			say(`  ${role} x${replicas}: schedulerName=${spec.schedulerName ?? "-"} group-name=${ann["scheduling.k8s.io/group-name"] ?? "-"} priorityClassName=${spec.priorityClassName ?? "-"} restartPolicy=${spec.restartPolicy ?? (kind === "PyTorchJob" ? obj.spec.pytorchReplicaSpecs[role].restartPolicy : "-")}`);

			// Gang scheduling.
			if (spec.schedulerName === "volcano" && kind === "Job") {
				const g = ann["scheduling.k8s.io/group-name"];
				const pg = podGroups.find((p) => p.metadata?.name === g && p.metadata?.namespace === obj.metadata?.namespace);
				check(at, "Volcano: the pods name a PodGroup of this render with minMember = every pod",
					!g ? "no scheduling.k8s.io/group-name annotation" : !pg ? `no PodGroup ${g}` :
						pg.spec?.minMember !== total ? `minMember ${pg.spec?.minMember}, pods ${total}` : null);
			}
			if (spec.schedulerName === "volcano" && kind === "PyTorchJob")
				check(at, "Volcano: schedulingPolicy.minAvailable = every pod (the operator's PodGroup)",
					run.schedulingPolicy?.minAvailable === total ? null : `minAvailable ${run.schedulingPolicy?.minAvailable}, pods ${total}`);

			// Cache affinity.
			const pref = spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
			if (spec.affinity) {
				const expr = pref?.[0]?.preference?.matchExpressions?.[0];
				const vals = expr?.values ?? [];
				check(at, "cache affinity: preferred, weight 100, kubernetes.io/hostname In the group's nodes", [
					spec.affinity.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution && "required, not preferred",
					(pref?.length !== 1 || pref[0].weight !== 100) && "not one term of weight 100",
					(expr?.key !== "kubernetes.io/hostname" || expr?.operator !== "In") && "not kubernetes.io/hostname In",
					(vals.length === 0 || js(vals) !== js([...new Set(vals)].sort())) && "values not sorted, unique, non-empty",
				]);
				say(`    affinity: preferred weight=${pref?.[0]?.weight} ${expr?.key} ${expr?.operator} ${vals.join(",")}`);
			}

			// Volumes and mounts.
			const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
			for (const v of spec.volumes ?? []) {
				if (!v.csi) continue;
				const a = v.csi.volumeAttributes ?? {};
				check(at, `volume ${v.name}: t9kfs CSI inline volume`, [
					v.csi.driver !== DRIVER && `driver ${v.csi.driver}`,
					...Object.keys(a).filter((k) => !ATTRS.has(k)).map((k) => `unknown attribute ${k}`),
					Object.values(a).some((x) => typeof x !== "string") && "attribute values must be strings",
					v.csi.readOnly === true && !COMMIT.test(a.ref ?? "") && `read-only input ref '${a.ref}' is not a commit id`,
				]);
			}
			const all = [...(spec.initContainers ?? []).map((c) => [c, true]), ...(spec.containers ?? []).map((c) => [c, false])];
			for (const [c, init] of all) {
				const cat = `${at} container ${c.name}`;
				check(cat, "volume mounts: existing volumes; t9kfs ones HostToContainer, inputs read-only",
					(c.volumeMounts ?? []).flatMap((m) => {
						const v = volumes.get(m.name);
						return [!v && `no volume ${m.name}`,
							v?.csi && m.mountPropagation !== "HostToContainer" && `${m.mountPath}: mountPropagation ${m.mountPropagation ?? "None"}`,
							v?.csi?.readOnly === true && m.readOnly !== true && `${m.mountPath}: an input mounted read-write`];
					}));
				for (const m of c.volumeMounts ?? []) {
					const v = volumes.get(m.name);
					if (v?.csi)
						say(`    ${c.name}: ${m.mountPath} <- ${v.name} readOnly=${v.csi.readOnly} ${js(v.csi.volumeAttributes)} ${m.mountPropagation}${m.readOnly ? " ro" : ""}`);
				}
				const env = new Map((c.env ?? []).map((e) => [e.name, e]));
				const tok = env.get("T9KFS_TOKEN")?.valueFrom?.secretKeyRef;
				check(cat, `T9KFS_SERVER, and T9KFS_TOKEN from Secret ${SECRET} key token`, [
					!env.get("T9KFS_SERVER")?.value && "no T9KFS_SERVER",
					(tok?.name !== SECRET || tok?.key !== "token") && "T9KFS_TOKEN is not the Secret's token",
				]);
				say(`    ${c.name} env: ${js((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]))}`);
				const res = c.resources ?? {};
				if (Object.keys(res).length) say(`    ${c.name} resources: ${js(res)}`);
				const gpuReq = res.requests?.["nvidia.com/gpu"], gpuLim = res.limits?.["nvidia.com/gpu"];
				if (gpuReq !== undefined || gpuLim !== undefined)
					check(cat, "GPUs: nvidia.com/gpu limits (requests equal if any)",
						gpuLim === undefined ? "no limit" : gpuReq !== undefined && `${gpuReq}` !== `${gpuLim}` ? "requests differ from limits" : null);

				const cmd = [...(c.command ?? []), ...(c.args ?? [])].map(String);
				say(`    ${c.name}${init ? " (init)" : ""} image=${c.image}: ${cmd.join(" ")}`);
				if (init) {
					// t9kfs warmup REPO@COMMIT [PATH] --group G, one per input, in order.
					const i = inputs[Number(c.name.replace(/^warmup-/, ""))];
					const g = cmd[cmd.indexOf("--group") + 1];
					check(cat, "warmup init container: the t9kfs image, an input's commit, the volumes' group, least privilege", [
						image && c.image !== image && `image ${c.image}, not ${image}`,
						!i && `no input for ${c.name}`,
						i && js(cmd.slice(0, i.path ? 4 : 3)) !== js(["t9kfs", "warmup", `${i.repo}@${i.commit}`, ...(i.path ? [i.path] : [])]) && `command ${cmd.join(" ")}`,
						[...volumes.values()].some((v) => v.csi && v.csi.volumeAttributes?.cacheGroup !== g) && `--group ${g} is not every volume's cacheGroup`,
						c.securityContext?.allowPrivilegeEscalation !== false && "allowPrivilegeEscalation is not false",
						!(c.securityContext?.capabilities?.drop ?? []).includes("ALL") && "capabilities do not drop ALL",
						["requests", "limits"].flatMap((k) => ["cpu", "memory"].filter((r) => res[k]?.[r] === undefined).map((r) => `no ${k}.${r}`)),
					].flat());
					checkFlags(cat, ["warmup"], cmd.slice(1));
					continue;
				}
				// t9kfs run --in-pod --data REPO@COMMIT[:PATH]=DIR ... --output REPO@BRANCH=DIR ... -- CMD
				const dash = cmd.indexOf("--");
				const opts = dash < 0 ? cmd : cmd.slice(0, dash);
				const values = (flag) => opts.flatMap((a, k) => a === flag ? [opts[k + 1]] : []);
				check(cat, "runs t9kfs run --in-pod with the pinned inputs and the output branch, then --", [
					js(cmd.slice(0, 3)) !== js(["t9kfs", "run", "--in-pod"]) && `command starts ${cmd.slice(0, 3).join(" ")}`,
					dash < 0 && "no --",
					dash === cmd.length - 1 && "no command after --",
					js(values("--data")) !== js(inputs.map((i) => mountArg(i, i.commit))) && `--data ${values("--data").join(" ")}`,
					js(values("--output")) !== js(output ? [mountArg({ ...output, path: "" }, output.branch)] : []) && `--output ${values("--output").join(" ")}`,
					inputs.some((i) => !volumes.has(`data-${inputs.indexOf(i)}`)) && "an input without its volume",
				]);
				checkFlags(cat, ["run"], cmd.slice(2, dash < 0 ? undefined : dash));
			}
		}
		if (volcano && kind === "Job")
			say(`  gang: PodGroup ${podGroups.map((p) => p.metadata?.name).join(",") || "-"}`);
	}
}

for (const f of files) await render(f);
if (summaryOut) fs.writeFileSync(summaryOut, summary.join("\n") + "\n");
console.log(`validate-job: ${checks} checks, ${failures} failed`);
process.exit(failures ? 1 : 0);
