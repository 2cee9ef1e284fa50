import { ApiStatusError, badRequest, type Obj } from './status.js';

/** The four patch content types (fidelity spec §5). */
export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export function patchTypeOf(contentType: string): PatchType | undefined {
  const ct = contentType.split(';')[0]!.trim().toLowerCase();
  switch (ct) {
    case 'application/json-patch+json': return 'json';
    case 'application/merge-patch+json': return 'merge';
    case 'application/strategic-merge-patch+json': return 'strategic';
    case 'application/apply-patch+yaml': return 'apply';
    default: return undefined;
  }
}

function isMap(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a as Obj).filter((k) => (a as Obj)[k] !== undefined);
  const kb = Object.keys(b as Obj).filter((k) => (b as Obj)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!deepEqual((a as Obj)[k], (b as Obj)[k])) return false;
  return true;
}

// ---------------------------------------------------------------- RFC 6902 JSON Patch

/** A JSON patch that does not apply: kube-apiserver answers 422 with empty details (`detail` is for readers of this code). */
function rejected(_detail: string): ApiStatusError {
  return new ApiStatusError(422, 'Invalid', `the server rejected our request due to an error in our request`, {});
}

function parsePointer(p: unknown): string[] {
  if (typeof p !== 'string') throw rejected(`path must be a string, got ${JSON.stringify(p)}`);
  if (p === '') return [];
  if (!p.startsWith('/')) throw rejected(`path "${p}" does not start with /`);
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: unknown, tokens: string[], op: string): { parent: Obj | unknown[]; key: string } {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isMap(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw rejected(`${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`);
  }
  if (!Array.isArray(cur) && !isMap(cur)) throw rejected(`${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`);
  return { parent: cur, key: tokens[tokens.length - 1]! };
}

function getAt(doc: unknown, tokens: string[], op: string): unknown {
  if (tokens.length === 0) return doc;
  const { parent, key } = parentOf(doc, tokens, op);
  const v = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (v === undefined) throw rejected(`${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`);
  return v;
}

function arrayIndex(parent: unknown[], key: string, forAdd: boolean, op: string): number {
  if (forAdd && key === '-') return parent.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw rejected(`${op} operation does not apply: invalid array index "${key}"`);
  const i = Number(key);
  if (i > parent.length || (!forAdd && i === parent.length)) throw rejected(`${op} operation does not apply: index ${i} out of bounds`);
  return i;
}

function removeAt(doc: unknown, tokens: string[], op: string): unknown {
  const { parent, key } = parentOf(doc, tokens, op);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, false, op), 1)[0];
  if (!(key in parent)) throw rejected(`${op} operation does not apply: doc is missing key: /${tokens.join('/')}: missing value`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(doc: unknown, tokens: string[], value: unknown, op: string): unknown {
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, op);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true, op), 0, value);
  else parent[key] = value;
  return doc;
}

export function applyJsonPatch(doc: Obj, ops: unknown): Obj {
  if (!Array.isArray(ops)) throw badRequest('error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp');
  let out: unknown = clone(doc);
  for (const raw of ops) {
    if (!isMap(raw)) throw rejected('each operation must be an object');
    const op = String(raw.op);
    const path = parsePointer(raw.path);
    switch (op) {
      case 'add': out = addAt(out, path, clone(raw.value), op); break;
      case 'remove': removeAt(out, path, op); break;
      case 'replace': {
        if (path.length === 0) { out = clone(raw.value); break; }
        // kube-apiserver replaces a missing key of an existing object as an add (seen on v1.37)
        const parent = path.length > 1 ? getAt(out, path.slice(0, -1), op) : out;
        if (!(isMap(parent) && !(path[path.length - 1]! in parent))) {
          getAt(out, path, op);
          removeAt(out, path, op);
        }
        out = addAt(out, path, clone(raw.value), op);
        break;
      }
      case 'move': {
        const v = removeAt(out, parsePointer(raw.from), op);
        out = addAt(out, path, v, op);
        break;
      }
      case 'copy': out = addAt(out, path, clone(getAt(out, parsePointer(raw.from), op)), op); break;
      case 'test':
        if (!deepEqual(getAt(out, path, op), raw.value)) throw rejected(`testing value /${path.join('/')} failed: test failed`);
        break;
      default: throw rejected(`Unexpected kind: ${op}`);
    }
  }
  if (!isMap(out)) throw rejected('the patch turned the object into something that is not an object');
  return out;
}

// ---------------------------------------------------------------- RFC 7386 merge patch

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return clone(patch);
  const out: Obj = isMap(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

// ---------------------------------------------------------------- strategic merge patch

/**
 * Strategic merge (kubectl patch, client-side apply): maps merge, lists with a merge key merge
 * element by element, `''` keys mark sets of primitives, every other list is replaced whole.
 * Directives: `$patch` (replace/delete/merge), `$retainKeys`, `$deleteFromPrimitiveList/F`,
 * `$setElementOrder/F` (accepted, order not enforced).
 */
export function applyStrategicPatch(target: Obj, patch: unknown, mergeKeys: Readonly<Record<string, string>>): Obj {
  if (!isMap(patch)) throw badRequest('strategic merge patch must be a JSON object');
  return mergeMap(target, patch, '', mergeKeys) ?? {};
}

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function mergeMap(target: unknown, patch: Obj, path: string, keys: Readonly<Record<string, string>>): Obj | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  const base: Obj = directive === 'replace' ? {} : isMap(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const drop = Array.isArray(v) ? v : [];
      if (Array.isArray(base[field])) base[field] = (base[field] as unknown[]).filter((x) => !drop.some((d) => deepEqual(d, x)));
      continue;
    }
    const p = childPath(path, k);
    if (v === null) delete base[k];
    else if (isMap(v)) {
      const merged = mergeMap(base[k], v, p, keys);
      if (merged === undefined) delete base[k];
      else base[k] = merged;
    } else if (Array.isArray(v)) base[k] = mergeList(base[k], v, p, keys);
    else base[k] = v;
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set<string>(patch.$retainKeys as string[]);
    for (const k of Object.keys(base)) if (!keep.has(k)) delete base[k];
  }
  return base;
}

function mergeList(target: unknown, patch: unknown[], path: string, keys: Readonly<Record<string, string>>): unknown[] {
  const mergeKey = keys[path];
  if (mergeKey === undefined) return clone(patch).filter((e) => !(isMap(e) && e.$patch !== undefined));
  const current = Array.isArray(target) ? [...target] : [];
  if (patch.some((e) => isMap(e) && e.$patch === 'replace')) {
    return clone(patch.filter((e) => !(isMap(e) && e.$patch === 'replace')));
  }
  if (mergeKey === '') {
    for (const e of patch) if (!current.some((c) => deepEqual(c, e))) current.push(clone(e));
    return current;
  }
  const itemPath = `${path}[]`;
  for (const e of patch) {
    if (!isMap(e)) {
      current.push(clone(e));
      continue;
    }
    const idx = current.findIndex((c) => isMap(c) && deepEqual(c[mergeKey], e[mergeKey]));
    if (e.$patch === 'delete') {
      if (idx >= 0) current.splice(idx, 1);
      continue;
    }
    if (idx >= 0) current[idx] = mergeMap(current[idx], e, itemPath, keys) ?? {};
    else current.push(mergeMap({}, e, itemPath, keys) ?? {});
  }
  return current;
}
