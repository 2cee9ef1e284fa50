import assert from 'node:assert/strict';
import { applyManifest } from '../../lab/components.js';
import { apiRequest } from '../../lab/kube-rest.js';
import type { Lab } from '../../lab/lab.js';
import { delay } from '../../lab/netns.js';
import { SAMPLE_NAMESPACE } from '../../lab/samples.js';
import { waitFor } from '../helpers/wait.js';
import { startLoad, type LoadTarget } from '../chaos/load.js';
import { probeText, summarizeProbes } from './helpers-probes.js';
import { assertSpeakersRunning, countDelta, holdersText, skipUnlessRoot, startReadyLab, stopLab, vipHolders, waitForOneHolderEach, writeCounts, type Started } from './helpers-resilience.js';

// The API emulator gone for 60 s while the lab serves TCP, HTTP and UDP through the addresses it
// already has (issue 17, "API outage"): 0 failed client requests, no status flapping after it
// returns (every Service's status and every VIP's node the same, watched for 10 s, and no status
// write), and the informers resync: a Service created right after the return is assigned (the
// time is printed; the allocator's reconnect is its own work). Lab prefix `fao`.

const OUTAGE_MS = Number(process.env.FULCRUM_API_OUTAGE_SECONDS ?? 60) * 1000;
/** How long after the return the status and the owners are watched for a flap. */
const WATCH_AFTER_MS = 10_000;

/** namespace/name → its addresses, sorted, as one line per Service. */
async function statusText(lab: Lab): Promise<string> {
  return (await lab.services()).map((s) => `${s.namespace}/${s.name}=${[...s.addresses].sort().join(',')}`).sort().join(' ');
}

describe('API outage e2e: the emulator gone for 60 s under load', function () {
  this.timeout(60_000 + OUTAGE_MS + WATCH_AFTER_MS);
  let started: Started | undefined;
  let load: LoadTarget[] = [];

  before(async function () {
    skipUnlessRoot(this, 'API outage e2e');
    started = await startReadyLab('fao');
  });

  after(async () => {
    await Promise.all(load.map((l) => l.stop()));
    await started?.lab.api.start().catch(() => undefined);
    await stopLab(started);
  });

  it('0 failed requests, no status or owner change after it returns, and a new Service is assigned', async function () {
    const { lab, svcs } = started!;
    load = startLoad(lab, svcs);
    await waitFor('every loaded Service to answer', () => load.every((l) => l.results.some((r) => r.ok)), { timeoutMs: 15_000 });
    const statusBefore = await statusText(lab);
    // start-up moves over: a node that lost an address at start-up keeps it on lo until drained
    const holdersBefore = holdersText(await waitForOneHolderEach(lab));
    const writesBefore = writeCounts(lab);

    const downMs = Date.now();
    await lab.api.stop();
    const endMs = downMs + OUTAGE_MS;
    while (Date.now() < endMs) {
      // a bounded loop for the outage: the speakers must stay up all along
      assertSpeakersRunning(lab);
      await delay(Math.max(0, Math.min(1000, endMs - Date.now())));
    }
    await lab.api.start();
    const upMs = Date.now();

    // Resync: a Service created right after the return gets an address from the allocator.
    await applyManifest(lab.apiTarget, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'after-outage', namespace: SAMPLE_NAMESPACE },
      spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'echo', port: 5678, targetPort: 'echo', protocol: 'TCP' }] },
    });
    let assignedMs: number | undefined;
    const flaps: string[] = [];
    // Watched for 10 s after the return (and until the new Service is assigned, at most 30 s).
    await waitFor('the new Service to be assigned, and 10 s of watching', async () => {
      const svcNow = (await lab.services()).filter((s) => s.name !== 'after-outage');
      const status = svcNow.map((s) => `${s.namespace}/${s.name}=${[...s.addresses].sort().join(',')}`).sort().join(' ');
      if (status !== statusBefore) flaps.push(`status at +${Date.now() - upMs} ms: ${status}`);
      const holders = holdersText(await vipHolders(lab));
      const created = (await apiRequest(lab.apiTarget, 'GET', `/api/v1/namespaces/${SAMPLE_NAMESPACE}/services/after-outage`)) as { status?: { loadBalancer?: { ingress?: unknown[] } } };
      if (assignedMs === undefined && (created.status?.loadBalancer?.ingress?.length ?? 0) > 0) assignedMs = Date.now() - upMs;
      // the new Service's address joins the holders: compare the others only
      const newAddress = (created.status?.loadBalancer?.ingress as { ip?: string }[] | undefined)?.[0]?.ip;
      const holdersOld = holders.split(' ').filter((h) => !newAddress || !h.startsWith(`${newAddress}=`)).join(' ');
      if (holdersOld !== holdersBefore) flaps.push(`owners at +${Date.now() - upMs} ms: ${holdersOld}`);
      return assignedMs !== undefined && Date.now() - upMs >= WATCH_AFTER_MS;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    const afterMs = Date.now();
    await Promise.all(load.map((l) => l.stop()));
    const statusWrites = [...countDelta(writesBefore, writeCounts(lab)).entries()].filter(([k]) => k.endsWith('services/status') || k.endsWith('services'));

    for (const l of load) {
      console.log(`      ${l.service} ${l.target}: during the outage ${probeText(summarizeProbes(l.results.filter((r) => r.t >= downMs && r.t < upMs)))}; whole run ${probeText(summarizeProbes(l.results))}`);
    }
    console.log(`      outage ${((upMs - downMs) / 1000).toFixed(1)} s; watched ${((afterMs - upMs) / 1000).toFixed(1)} s after: ${flaps.length} status or owner changes; Service writes after the return: ${statusWrites.map(([k, n]) => `${k} ${n}`).join(', ') || 'none'} (the new Service's included)`);
    console.log(`      a Service created right after the return was assigned ${((assignedMs ?? 0) / 1000).toFixed(2)} s later (the allocator's watches back)`);
    for (const l of load) assert.equal(summarizeProbes(l.results).failed, 0, `${l.target}: no failed request`);
    assert.deepEqual(flaps, [], 'no status or owner change after the return');
  });
});
