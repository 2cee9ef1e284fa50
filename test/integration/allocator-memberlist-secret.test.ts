import assert from 'node:assert/strict';
import { startAllocator, type AllocatorProgram } from '../../allocator/program.js';
import { isNotFound } from '../../src/k8s/api-error.js';
import { applyPoolConfig, createService, getService, ingressIps, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { suiteTitle } from '../helpers/api-target.js';

// The speakers' membership key Secret: the allocator's leader makes it when it is missing, with
// a random key, and never changes one that exists. Against the API (emulator, or the real
// server under test:k8s-real), the allocator in process.

const NS = 'fulcrum-system';
const NAME = 'memberlist';

describe(suiteTitle('allocator: the memberlist Secret (integration)'), function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let allocator: AllocatorProgram | undefined;

  async function start(memberlistSecret: string | undefined): Promise<void> {
    allocator = await startAllocator({
      kubeconfig: cluster.kubeconfig,
      namespace: NS,
      configName: 'config',
      lbClass: undefined,
      metrics: undefined,
      memberlistSecret,
      identity: 'test',
      leaderElection: { enabled: false, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    });
  }

  async function stop(): Promise<void> {
    await allocator?.stop();
    allocator = undefined;
  }

  async function read(): Promise<{ data: Record<string, string>; resourceVersion: string } | undefined> {
    try {
      const s = await cluster.clients.core.readNamespacedSecret({ namespace: NS, name: NAME });
      return { data: s.data ?? {}, resourceVersion: s.metadata?.resourceVersion ?? '' };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  beforeEach(async () => {
    cluster = await startTestCluster();
  });

  afterEach(async () => {
    await stop();
    await cluster.clients.core.deleteNamespacedSecret({ namespace: NS, name: NAME }).catch(() => undefined);
    await cluster.close();
  });

  it('makes it when missing: one key, 32 random bytes as base64 text, different on each cluster', async () => {
    await start(NAME);
    const made = await waitFor('the memberlist Secret', read);
    assert.deepEqual(Object.keys(made.data), ['secretkey']);
    const text = Buffer.from(made.data.secretkey!, 'base64').toString();
    assert.equal(Buffer.from(text, 'base64').length, 32, 'the key text is 32 bytes in base64');
    await stop();
    await cluster.clients.core.deleteNamespacedSecret({ namespace: NS, name: NAME });
    await start(NAME);
    const again = await waitFor('the memberlist Secret made again', read);
    assert.notEqual(again.data.secretkey, made.data.secretkey, 'a new random key');
  });

  it("never changes one that exists: the user's key and its rotation slot stay as they were across restarts", async () => {
    const mine = { secretkey: Buffer.from('my own key, rotated by me, 32+ b').toString('base64'), 'secretkey-previous': Buffer.from('the old key still accepted......').toString('base64') };
    await cluster.clients.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: NAME }, data: mine } });
    const before = (await read())!;
    await start(NAME);
    // Restarting leads again: a second look at the existing Secret, still no write.
    await stop();
    await start(NAME);
    const after = (await read())!;
    assert.deepEqual(after.data, mine);
    assert.equal(after.resourceVersion, before.resourceVersion, 'not written at all');
  });

  it('--memberlist-secret off: nothing is made, though the allocator leads and writes', async () => {
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: main\n  protocol: layer2\n  addresses: [192.0.2.64/30]\n');
    await start(undefined);
    await createService(cluster.clients, lbService('web'));
    // The keeper would start before the first write (see the first test): by this write it would have read and created.
    await waitFor('an address on web', async () => (ingressIps(await getService(cluster.clients, 'web')).length > 0 ? true : undefined));
    assert.equal(await read(), undefined);
  });
});
