import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { TestApiServer } from '../helpers/api-target.js';
import { bothServers, diffRows, stopSharedControlPlaneAfterAll, type DiffRow } from '../helpers/fidelity-diff.js';
import { raw, waitFor, type Json } from '../helpers/apiserver.js';

/**
 * The differential fidelity suite, part 3: custom resources. config/'s MetalLB CRDs created on
 * the emulator and on the real kube-apiserver, then pools created valid and invalid, listed by
 * label, watched, patched, shown as tables, and the CRD deleted with its objects. Same rule as
 * parts 1 and 2: equal records. The rows run in order and share the CRDs the first one creates.
 */

const NS = 'fidelity-crd';
const CRD = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const POOLS = `/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools`;
const L2 = `/apis/metallb.io/v1beta1/namespaces/${NS}/l2advertisements`;
const MERGE = 'application/merge-patch+json';
const TABLE = { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
const CRDS = parseAllDocuments(readFileSync(fileURLToPath(new URL('../../../config/01-crds-metallb.yaml', import.meta.url)), 'utf8')).map((d) => d.toJSON() as Json);
const NAMES = CRDS.map((c) => c.metadata.name as string);

const pool = (name: string, spec: Json, labels?: Json): Json => ({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, ...(labels ? { labels } : {}) }, spec });

/** A CRD's status with the server's transition times left out. */
function crdStatus(o: Json): Json {
  return { ...o.status, conditions: (o.status?.conditions ?? null)?.map?.(({ lastTransitionTime: _t, ...c }: Json) => c) ?? null };
}

async function established(api: TestApiServer, name: string): Promise<Json> {
  return waitFor(`CRD ${name} established`, async () => {
    const o = (await raw(api, 'GET', `${CRD}/${name}`)).json;
    return (o.status?.conditions ?? []).some((c: Json) => c.type === 'Established' && c.status === 'True') ? o : undefined;
  }, 20_000, 50);
}

async function gone(api: TestApiServer, path: string): Promise<void> {
  await waitFor(`${path} gone`, async () => (await raw(api, 'GET', path)).status === 404, 30_000, 50);
}

type Row = DiffRow;

const rows: Row[] = [
  { name: 'the CRDs of config/ are created with empty conditions, then named and established; discovery lists their resources with the custom-resource verbs', steps: async (r) => {
    for (const c of CRDS) {
      const made = await raw(r.api, 'POST', CRD, { body: c });
      r.note({ code: made.status, spec: made.json.spec, generation: made.json.metadata?.generation, status: crdStatus(made.json) });
    }
    for (const n of NAMES) r.note({ established: crdStatus(await established(r.api, n)) });
    const list = (await raw(r.api, 'GET', '/apis/metallb.io/v1beta1')).json;
    // The real server lists a group's resources in the order their CRDs were registered, which
    // two CRDs created back to back do not fix: compared by name.
    r.note(list.resources.map(({ storageVersionHash: _h, ...e }: Json) => e).sort((a: Json, b: Json) => String(a.name).localeCompare(String(b.name))));
    await r('GET', '/apis/metallb.io');
  } },
  { name: 'a valid pool gets autoAssign and avoidBuggyIPs defaulted and unknown fields pruned with a warning (Strict: 400, sorted, metadata first)', steps: async (r) => {
    const w = await r('POST', POOLS, { body: pool('p-ok', { addresses: ['192.0.2.0/28'], extra: 1 }, { tier: 'front' }) });
    r.note({ warning: w.headers.warning });
    await r('POST', `${POOLS}?fieldValidation=Strict`, { body: { zzz: 1, ...pool('p-strict', { extra: 1, addresses: [], aaa: 2 }), metadata: { name: 'p-strict', bogus: 1 } } });
    await r('POST', `${POOLS}?fieldValidation=Strict`, { body: '{"apiVersion":"metallb.io/v1beta1","kind":"IPAddressPool","metadata":{"name":"d","name":"e"},"spec":{"addresses":[],"addresses":[]}}' });
    await r('POST', POOLS, { body: pool('p-b', { addresses: ['192.0.2.64/28'], autoAssign: false, serviceAllocation: { priority: 10, namespaces: ['a'] } }, { tier: 'back' }) });
  } },
  { name: 'invalid pools are 422 naming IPAddressPool.metallb.io: a wrong type, no spec, a selector requirement without operator, a bad name', steps: async (r) => {
    await r('POST', POOLS, { body: pool('p-type', { addresses: 'x' }) });
    await r('POST', POOLS, { body: pool('p-bool', { addresses: [], avoidBuggyIPs: 'no' }) });
    await r('POST', POOLS, { body: { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'p-nospec' } } });
    await r('POST', POOLS, { body: pool('p-noaddr', {}) });
    await r('POST', POOLS, { body: pool('p-sel', { addresses: [], serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a' }] }] } }) });
    await r('POST', POOLS, { body: pool('P_Bad', { addresses: [] }) });
    await r('POST', L2, { body: { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2-w' }, spec: { preferredNodeSelectors: [{ weight: 0, preference: {} }] } } });
  } },
  { name: 'lists by label selector and metadata.name; another field selector is 400; tables carry MetalLB\'s printer columns and no Age', steps: async (r) => {
    await r('GET', `${POOLS}?labelSelector=${encodeURIComponent('tier in (front,back)')}`);
    await r('GET', `${POOLS}?labelSelector=tier%3Dback`);
    await r('GET', `${POOLS}?fieldSelector=metadata.name%3Dp-ok`);
    await r('GET', `${POOLS}?fieldSelector=spec.autoAssign%3Dtrue`);
    const t = (await raw(r.api, 'GET', POOLS, { headers: TABLE })).json;
    r.note({ columns: (t.columnDefinitions as Json[]).map((c) => [c.name, c.type, c.format, c.priority, c.description.startsWith('Name must') ? 'name' : c.description]), cells: (t.rows as Json[]).map((row) => row.cells) });
    await r('POST', L2, { body: { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2-t' }, spec: { ipAddressPools: ['p-ok'], nodeSelectors: [{ matchLabels: { a: 'b' } }] } } });
    const t2 = (await raw(r.api, 'GET', `${L2}/l2-t`, { headers: TABLE })).json;
    r.note({ columns: (t2.columnDefinitions as Json[]).map((c) => [c.name, c.type, c.priority]), cells: (t2.rows as Json[]).map((row) => row.cells) });
    await r('DELETE', `${L2}/l2-t`);
  } },
  { name: 'patches: merge and JSON patch bump the generation, strategic merge is 415, /status keeps spec and generation, a PUT drops status', steps: async (r) => {
    await r('PATCH', `${POOLS}/p-ok`, { body: { spec: { avoidBuggyIPs: true } }, contentType: MERGE });
    await r('PATCH', `${POOLS}/p-ok`, { body: [{ op: 'add', path: '/spec/addresses/-', value: '192.0.2.99/32' }], contentType: 'application/json-patch+json' });
    await r('PATCH', `${POOLS}/p-ok`, { body: { spec: { autoAssign: false } }, contentType: 'application/strategic-merge-patch+json' });
    const s = await r('PATCH', `${POOLS}/p-ok/status`, { body: { spec: { autoAssign: false }, status: { assignedIPv4: 2 } }, contentType: MERGE });
    await r('PUT', `${POOLS}/p-ok`, { body: { ...s.json, status: { assignedIPv4: 9 } } });
    await r('PATCH', `${POOLS}/p-ok`, { body: { spec: { avoidBuggyIPs: true } }, contentType: MERGE });
  } },
  { name: 'a watch from a list resourceVersion: ADDED, MODIFIED, DELETED', steps: async (r) => {
    const rv = (await raw(r.api, 'GET', POOLS)).json.metadata.resourceVersion;
    const w = r.watch(`${POOLS}?watch=true&resourceVersion=${rv}`);
    await r('POST', POOLS, { body: pool('p-w', { addresses: ['192.0.2.128/28'] }) });
    await r('PATCH', `${POOLS}/p-w`, { body: { metadata: { labels: { seen: 'yes' } } }, contentType: MERGE });
    await r('DELETE', `${POOLS}/p-w`);
    await w.done(3);
  } },
  { name: 'deleting a CRD: the object with the cleanup finalizer and a Terminating condition, DELETED for its objects on a watch that then ends, then the CRD is gone', steps: async (r) => {
    const rv = (await raw(r.api, 'GET', POOLS)).json.metadata.resourceVersion;
    const w = r.watch(`${POOLS}?watch=true&resourceVersion=${rv}`);
    for (const n of NAMES) {
      const d = await raw(r.api, 'DELETE', `${CRD}/${n}`);
      r.note({ code: d.status, finalizers: d.json.metadata?.finalizers, deleting: d.json.metadata?.deletionTimestamp !== undefined, status: crdStatus(d.json) });
    }
    await w.done(10, 20_000);
    for (const n of NAMES) await gone(r.api, `${CRD}/${n}`);
    r.note({ pools: (await raw(r.api, 'GET', POOLS)).status, group: (await raw(r.api, 'GET', '/apis')).json.groups.some((g: Json) => g.name === 'metallb.io') });
  } },
];

describe('fidelity: the emulator and the real kube-apiserver serve custom resources alike (MetalLB\'s CRDs)', function () {
  this.timeout(60_000);

  async function dropCrds(api: TestApiServer): Promise<void> {
    for (const n of NAMES) await raw(api, 'DELETE', `${CRD}/${n}`);
    for (const n of NAMES) await gone(api, `${CRD}/${n}`);
  }

  const both = bothServers(NS, {
    prepare: dropCrds, // a run that failed half-way left them on the shared control plane
    cleanup: dropCrds,
  });

  diffRows(both, rows);
});

stopSharedControlPlaneAfterAll();
