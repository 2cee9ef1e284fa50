import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { KernelApplier, nftRunner, TCP_LOOSE, type SysctlPort } from '../../speaker/kernel/applier.js';
import { KERNEL_TABLE, mapNameOf, type KernelPort, type KernelPortTable } from '../../speaker/kernel/ruleset.js';
import { seedOf } from '../../speaker/kernel/slots.js';
import { kernelTableOf, type KernelEndpoint } from '../../speaker/kernel/table.js';
import { KernelPorts } from '../../speaker/kernel/port.js';
import type { KernelPortPlan } from '../../speaker/plan/kernel-ports.js';
import { componentLogger } from '../../src/log.js';
import { registry } from '../../src/metrics.js';
import { waitFor } from '../helpers/wait.js';

// The applier against real nftables in a namespace of its own: the first table, an unhealthy
// endpoint (only its slots rewritten), a resize and a second port, IPv6 and UDP, the stop; and
// the conntrack setting it needs (set when off, refused with the reason when it cannot be set);
// the proxy's active health checker taking an endpoint out of the table and bringing it back
// (its probes go to endpoints on loopback, from this process).
const run = promisify(execFile);
const NS = 'fka-n1';
const log = componentLogger('kernel-test');
const inNs = (...argv: string[]) => run('ip', ['netns', 'exec', NS, ...argv]);

const sysctl: SysctlPort = {
  read: async (name) => (await inNs('sysctl', '-n', name)).stdout.trim(),
  write: async (name, value) => void (await inNs('sysctl', '-qw', `${name}=${value}`)),
};

function port(over: Partial<KernelPort> = {}): KernelPort {
  const p = { address: '192.0.2.10', port: 80, protocol: 'tcp' as const, hashOn: 'flow' as const, snat: true, sourceRanges: ['198.51.100.0/24'], denyAll: false, ...over };
  return { name: `lab/echo:${p.port}/${p.protocol}@${p.address}`, seed: seedOf('lab/echo', p.port, p.protocol), ...p };
}
const eps = (prefix: string, n: number, targetPort = 8080): KernelEndpoint[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`).map((address) => ({ key: address.includes(':') ? `[${address}]:${targetPort}` : `${address}:${targetPort}`, address, port: targetPort, weight: 1 }));
function table(p: KernelPort, endpoints: KernelEndpoint[], down: ReadonlySet<string> = new Set()): KernelPortTable {
  const t = kernelTableOf({ ...p, endpoints: endpoints.map((e) => ({ ...e, healthy: !down.has(e.key) })) });
  assert.equal(t.kind, 'ok');
  return t.kind === 'ok' ? t.table : undefined!;
}

/** The map's slots as the kernel holds them. */
async function slotsInKernel(map: string): Promise<Map<number, string>> {
  const json = JSON.parse((await inNs('nft', '-j', 'list', 'map', 'inet', KERNEL_TABLE, map)).stdout) as { nftables: { map?: { elem?: [number, { concat: (string | number)[] }][] } }[] };
  const elem = json.nftables.find((o) => o.map !== undefined)?.map?.elem ?? [];
  return new Map(elem.map(([k, v]) => [k, v.concat.join(' . ')]));
}

const expected = (t: KernelPortTable): Map<number, string> => new Map(t.slots.flatMap((v, i) => (v === undefined ? [] : [[i, v] as [number, string]])));

describe('kernel mode e2e: the applier against nftables', function () {
  this.timeout(30_000);
  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
    await run('ip', ['netns', 'add', NS]);
  });
  after(async () => {
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  });

  it('turns loose conntrack pickup on, loads, updates only what changed, and removes its table on stop', async () => {
    await inNs('sysctl', '-qw', `${TCP_LOOSE}=0`);
    const a = new KernelApplier({ logger: log, run: nftRunner(NS), sysctl });
    assert.deepEqual(await a.start(), { kind: 'enabled' });
    assert.equal(await sysctl.read(TCP_LOOSE), '1', 'the applier set loose pickup');
    await a.apply([]);
    await assert.rejects(inNs('nft', 'list', 'table', 'inet', KERNEL_TABLE), /No such file or directory/, 'no table before the first kernel-mode port (its nat chains would turn conntrack on)');
    assert.equal(a.loaded, false);

    const web = port();
    const v4 = eps('203.0.113.', 3);
    const first = table(web, v4);
    await a.apply([first]);
    assert.deepEqual(await slotsInKernel(mapNameOf(web)), expected(first));

    // One endpoint unhealthy: only its slots change, in the kernel too.
    const second = table(web, v4, new Set([v4[1]!.key]));
    const changed = first.slots.filter((v, i) => v !== second.slots[i]).length;
    assert.equal(changed, first.slots.filter((v) => v === '203.0.113.2 . 8080').length, 'only the unhealthy endpoint\'s slots changed');
    await a.apply([second]);
    assert.deepEqual(await slotsInKernel(mapNameOf(web)), expected(second));

    // Eleven endpoints (a bigger table), plus an IPv6 UDP port with client-address affinity and no SNAT.
    const dns = port({ address: '2001:db8::10', port: 53, protocol: 'udp', hashOn: 'clientAddress', snat: false, sourceRanges: [] });
    const third = [table(web, eps('203.0.113.', 11)), table(dns, eps('2001:db8::', 2, 5353))];
    await a.apply(third);
    assert.equal(third[0]!.slots.length, 2039);
    assert.deepEqual(await slotsInKernel(mapNameOf(web)), expected(third[0]!));
    assert.deepEqual(await slotsInKernel(mapNameOf(dns)), expected(third[1]!));
    const listed = (await inNs('nft', 'list', 'table', 'inet', KERNEL_TABLE)).stdout;
    assert.match(listed, /mod 2039 seed 0x[0-9a-f]{8} map @m_192_0_2_10_80_tcp/);
    assert.match(listed, /ip6 daddr 2001:db8::10 udp dport 53 fib daddr type local dnat ip6 to jhash ip6 saddr mod 1021 seed/);
    assert.match(listed, /ip saddr != 198\.51\.100\.0\/24 drop/);

    // The same again: no transaction at all; then the IPv6 port leaves.
    await a.apply(third);
    await a.apply([third[0]!]);
    assert.doesNotMatch((await inNs('nft', 'list', 'table', 'inet', KERNEL_TABLE)).stdout, /m_2001_db8__10_53_udp/);

    await a.close();
    await assert.rejects(inNs('nft', 'list', 'table', 'inet', KERNEL_TABLE), /No such file or directory/);
  });

  it('through the port the controller drives: an unhealthy endpoint keeps its place and lends its slots; the metrics say so', async () => {
    const a = new KernelApplier({ logger: log, run: nftRunner(NS), sysctl });
    assert.deepEqual(await a.start(), { kind: 'enabled' });
    const ports = new KernelPorts(a, log);
    const endpoints = eps('203.0.113.', 3).map((e, i) => ({ ...e, healthy: i !== 1 }));
    const plan: KernelPortPlan = { ...port(), backend: 'lab/echo:80/TCP', endpoints };
    await ports.apply([plan]);
    const inKernel = await slotsInKernel(mapNameOf(plan));
    assert.equal(inKernel.size, 1021, 'three endpoints in the universe: 1021 slots, the unhealthy one included');
    assert.ok(![...inKernel.values()].includes('203.0.113.2 . 8080'), 'no slot sends new flows to the unhealthy endpoint');
    const json = await registry.getMetricsAsJSON();
    const values = (name: string) => new Map((json.find((x) => x.name === name)?.values ?? []).map((v) => [`${v.labels.endpoint ?? v.labels.state ?? v.labels.kind}`, v.value]));
    const slots = values('fulcrum_kernel_endpoint_slots');
    assert.equal(slots.get('203.0.113.2:8080'), 0);
    assert.equal((slots.get('203.0.113.1:8080') ?? 0) + (slots.get('203.0.113.3:8080') ?? 0), 1021);
    assert.deepEqual([...values('fulcrum_kernel_endpoint_up')].sort(), [['203.0.113.1:8080', 1], ['203.0.113.2:8080', 0], ['203.0.113.3:8080', 1]]);
    assert.equal(values('fulcrum_kernel_ports').get('held'), 1);
    assert.ok((values('fulcrum_kernel_conntrack_entries').get('max') ?? 0) > 0, 'the conntrack limit is read');
    await ports.close();
    await a.close();
  });

  it('with a health-check annotation, the proxy\'s checker takes a refusing endpoint\'s slots away, gives them back when it listens, and a new plan keeps the verdicts', async () => {
    const listen = (host: string, port: number) => new Promise<Server>((resolve, reject) => {
      const s = createServer((c) => c.destroy()).once('error', reject);
      s.listen(port, host, () => resolve(s));
    });
    const closeServer = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));
    const up = await listen('127.0.0.1', 0);
    const p = (up.address() as { port: number }).port;
    let second: Server | undefined;
    const a = new KernelApplier({ logger: log, run: nftRunner(NS), sysctl });
    assert.deepEqual(await a.start(), { kind: 'enabled' });
    const ports = new KernelPorts(a, log);
    try {
      // Both ready as the plan says; 127.0.0.2:p refuses (the server is bound to 127.0.0.1 only).
      const endpoints = ['127.0.0.1', '127.0.0.2'].map((address) => ({ key: `${address}:${p}`, address, port: p, weight: 1, healthy: true }));
      const plan: KernelPortPlan = { ...port(), backend: 'lab/echo:80/TCP', endpoints, healthCheck: { type: 'tcp', intervalMs: 100, timeoutMs: 500, rise: 2, fall: 2 } };
      const map = mapNameOf(plan);
      const holders = async () => new Set((await slotsInKernel(map)).values());
      await ports.apply([plan]);
      assert.deepEqual(await holders(), new Set([`127.0.0.1 . ${p}`, `127.0.0.2 . ${p}`]), 'endpoints start up');
      await waitFor('the refusing endpoint to leave the table', async () => ((await holders()).has(`127.0.0.2 . ${p}`) ? undefined : true), { timeoutMs: 10_000, intervalMs: 50 });
      assert.equal((await slotsInKernel(map)).size, 1021, 'its slots are lent, none emptied');
      await ports.apply([{ ...plan }]);
      assert.ok(!(await holders()).has(`127.0.0.2 . ${p}`), 'the same plan again: the verdict is kept');
      second = await listen('127.0.0.2', p);
      await waitFor('the endpoint to come back after 2 passing checks', async () => ((await holders()).has(`127.0.0.2 . ${p}`) ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
      await closeServer(up);
      await waitFor('the other endpoint to leave once it refuses', async () => {
        const h = await holders();
        return h.size === 1 && h.has(`127.0.0.2 . ${p}`) ? true : undefined;
      }, { timeoutMs: 10_000, intervalMs: 50 });
      await ports.apply([{ ...plan, healthCheck: undefined }]);
      assert.equal((await holders()).size, 2, 'the annotation gone: the checker stops and the plan\'s health alone counts');
    } finally {
      await ports.close();
      await a.close();
      if (up.listening) await closeServer(up);
      if (second) await closeServer(second);
    }
  });

  it('a table a previous run left is emptied at start, chains kept, and removed on stop', async () => {
    const crashed = new KernelApplier({ logger: log, run: nftRunner(NS), sysctl });
    assert.deepEqual(await crashed.start(), { kind: 'enabled' });
    await crashed.apply([table(port(), eps('203.0.113.', 2))]); // then the process dies: no close
    const a = new KernelApplier({ logger: log, run: nftRunner(NS), sysctl });
    assert.deepEqual(await a.start(), { kind: 'enabled' });
    assert.equal(a.loaded, true);
    const listed = (await inNs('nft', 'list', 'table', 'inet', KERNEL_TABLE)).stdout;
    assert.doesNotMatch(listed, /m_192_0_2_10_80_tcp|dnat/, 'the old ports are gone');
    assert.match(listed, /chain dstnat \{\s+type nat hook prerouting priority dstnat; policy accept;/, 'the nat chains stay');
    await a.close();
    await assert.rejects(inNs('nft', 'list', 'table', 'inet', KERNEL_TABLE), /No such file or directory/);
  });

  it('refuses, naming the setting and its value, when loose pickup is off and cannot be turned on', async () => {
    const readOnly: SysctlPort = { read: async () => '0', write: async () => Promise.reject(new Error('EROFS: read-only file system')) };
    const a = new KernelApplier({ logger: log, run: nftRunner(NS), sysctl: readOnly });
    const got = await a.start();
    assert.equal(got.kind, 'unavailable');
    assert.match(got.kind === 'unavailable' ? got.reason : '', /net\.netfilter\.nf_conntrack_tcp_loose is "0" and cannot be set to 1 \(EROFS/);
    assert.equal(a.enabled, false);
    await assert.rejects(a.apply([]), /not enabled/);
  });

  it('is unavailable, with nft\'s reason, when nft cannot run', async () => {
    const a = new KernelApplier({ logger: log, run: nftRunner('fka-missing'), sysctl });
    const got = await a.start();
    assert.equal(got.kind, 'unavailable');
    assert.match(got.kind === 'unavailable' ? got.reason : '', /cannot load the fulcrum_kernel table: nft -c -f -/);
  });
});
