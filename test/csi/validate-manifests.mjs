// Offline checks of the Kubernetes deployment in csi/deploy: no cluster,
// no Docker. Run by test/integration/t0710-csi-manifests.sh.
//
//   node validate-manifests.mjs --modules DIR --bin T9KFS [--no-dockerfile] DEPLOY_DIR
//
// --modules: a node_modules holding kubernetes-models@5 and yaml@2;
// --bin: the t9kfs binary whose --help the containers' flags must match and
// whose shared libraries the image must provide.
// Every check prints one line, "ok   FILE: RULE" or "FAIL FILE: RULE: why";
// the exit status is 1 when any check failed (2: bad usage).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { k8sModels } from "./k8s-models.mjs";

// ---------------------------------------------------------------- arguments

const argv = process.argv.slice(2);
let modules = null, bin = null, dockerfile = true, deployDir = null;
for (let i = 0; i < argv.length; i++) {
	if (argv[i] === "--modules") modules = argv[++i];
	else if (argv[i] === "--bin") bin = argv[++i];
	else if (argv[i] === "--no-dockerfile") dockerfile = false;
	else if (!deployDir && !argv[i].startsWith("-")) deployDir = argv[i];
	else usage();
}
if (!modules || !bin || !deployDir) usage();
function usage() {
	console.error("usage: node validate-manifests.mjs --modules DIR --bin T9KFS [--no-dockerfile] DEPLOY_DIR");
	process.exit(2);
}
modules = path.resolve(modules);
deployDir = path.resolve(deployDir);

const { YAML, importModule, unknownFields, OBJECT_META } = k8sModels(modules);

// ---------------------------------------------------------------- reporting

let checks = 0, failures = 0;
function check(file, rule, problems) {
	checks++;
	problems = [].concat(problems ?? []).filter(Boolean);
	if (problems.length === 0) {
		console.log(`ok   ${file}: ${rule}`);
	} else {
		failures++;
		console.log(`FAIL ${file}: ${rule}: ${problems.join("; ")}`);
	}
}

// ---------------------------------------------------------------- constants

const NS = "t9kfs";
const T9KFS_IMAGE = "ghcr.io/t9kfs/t9kfs:";
const PRIVILEGED_OK = new Set(["csi-node", "mounter"]); // STYLE.md: only the node side mounts
const KUBELET_DIR = "/var/lib/kubelet";
const LABELS = ["app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"];
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CSIDriver",
	"StorageClass", "VolumeSnapshotClass", "PersistentVolume"]);
const WORKLOADS = new Set(["Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"]);

// ---------------------------------------------------------------- load the files

function yamlFiles(dir) {
	const out = [];
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) out.push(...yamlFiles(p));
		else if (/\.ya?ml$/.test(e.name)) out.push(p);
	}
	return out.sort();
}

const objects = []; // { file, obj, example }
for (const abs of yamlFiles(deployDir)) {
	const file = path.relative(deployDir, abs);
	// kubectl reads YAML 1.1 (0400 is octal there, as in defaultMode: 0400).
	const docs = YAML.parseAllDocuments(fs.readFileSync(abs, "utf8"), { version: "1.1" });
	const errors = docs.flatMap((d) => d.errors.map((e) => e.message.split("\n")[0]));
	const values = errors.length ? [] : docs.map((d) => d.toJS()).filter((v) => v != null);
	check(file, "one object per file", errors.length ? errors
		: values.length !== 1 ? `${values.length} objects` : null);
	if (errors.length === 0 && values.length === 1)
		objects.push({ file, obj: values[0], example: file.split(path.sep)[0] === "examples" });
}

// ---------------------------------------------------------------- schemas

// Unknown fields (kubernetes-models allows any extra key): unknownFields
// walks an object against the types' .d.ts files (k8s-models.mjs).

// Kinds kubernetes-models does not cover, written from their published
// definitions: the external-snapshotter CRDs (client/config/crd/
// snapshot.storage.k8s.io_volumesnapshot{s,classes}.yaml, v1) and kustomize's
// Kustomization type (api/types/kustomization.go). "meta" is an ObjectMeta.
const str = { type: "string" }, strMap = { type: "object", additional: str };
const any = { type: "any" }, list = { type: "array", items: any };
const typeMeta = { apiVersion: str, kind: str, metadata: { type: "meta" } };
const HAND_SCHEMAS = {
	"snapshot.storage.k8s.io/v1/VolumeSnapshotClass": {
		type: "object", required: ["apiVersion", "kind", "driver", "deletionPolicy"],
		properties: { ...typeMeta, driver: str, parameters: strMap,
			deletionPolicy: { type: "string", enum: ["Delete", "Retain"] } },
	},
	"snapshot.storage.k8s.io/v1/VolumeSnapshot": {
		type: "object", required: ["apiVersion", "kind", "spec"],
		properties: {
			...typeMeta, status: { type: "object", additional: any },
			spec: {
				type: "object", required: ["source"],
				properties: {
					volumeSnapshotClassName: str,
					source: {
						type: "object", exactlyOne: ["persistentVolumeClaimName", "volumeSnapshotContentName"],
						properties: { persistentVolumeClaimName: str, volumeSnapshotContentName: str },
					},
				},
			},
		},
	},
	"kustomize.config.k8s.io/v1beta1/Kustomization": {
		type: "object", required: ["apiVersion", "kind"],
		properties: {
			...typeMeta, resources: { type: "array", items: str }, components: { type: "array", items: str },
			namespace: str, namePrefix: str, nameSuffix: str, commonLabels: strMap, commonAnnotations: strMap,
			labels: list, images: list, patches: list, patchesStrategicMerge: list, patchesJson6902: list,
			replacements: list, replicas: list, configMapGenerator: list, secretGenerator: list,
			generatorOptions: { type: "object", additional: any }, configurations: list, crds: list,
			openapi: { type: "object", additional: any }, buildMetadata: list, helmCharts: list,
			transformers: list, generators: list, validators: list, vars: list,
			sortOptions: { type: "object", additional: any },
		},
	},
};
async function handSchema(v, s, where, out) {
	if (s.type === "any") return out;
	if (s.type === "meta") {
		const { ObjectMeta } = await importModule("@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta.js");
		try { new ObjectMeta(v).validate(); } catch (e) { out.push(`${where}: ${e.message}`); }
		for (const u of unknownFields(v, OBJECT_META, where, [])) out.push(`${u}: unknown field`);
		return out;
	}
	if (s.type === "string") {
		if (typeof v !== "string") out.push(`${where}: want a string`);
		else if (s.enum && !s.enum.includes(v)) out.push(`${where}: want one of ${s.enum.join(", ")}`);
		return out;
	}
	if (s.type === "array") {
		if (!Array.isArray(v)) out.push(`${where}: want a list`);
		else for (const [i, e] of v.entries()) await handSchema(e, s.items, `${where}[${i}]`, out);
		return out;
	}
	if (v === null || typeof v !== "object" || Array.isArray(v)) return out.push(`${where}: want an object`), out;
	for (const r of s.required ?? []) if (!(r in v)) out.push(`${where}.${r}: required`);
	if (s.exactlyOne && s.exactlyOne.filter((k) => k in v).length !== 1)
		out.push(`${where}: want exactly one of ${s.exactlyOne.join(", ")}`);
	for (const [k, x] of Object.entries(v)) {
		const ps = s.properties?.[k] ?? s.additional;
		if (!ps) out.push(`${where}.${k}: unknown field`);
		else await handSchema(x, ps, `${where}.${k}`, out);
	}
	return out;
}

for (const { file, obj } of objects) {
	const api = obj.apiVersion, kind = obj.kind;
	if (typeof api !== "string" || typeof kind !== "string") {
		check(file, "schema", "no apiVersion or kind");
		continue;
	}
	const hand = HAND_SCHEMAS[`${api}/${kind}`];
	if (hand) {
		check(file, `schema (${api} ${kind}, by hand)`, await handSchema(obj, hand, kind, []));
		continue;
	}
	let Cls = null;
	try { Cls = (await importModule(`kubernetes-models/${api}/index.js`))[kind]; } catch { /* no such group */ }
	if (!Cls) {
		check(file, "schema", `no schema for ${api} ${kind}`);
		continue;
	}
	let problem = null;
	try { new Cls(obj).validate(); } catch (e) { problem = e.message; }
	check(file, `schema (${api} ${kind})`, problem);
	const dts = path.join(modules, "kubernetes-models", api, `${kind}.d.ts`);
	check(file, "unknown fields", unknownFields(obj, dts, kind, []).map((u) => `${u} is not a field`));
}

// ---------------------------------------------------------------- per-object rules

const byKind = (kind) => objects.filter((o) => o.obj.kind === kind);
const named = (kind, name) => byKind(kind).find((o) => o.obj.metadata?.name === name && !o.example);
const podSpecOf = (obj) => obj.kind === "Pod" ? obj.spec : WORKLOADS.has(obj.kind) ? obj.spec?.template?.spec : null;
const t9kfsTags = new Map(); // tag -> files
const helpCache = new Map();

// Labels, STYLE.md "Manifests": every object; examples at least part-of.
for (const { file, obj, example } of objects) {
	if (obj.kind === "Kustomization") continue; // kustomize's input, never applied
	const want = example ? [LABELS[2]] : LABELS;
	const metas = [["metadata", obj.metadata]];
	if (WORKLOADS.has(obj.kind)) metas.push(["pod template", obj.spec?.template?.metadata]);
	for (const t of obj.spec?.volumeClaimTemplates ?? []) metas.push([`claim template ${t.metadata?.name}`, t.metadata]);
	const problems = [];
	for (const [where, m] of metas) {
		for (const l of want) if (!m?.labels?.[l]) problems.push(`${where} lacks ${l}`);
		for (const l of [LABELS[0], LABELS[2]])
			if (m?.labels?.[l] && m.labels[l] !== "t9kfs") problems.push(`${where}: ${l} is not t9kfs`);
	}
	const sel = obj.spec?.selector?.matchLabels;
	if (WORKLOADS.has(obj.kind))
		for (const [k, v] of Object.entries(sel ?? {}))
			if (obj.spec?.template?.metadata?.labels?.[k] !== v) problems.push(`selector ${k}=${v} does not match the pod template`);
	check(file, "app.kubernetes.io labels", problems);
	if (!example && !CLUSTER_SCOPED.has(obj.kind))
		check(file, `namespace ${NS}`, obj.metadata?.namespace === NS ? null : `namespace is ${obj.metadata?.namespace}`);
}

// Pods and pod templates.
for (const { file, obj, example } of objects) {
	const spec = podSpecOf(obj);
	if (!spec) continue;
	const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
	for (const t of obj.spec?.volumeClaimTemplates ?? []) volumes.set(t.metadata?.name, { claimTemplate: t });
	if (!example && spec.serviceAccountName)
		check(file, "service account exists", named("ServiceAccount", spec.serviceAccountName) ? null
			: `no ServiceAccount ${spec.serviceAccountName}`);
	const all = [...(spec.initContainers ?? []).map((c) => [c, true]), ...(spec.containers ?? []).map((c) => [c, false])];
	for (const [c, init] of all) {
		const at = `container ${c.name}`;
		const res = c.resources ?? {};
		check(file, `${at}: resources`, ["requests", "limits"].flatMap((k) => ["cpu", "memory"]
			.filter((r) => res[k]?.[r] === undefined).map((r) => `no ${k}.${r}`)));
		// The API server allows probes on init containers only for sidecars
		// (restartPolicy: Always): those must have one, the others none.
		const sidecar = !init || c.restartPolicy === "Always";
		check(file, `${at}: liveness probe`, sidecar === !!c.livenessProbe ? null
			: sidecar ? "no livenessProbe" : "an init container may not have a livenessProbe");

		const sc = c.securityContext ?? {};
		check(file, `${at}: privileged only for ${[...PRIVILEGED_OK].join(" and ")}`,
			sc.privileged && !PRIVILEGED_OK.has(c.name) ? "privileged: true" : null);
		if (!example && !sc.privileged)
			check(file, `${at}: least privilege`, [
				sc.allowPrivilegeEscalation !== false && "allowPrivilegeEscalation is not false",
				!(sc.capabilities?.drop ?? []).includes("ALL") && "capabilities do not drop ALL",
				(sc.capabilities?.add ?? []).length && `adds capabilities ${sc.capabilities.add}`,
			]);

		// A named probe port is looked up in the probed container's ports.
		const ports = new Set((c.ports ?? []).map((p) => p.name));
		const probePorts = ["livenessProbe", "readinessProbe", "startupProbe"].flatMap((p) =>
			[c[p]?.httpGet?.port, c[p]?.tcpSocket?.port, c[p]?.grpc?.port].filter((x) => typeof x === "string")
				.filter((x) => !ports.has(x)).map((x) => `${p} port ${x} is not a port of the container`));
		check(file, `${at}: probe ports`, probePorts);

		const env = new Set((c.env ?? []).map((e) => e.name));
		const refs = [...(c.command ?? []), ...(c.args ?? [])].flatMap((a) => [...String(a).matchAll(/\$\((\w+)\)/g)].map((m) => m[1]));
		check(file, `${at}: $(VAR) references`, refs.filter((r) => !env.has(r)).map((r) => `$(${r}) is not in env`));

		check(file, `${at}: volume mounts`, (c.volumeMounts ?? []).flatMap((m) => [
			!volumes.has(m.name) && `no volume ${m.name}`,
			m.mountPropagation === "Bidirectional" && !sc.privileged && `${m.mountPath}: Bidirectional needs privileged`,
		]));
		if (!example) {
			const missing = (c.env ?? []).map((e) => e.valueFrom?.secretKeyRef).filter(Boolean).filter((r) => {
				const s = named("Secret", r.name)?.obj;
				return !s || !(r.key in { ...s.data, ...s.stringData });
			}).map((r) => `no key ${r.key} in Secret ${r.name}`);
			check(file, `${at}: secret references`, missing);
		}

		// The node plugin and the mounter mount into the kubelet's directory:
		// only Bidirectional carries those mounts back to the host.
		if (PRIVILEGED_OK.has(c.name)) {
			const m = (c.volumeMounts ?? []).find((v) => v.mountPath === KUBELET_DIR);
			check(file, `${at}: ${KUBELET_DIR} mount is Bidirectional`, !m ? `no mount at ${KUBELET_DIR}`
				: m.mountPropagation !== "Bidirectional" ? `mountPropagation is ${m.mountPropagation ?? "None"}` : null);
		}
		// Example pods see a remount by the driver only with HostToContainer.
		if (example) {
			const t9kfsVolume = (v) => v?.csi?.driver || v?.persistentVolumeClaim;
			check(file, `${at}: t9kfs volumes use HostToContainer`, (c.volumeMounts ?? [])
				.filter((m) => t9kfsVolume(volumes.get(m.name)) && m.mountPropagation !== "HostToContainer")
				.map((m) => `${m.mountPath}: mountPropagation is ${m.mountPropagation ?? "None"}`));
		}

		const image = c.image ?? "";
		const tag = image.includes("@") ? "digest" : image.split("/").pop().split(":")[1];
		check(file, `${at}: image pinned`, !tag || tag === "latest" ? `image ${image} has no fixed tag` : null);
		if (image.startsWith(T9KFS_IMAGE)) {
			t9kfsTags.set(tag, [...(t9kfsTags.get(tag) ?? []), file]);
			checkFlags(file, at, (c.args ?? []).map(String));
			for (const p of ["livenessProbe", "readinessProbe", "startupProbe"])
				if (c[p]?.exec?.command?.[0] === "t9kfs") checkFlags(file, `${at} ${p}`, c[p].exec.command.slice(1));
		}
	}
	// Token files: the metadata service refuses one that group or others can read.
	for (const c of spec.containers ?? []) {
		const i = (c.args ?? []).indexOf("--token-file");
		if (i < 0) continue;
		const f = c.args[i + 1];
		const m = (c.volumeMounts ?? []).find((v) => f.startsWith(v.mountPath.replace(/\/?$/, "/")));
		const sec = volumes.get(m?.name)?.secret;
		const item = sec?.items?.find((it) => path.posix.join(m.mountPath, it.path) === f);
		const mode = item?.mode ?? sec?.defaultMode ?? 0o644;
		check(file, `container ${c.name}: token file mode`, !sec ? `${f} is not on a secret volume`
			: mode & 0o077 ? `${f} has mode 0${mode.toString(8)}, want 0400` : null);
	}
}

// Every --flag a t9kfs container passes must be one its subcommand's --help
// lists (the image runs the same binary).
function checkFlags(file, at, args) {
	const words = [];
	for (const a of args) { if (a.startsWith("-")) break; words.push(a); }
	const cmd = `t9kfs ${words.join(" ")}`.trim();
	const flags = [...new Set(args.filter((a) => /^--?[a-zA-Z]/.test(a)).map((a) => a.split("=")[0]))];
	if (!helpCache.has(cmd)) {
		const r = spawnSync(bin, [...words, "--help"], { encoding: "utf8" });
		const text = `${r.stdout ?? ""}${r.stderr ?? ""}`;
		const ok = r.status === 0 && new RegExp(`^usage: ${cmd}\\b`, "m").test(text);
		helpCache.set(cmd, ok ? { flags: new Set(text.match(/--?[a-zA-Z][\w-]*/g)) }
			: { error: `'${cmd} --help' failed (exit ${r.status ?? r.signal}): ${(r.error?.message ?? text).trim().split("\n")[0]}` });
	}
	const h = helpCache.get(cmd);
	check(file, `${at}: flags of '${cmd}' are in its --help`, h.error ? h.error
		: flags.filter((f) => !h.flags.has(f)).map((f) => `${f} is not in '${cmd} --help'`));
}

// ---------------------------------------------------------------- across objects

check("(all)", `one ${T9KFS_IMAGE}* tag`, t9kfsTags.size > 1
	? [...t9kfsTags].map(([t, f]) => `${t} in ${[...new Set(f)].join(", ")}`).join("; ") : null);

// kustomization.yaml lists every non-example object file, and only those.
{
	const k = objects.find((o) => o.file === "kustomization.yaml");
	const listed = new Set(k?.obj.resources ?? []);
	const files = objects.filter((o) => !o.example && o.file !== "kustomization.yaml").map((o) => o.file);
	check("kustomization.yaml", "lists every manifest, each existing, no example", !k ? "missing" : [
		...[...listed].filter((r) => !fs.existsSync(path.join(deployDir, r))).map((r) => `${r} does not exist`),
		...[...listed].filter((r) => r.startsWith("examples/")).map((r) => `${r} is an example`),
		...files.filter((f) => !listed.has(f)).map((f) => `${f} is not listed`),
	]);
}

// One driver name: CSIDriver, StorageClass, VolumeSnapshotClass, the volumes
// of the examples, and the node plugin's directories.
{
	const drivers = byKind("CSIDriver").filter((o) => !o.example);
	const name = drivers[0]?.obj.metadata?.name;
	check("csidriver.yaml", "one CSIDriver", drivers.length === 1 ? null : `${drivers.length} CSIDriver objects`);
	const uses = [
		...byKind("StorageClass").map((o) => [o.file, "provisioner", o.obj.provisioner]),
		...byKind("VolumeSnapshotClass").map((o) => [o.file, "driver", o.obj.driver]),
		...byKind("PersistentVolume").map((o) => [o.file, "csi.driver", o.obj.spec?.csi?.driver]),
		...objects.flatMap((o) => (podSpecOf(o.obj)?.volumes ?? []).filter((v) => v.csi)
			.map((v) => [o.file, `volume ${v.name}`, v.csi.driver])),
	];
	for (const [file, what, value] of uses)
		check(file, `${what} is the CSIDriver's name`, value === name ? null : `${value} is not ${name}`);
	for (const { file, obj } of byKind("DaemonSet")) {
		const spec = podSpecOf(obj);
		const reg = spec.containers.flatMap((c) => c.args ?? []).find((a) => a.startsWith("--kubelet-registration-path="));
		if (!reg) continue;
		const plugin = `${KUBELET_DIR}/plugins/${name}`;
		const dir = spec.containers.flatMap((c) => c.volumeMounts ?? []).find((m) => m.mountPath === "/csi");
		const host = spec.volumes.find((v) => v.name === dir?.name)?.hostPath?.path;
		check(file, "registration path names the driver", [
			reg.split("=")[1] !== `${plugin}/csi.sock` && `${reg} is not ${plugin}/csi.sock`,
			host !== plugin && `/csi is hostPath ${host}, not ${plugin}`,
		]);
	}
}

// RBAC: bindings name roles and service accounts that exist here.
for (const { file, obj } of [...byKind("RoleBinding"), ...byKind("ClusterRoleBinding")]) {
	check(file, "binding references", [
		!named(obj.roleRef?.kind, obj.roleRef?.name) && `no ${obj.roleRef?.kind} ${obj.roleRef?.name}`,
		...(obj.subjects ?? []).filter((s) => s.kind === "ServiceAccount" &&
			(s.namespace !== NS || !named("ServiceAccount", s.name))).map((s) => `no ServiceAccount ${s.namespace}/${s.name}`),
	]);
}

// ---------------------------------------------------------------- Dockerfile

// The image, statically: Docker does not run here. Its packages must exist
// in Debian 12 (this machine's apt lists), and every shared library of the
// binary must come from a package the final stage installs (with their
// dependencies) or from debian:12-slim itself.
const SLIM_BASE = new Set(["libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libzstd1", "liblz4-1", "liblzma5",
	"libbz2-1.0", "libcrypt1", "libselinux1", "libpcre2-8-0", "libsystemd0", "libudev1", "libgcrypt20",
	"libgpg-error0", "libcap2", "libacl1", "libattr1", "libblkid1", "libmount1", "libuuid1", "libsmartcols1",
	"libtinfo6", "libgmp10", "libgnutls30", "libhogweed6", "libnettle8", "libidn2-0", "libunistring2",
	"libp11-kit0", "libtasn1-6", "libffi8", "libxxhash0", "libmd0", "libseccomp2", "libaudit1", "libcap-ng0"]);
const SKIP_LIBS = /^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libasan\.so|libubsan\.so)/;

function dockerStages(text) {
	const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
	const stages = [];
	for (const l of lines) {
		const m = l.match(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i);
		if (m) stages.push({ from: m[1], name: m[2], lines: [] });
		else stages.at(-1)?.lines.push(l);
	}
	return stages;
}
const aptInstalls = (stage) => stage.lines.filter((l) => /^RUN\s/i.test(l)).flatMap((l) =>
	[...l.matchAll(/apt-get\s+install\s+([^&;|]*)/g)].flatMap((m) => m[1].split(/\s+/).filter((w) => w && !w.startsWith("-"))));
const sh = (cmd, args) => spawnSync(cmd, args, { encoding: "utf8" });

if (dockerfile) {
	const file = "Dockerfile";
	const text = fs.existsSync(path.join(deployDir, file)) ? fs.readFileSync(path.join(deployDir, file), "utf8") : null;
	const stages = text ? dockerStages(text) : [];
	const final = stages.at(-1);
	check(file, "final stage is debian:12-slim", !final ? "no Dockerfile or no FROM"
		: final.from !== "debian:12-slim" ? `final stage is ${final.from}` : null);
	check(file, "builder stage is debian:12 and runs make t9kfs",
		stages.length < 2 ? "no builder stage" : [
			stages[0].from !== "debian:12" && `builder is ${stages[0].from}`,
			!stages[0].lines.some((l) => /\bmake\b.*\bt9kfs\b/.test(l)) && "no 'make t9kfs'",
		]);
	check(file, "final stage copies t9kfs and runs it", !final ? "no final stage" : [
		!final.lines.some((l) => /^COPY\s+--from=\S+\s+\S+\s+\/usr\/local\/bin\/t9kfs$/i.test(l)) && "no COPY --from=... /usr/local/bin/t9kfs",
		!final.lines.some((l) => /^ENTRYPOINT\s+\["t9kfs"\]$/i.test(l)) && 'no ENTRYPOINT ["t9kfs"]',
	]);
	// One apt-cache call: "PKG:\n  Installed: ..\n  Candidate: VERSION" each.
	const pkgs = [...new Set(stages.flatMap(aptInstalls))];
	const candidates = new Map();
	if (pkgs.length)
		for (const m of sh("apt-cache", ["policy", ...pkgs]).stdout.matchAll(/^(\S+):\n\s+Installed:.*\n\s+Candidate:\s*(\S+)/gm))
			candidates.set(m[1], m[2]);
	for (const [i, stage] of stages.entries())
		for (const pkg of aptInstalls(stage))
			check(file, `package ${pkg} (stage ${stage.name ?? i}) is in Debian 12`,
				(candidates.get(pkg) ?? "(none)") !== "(none)" ? null : "apt-cache policy shows no candidate");
	// What apt-get install pulls in: the packages and their dependencies.
	const finalPkgs = final ? aptInstalls(final) : [];
	const closure = new Set(SLIM_BASE);
	if (finalPkgs.length) {
		const deps = sh("apt-cache", ["depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
			"--no-breaks", "--no-replaces", "--no-enhances", ...finalPkgs]).stdout;
		for (const l of deps.split("\n")) if (/^[a-z0-9]/.test(l)) closure.add(l.trim().split(":")[0]);
	}
	const ldd = sh("ldd", [bin]);
	check(file, `ldd ${path.basename(bin)}`, ldd.status === 0 ? null : `ldd failed: ${(ldd.stderr || ldd.stdout).trim()}`);
	const libs = [];
	for (const l of (ldd.stdout ?? "").split("\n")) {
		const m = l.trim().match(/^(\S+)(?:\s+=>\s+(\S+))?/);
		if (!m || SKIP_LIBS.test(path.basename(m[1]))) continue;
		libs.push([path.basename(m[1]), m[2] && m[2] !== "not" ? m[2] : m[1].startsWith("/") ? m[1] : null]);
	}
	const owners = dpkgOwners(libs.map(([, lib]) => lib).filter(Boolean));
	for (const [name, lib] of libs) {
		if (!lib) { check(file, `library ${name}`, "not found by ldd"); continue; }
		const owner = owners(lib);
		check(file, `library ${name} comes from ${owner ?? "?"}`, !owner ? `${lib} belongs to no Debian package`
			: closure.has(owner) ? null : `${owner} is not installed by the final stage nor in debian:12-slim`);
	}
}
// The packages owning files, asked of dpkg at once; with merged /usr a
// library may be recorded under /lib or /usr/lib, and as the link or its
// target. Returns a lookup: file -> package or null.
function dpkgOwners(files) {
	const alt = (p) => p.startsWith("/usr/") ? p.slice(4) : `/usr${p}`;
	const variants = (f) => [...new Set([f, alt(f), fs.realpathSync(f), alt(fs.realpathSync(f))])];
	const owner = new Map();
	if (files.length) // exit 1 when some variant is unknown: read what it found
		for (const l of sh("dpkg", ["-S", ...files.flatMap(variants)]).stdout.split("\n")) {
			const m = l.match(/^([^:,\s]+)(?::[\w-]+)?: (\S+)$/);
			if (m) owner.set(m[2], m[1]);
		}
	return (f) => variants(f).map((v) => owner.get(v)).find(Boolean) ?? null;
}

console.log(`validate-manifests: ${checks} checks, ${failures} failed`);
process.exit(failures ? 1 : 0);
