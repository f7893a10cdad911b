// What the offline validators of Kubernetes objects share (no cluster):
// the npm packages kubernetes-models@5 (schemas of the core types) and
// yaml@2, loaded from a node_modules given at run time, and a check for
// unknown fields, which kubernetes-models does not flag.
// Used by test/csi/validate-manifests.mjs and test/job/validate-job.mjs.
//
//   const k8s = k8sModels("/path/to/node_modules");
//   k8s.YAML.parseAllDocuments(text, { version: "1.1" });
//   await k8s.validateCore(obj)           // problems of a core object, [] if none
//   k8s.unknownFields(obj, k8s.dts("v1", "Pod"), "Pod", [])

import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

export function k8sModels(modules) {
	const YAML = createRequire(path.join(modules, "noop.js"))("yaml");
	const importModule = (p) => import(pathToFileURL(path.join(modules, p)).href);

	// Unknown fields: kubernetes-models validates types and required fields
	// but allows any extra key. Its .d.ts files list each type's properties
	// and the types they refer to (imports), so walk the object against them.
	const ifaces = new Map();
	function iface(dts) {
		if (ifaces.has(dts)) return ifaces.get(dts);
		let result = null;
		if (fs.existsSync(dts)) {
			const src = fs.readFileSync(dts, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
			const imports = new Map();
			for (const m of src.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g)) {
				const target = m[2].startsWith(".")
					? path.resolve(path.dirname(dts), m[2].replace(/\.js$/, ".d.ts"))
					: path.join(modules, m[2] + ".d.ts");
				for (const name of m[1].split(",")) imports.set(name.trim().split(/\s+as\s+/).pop(), target);
			}
			const head = src.match(/export interface \w+(?: extends [\w, ]+)? \{/);
			if (head) {
				result = new Map(); // property -> { child: d.ts or null, many: array/map }
				for (const decl of topLevel(src, head.index + head[0].length)) {
					const m = decl.match(/^\s*"?([^"?:\s]+)"?\??:\s*([\s\S]+)$/);
					if (!m) continue;
					let type = m[2].trim(), many = false;
					const arr = type.match(/^Array<([\s\S]+)>$/);
					const map = type.match(/^\{\s*\[key: string\]:\s*([\s\S]+?);?\s*\}$/);
					if (arr || map) { type = (arr || map)[1].trim(); many = true; }
					result.set(m[1], { child: imports.get(type) ?? null, many });
				}
			}
		}
		ifaces.set(dts, result);
		return result;
	}
	// The declarations of an interface body (from just after its "{"), split on
	// ";" outside nested braces and angle brackets.
	function topLevel(src, i) {
		const decls = [];
		let depth = 0, cur = "";
		for (; i < src.length; i++) {
			const c = src[i];
			if (c === "{" || c === "<") depth++;
			if (c === "}" || c === ">") {
				if (depth === 0) break;
				depth--;
			}
			if (c === ";" && depth === 0) { decls.push(cur); cur = ""; } else cur += c;
		}
		return decls;
	}
	// The paths (where.a.b[name]) of value's keys that its type does not have.
	function unknownFields(value, dts, where, out) {
		const props = iface(dts);
		if (!props || value === null || typeof value !== "object" || Array.isArray(value)) return out;
		for (const [k, v] of Object.entries(value)) {
			const p = props.get(k);
			if (!p) { out.push(`${where}.${k}`); continue; }
			if (!p.child || v === null || typeof v !== "object") continue;
			if (p.many) {
				for (const [i, e] of Object.entries(v))
					unknownFields(e, p.child, `${where}.${k}[${e?.name ?? i}]`, out);
			} else unknownFields(v, p.child, `${where}.${k}`, out);
		}
		return out;
	}

	// The .d.ts of a type: of kind in API group/version api ("v1", "batch/v1").
	const dts = (api, kind) => path.join(modules, "kubernetes-models", api, `${kind}.d.ts`);
	const OBJECT_META = path.join(modules, "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta.d.ts");

	// The kubernetes-models class of a type (a kind, or a part such as
	// PodSpec), or null when it has none.
	async function modelClass(api, kind) {
		if (api === "meta/v1" && kind === "ObjectMeta")
			return (await importModule("@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta.js")).ObjectMeta;
		try { return (await importModule(`kubernetes-models/${api}/${kind}.js`))[kind] ?? null; } catch { return null; }
	}
	// The schema problems of value as type kind of api, and its unknown
	// fields: a list of sentences, empty when it is fine; null when
	// kubernetes-models has no such type.
	async function validateType(api, kind, value, where = kind) {
		const Cls = await modelClass(api, kind);
		if (!Cls) return null;
		const out = [];
		try { new Cls(value).validate(); } catch (e) { out.push(`${where}: ${e.message}`); }
		const d = api === "meta/v1" ? OBJECT_META : dts(api, kind);
		for (const u of unknownFields(value, d, where, [])) out.push(`${u} is not a field`);
		return out;
	}

	return { YAML, importModule, unknownFields, dts, OBJECT_META, modelClass, validateType };
}
