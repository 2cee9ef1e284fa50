import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ComponentStatusRow } from '../../bin/status-components.js';
import type { ServiceStatusRow } from '../../bin/status-command.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { FULCRUM_NAMESPACE } from '../../lab/samples.js';
import { waitFor } from '../helpers/wait.js';
import { hideHostAddressesFromLab, skipUnlessRoot } from './helpers-resilience.js';

// The lab publishes its allocator and speakers as Pods with kubelet-style status
// (lab/component-pods.ts), so `fulcrum status`, the real CLI, shows a speaker's restarts and its
// CrashLoopBackOff as it would show the real DaemonSet's pods.
const PREFIX = 'fst';
const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));

interface StatusJson {
  services: ServiceStatusRow[];
  components: ComponentStatusRow[] | null;
}

describe('lab: its components as Pods, seen by fulcrum status', function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  let stateDir = '';

  before(async function () {
    skipUnlessRoot(this, 'lab status components e2e');
    stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
    lab = await startLab({ prefix: PREFIX, nodes: 2, stateDir, restart: true });
    await hideHostAddressesFromLab(lab);
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  async function status(...args: string[]): Promise<string> {
    return (await run(process.execPath, [BIN, 'status', '--kubeconfig', lab!.kubeconfigs.admin, ...args])).stdout;
  }

  async function components(): Promise<ComponentStatusRow[]> {
    const out = JSON.parse(await status('-o', 'json', '--components')) as StatusJson;
    assert.ok(Array.isArray(out.services), 'services beside components');
    assert.ok(out.components, 'the admin may list Pods');
    return out.components;
  }

  it('SIGKILL of a speaker: its Pod goes through CrashLoopBackOff and fulcrum status -o json shows it Running again with a restart', async () => {
    const l = lab!;
    const [n1, n2] = l.topology.nodes.map((n) => n.name) as [string, string];
    const pod = `fulcrum-speaker-${n1}`;
    let seen: ComponentStatusRow[] = [];
    await waitFor('fulcrum status to show the allocator and both speakers Running', async () => {
      seen = await components();
      return seen.length === 3 && seen.every((c) => c.status === 'Running' && c.ready === '1/1');
    }, { timeoutMs: 30_000, intervalMs: 200, describe: () => seen });
    assert.deepEqual(seen.map((c) => [c.name, c.component, c.node, c.restarts]), [
      ['fulcrum-allocator-lab', 'allocator', null, 0],
      [pod, 'speaker', n1, 0],
      [`fulcrum-speaker-${n2}`, 'speaker', n2, 0],
    ]);

    const old = l.speakers.get(n1)!;
    const next = l.supervisor.nextStart(`speaker ${n1}`);
    let restarted = false;
    void next.then(() => (restarted = true));
    old.signal('SIGKILL');
    await old.exited;
    // the back-off is 1 s; the status is written at the exit, well within it
    type PodJson = { status?: { containerStatuses?: { restartCount?: number; state?: { waiting?: { reason?: string; message?: string } }; lastState?: { terminated?: { exitCode?: number; signal?: number } } }[] } };
    const waiting = await waitFor(`${pod} in CrashLoopBackOff before its restart`, async () => {
      assert.ok(!restarted, `${pod} was restarted before its CrashLoopBackOff status was seen`);
      const c = ((await apiRequest(l.apiTarget, 'GET', `/api/v1/namespaces/${FULCRUM_NAMESPACE}/pods/${pod}`)) as PodJson).status?.containerStatuses?.[0];
      return c?.state?.waiting?.reason === 'CrashLoopBackOff' ? c : undefined;
    }, { timeoutMs: 5000, intervalMs: 20 });
    assert.equal(waiting.state?.waiting?.message, `back-off 1s restarting failed container=speaker pod=${pod}_${FULCRUM_NAMESPACE}`);
    assert.deepEqual([waiting.restartCount, waiting.lastState?.terminated?.exitCode, waiting.lastState?.terminated?.signal], [1, 137, 9]);

    await next;
    await waitFor(`fulcrum status to show ${pod} Running again with a restart`, async () => {
      seen = await components();
      const row = seen.find((c) => c.name === pod);
      return row !== undefined && row.restarts >= 1 && row.status === 'Running' && row.ready === '1/1';
    }, { timeoutMs: 30_000, intervalMs: 200, describe: () => seen });
    const row = seen.find((c) => c.name === pod)!;
    assert.ok(row.lastRestartAt && Date.parse(row.lastRestartAt) <= Date.now(), `lastRestartAt ${row.lastRestartAt}`);
    assert.deepEqual(seen.filter((c) => c.name !== pod).map((c) => c.restarts), [0, 0], 'the others were not restarted');

    const table = await status();
    assert.match(table, new RegExp(`^NAME\\s+COMPONENT\\s+NODE\\s+READY\\s+STATUS\\s+RESTARTS\\s+AGE$`, 'm'), table);
    assert.match(table, new RegExp(`^${pod}\\s+speaker\\s+${n1}\\s+1/1\\s+Running\\s+1 \\(\\d+s ago\\)\\s+\\d+s$`, 'm'), table);
    assert.ok(Array.isArray(JSON.parse(await status('-o', 'json'))), '-o json without --components is still the array of Services');
  });
});
