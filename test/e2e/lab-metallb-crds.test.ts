import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRequest, MERGE_PATCH } from '../../lab/kube-rest.js';
import { startLab, type Lab, type LabService } from '../../lab/lab.js';
import { EDGE_POOL_LABEL, FULCRUM_NAMESPACE, sampleCheckCount, SAMPLE_SERVICES } from '../../lab/samples.js';
import { ALLOCATED_POOL_ANNOTATION } from '../../src/service/annotations.js';
import { waitFor } from '../helpers/wait.js';
import { hideHostAddressesFromLab, vipHolders } from './helpers-resilience.js';

// `fulcrum lab --config-from metallb-crds`: the pools come from MetalLB's IPAddressPool and
// L2Advertisement resources (CRDs from config/), two pools announced by different nodes.
const PREFIX = 'flm';
const L2 = `/apis/metallb.io/v1beta1/namespaces/${FULCRUM_NAMESPACE}/l2advertisements`;

interface ServiceJson {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
}

/** The address → node map once every address of `svcs` is on exactly one node and `ok` accepts the placement. */
async function placement(lab: Lab, svcs: readonly LabService[], ok: (holders: Map<string, string[]>) => boolean): Promise<Map<string, string>> {
  const wanted = svcs.flatMap((s) => s.addresses);
  const held = await waitFor('every address on one node, as the L2Advertisements say', async () => {
    const h = await vipHolders(lab);
    return wanted.every((a) => h.get(a)?.length === 1) && ok(h) ? h : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200, describe: async () => Object.fromEntries(await vipHolders(lab)) });
  return new Map(wanted.map((a) => [a, held.get(a)![0]!]));
}

describe('lab e2e: --config-from metallb-crds (IPAddressPool and L2Advertisement resources)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let stateDir: string;
  let svcs: LabService[];
  let nodes: string[];
  const edge = (s: LabService) => SAMPLE_SERVICES.some((x) => x.name === s.name && x.manifest.metadata.labels !== undefined && (x.manifest.metadata.labels as Record<string, string>)[EDGE_POOL_LABEL] === 'edge');

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (lab e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    stateDir = mkdtempSync(join(tmpdir(), 'fulcrum-lab-metallb-'));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, configFrom: 'metallb-crds' });
    await hideHostAddressesFromLab(lab);
    svcs = await lab.waitForAddresses(30_000);
    nodes = lab.topology.nodes.map((n) => n.name);
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('every sample Service gets an address and answers from the client', async () => {
    const rows = await waitFor('every sample Service to answer', async () => {
      const r = await lab.check();
      return r.every((x) => x.result.startsWith('ok')) ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, describe: () => lab.check() });
    assert.equal(rows.length, sampleCheckCount());
  });

  it('the allocator takes the pool from serviceAllocation: the labelled Service from lab-edge, the others from lab', async () => {
    const items = (await apiRequest(lab.apiTarget, 'GET', '/api/v1/namespaces/default/services')).items as ServiceJson[];
    const edgeNames = svcs.filter(edge).map((s) => s.name);
    assert.ok(edgeNames.length > 0, 'a sample Service carries the lab-edge label');
    for (const s of svcs) {
      const pool = items.find((i) => i.metadata.name === s.name)?.metadata.annotations?.[ALLOCATED_POOL_ANNOTATION];
      assert.equal(pool, edgeNames.includes(s.name) ? 'lab-edge' : 'lab', `${s.name}: ${ALLOCATED_POOL_ANNOTATION}`);
    }
  });

  it('two L2Advertisements selecting different nodes: lab-edge addresses only on the last node, lab addresses never there', async () => {
    const last = nodes[nodes.length - 1]!;
    const edgeAddrs = new Set(svcs.filter(edge).flatMap((s) => s.addresses));
    const where = await placement(lab, svcs, (h) => [...h].every(([a, on]) => (edgeAddrs.has(a) ? on[0] === last : on[0] !== last)));
    for (const [address, node] of where) {
      if (edgeAddrs.has(address)) assert.equal(node, last, `${address} (lab-edge) is announced by ${last} only`);
      else assert.notEqual(node, last, `${address} (lab) is not announced by ${last}`);
    }
  });

  it('an L2Advertisement changed in place moves its pool: lab-edge now selects the first node, and its address follows', async () => {
    const first = nodes[0]!;
    const t0 = Date.now();
    await apiRequest(lab.apiTarget, 'PATCH', `${L2}/lab-edge`, {
      spec: { nodeSelectors: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [first] }] }] },
    }, MERGE_PATCH);
    const edgeAddrs = [...new Set(svcs.filter(edge).flatMap((s) => s.addresses))];
    await waitFor(`${first} to take the lab-edge addresses`, async () => {
      const h = await vipHolders(lab);
      return edgeAddrs.every((a) => h.get(a)?.includes(first)) || undefined;
    }, { timeoutMs: 20_000, intervalMs: 100, describe: async () => Object.fromEntries(await vipHolders(lab)) });
    const taken = Date.now() - t0;
    // The old owner keeps an address on lo while its proxy drains (UDP flows of the checks: up to 10 s).
    const where = await placement(lab, svcs.filter(edge), (h) => edgeAddrs.every((a) => h.get(a)?.[0] === first));
    for (const a of edgeAddrs) assert.equal(where.get(a), first);
    const released = Date.now() - t0;
    const rows = await waitFor('the moved Service to answer', async () => {
      const r = (await lab.check()).filter((x) => svcs.filter(edge).some((s) => x.service === `default/${s.name}`));
      return r.length > 0 && r.every((x) => x.result.startsWith('ok') && x.owner === first) ? r : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, describe: () => lab.check() });
    assert.ok(rows.length > 0);
    console.log(`      lab-edge moved to ${first}: taken after ${taken} ms, released by the old owner after ${released} ms, answering through ${first} after ${Date.now() - t0} ms`);
  });
});
