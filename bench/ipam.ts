// `npm run bench:ipam`: the allocator core alone, in memory. 10,000 Services across a pool of
// a /8 and a pool of a /64 (plus sharers and requested addresses): cold assign-all,
// release-all, then a restarted allocator adopting every assignment back. Prints CPU time and
// heap. Goals (issue 4): assign-all ≤ 1 s CPU, adopt-all ≤ 2 s CPU, heap ≤ 150 MB.
// Nothing is sent anywhere: the addresses are numbers in memory.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig } from '../src/config/parse.js';
import type { Config } from '../src/config/types.js';
import { Allocator } from '../src/ipam/allocator.js';
import { asServiceKey, type ServiceKey } from '../src/service/key.js';
import type { AllocationRequest, Assignment } from '../src/ipam/types.js';
import type { BenchRun, Workload } from './lib/report.js';
import { runIfMain } from './lib/standalone.js';

// A /8 cannot be a documentation range (those are /24s), so 10.0.0.0/8 stands for it; no
// packet is ever sent, the range is arithmetic only. The /64 is inside 2001:db8::/32.
const CONFIG_TEXT = `address-pools:
- name: v4
  protocol: layer2
  addresses: [10.0.0.0/8]
  avoid-buggy-ips: true
- name: v6
  protocol: layer2
  addresses: ["2001:db8:5::/64"]
- name: dual
  protocol: layer2
  addresses: [192.0.2.0/24, "2001:db8:6::/64"]
  auto-assign: false
`;

function loadConfig(text: string): Config {
  const result = parseConfig(text);
  if (!result.ok) throw new Error(`bench config is invalid: ${result.errors.join('; ')}`);
  return result.config;
}

function request(overrides: Partial<AllocationRequest>): AllocationRequest {
  return {
    pool: undefined,
    requestedAddresses: [],
    families: ['IPv4'],
    familyPolicy: 'SingleStack',
    sharingKey: undefined,
    ports: [{ port: 80, protocol: 'TCP' }],
    externalTrafficPolicy: 'Cluster',
    selector: { app: 'bench' },
    ...overrides,
  };
}

/**
 * The Services: 55% IPv4 from the /8, 30% IPv6 from the /64, 10% sharers (groups of four with a
 * key and distinct ports), 3% with a requested address, 2% dual-stack from the annotated pool.
 */
function workload(count: number): Array<[ServiceKey, AllocationRequest]> {
  const out: Array<[ServiceKey, AllocationRequest]> = [];
  for (let i = 0; i < count; i++) {
    const key = asServiceKey(`ns-${i % 50}/svc-${i}`);
    const slot = i % 100;
    let r: AllocationRequest;
    if (slot < 55) r = request({});
    else if (slot < 85) r = request({ families: ['IPv6'] });
    else if (slot < 95) r = request({ sharingKey: `group-${Math.floor(i / 4)}`, ports: [{ port: 8000 + (i % 4), protocol: 'TCP' }] });
    else if (slot < 98) r = request({ requestedAddresses: [`10.200.${Math.floor(i / 200)}.${1 + (i % 200)}`] }) // unique, never .0/.255;
    else r = request({ pool: 'dual', families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' });
    out.push([key, r]);
  }
  return out;
}

/** A gc() function when V8 lets us have one, so heap figures are what is retained. */
function gcFunction(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

function cpuMs<T>(fn: () => T): { ms: number; wallMs: number; value: T } {
  const wall = process.hrtime.bigint();
  const before = process.cpuUsage();
  const value = fn();
  const used = process.cpuUsage(before);
  return { ms: (used.user + used.system) / 1000, wallMs: Number(process.hrtime.bigint() - wall) / 1e6, value };
}

function row(name: string, unit: string, value: number, notes: string): Workload {
  return { name, unit, lowerIsBetter: true, fulcrum: value, haproxy: null, kernel: null, direct: null, notes };
}

export const run: BenchRun = async ({ quick }) => {
  const count = quick ? 2_000 : 10_000;
  const gc = gcFunction();
  const config = loadConfig(CONFIG_TEXT);
  const services = workload(count);
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;

  // Cold assign-all: a fresh allocator, every Service in order.
  const allocator = new Allocator(config);
  const assign = cpuMs(() => {
    let failed = 0;
    for (const [key, r] of services) if (allocator.assign(key, r).kind !== 'assigned') failed++;
    return failed;
  });
  if (assign.value > 0) throw new Error(`${assign.value} of ${count} Services got no address`);
  gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
  const assignments: Assignment[] = allocator.assignments();
  allocator.checkInvariants();

  // Restart: a new allocator adopts every address written in status, in order.
  const restarted = new Allocator(config);
  const adopt = cpuMs(() => {
    let failed = 0;
    for (const a of assignments) if (restarted.adopt(a.service, a.addresses, a.request).kind !== 'assigned') failed++;
    return failed;
  });
  if (adopt.value > 0) throw new Error(`${adopt.value} of ${count} adoptions were refused`);

  const release = cpuMs(() => {
    for (const [key] of services) allocator.release(key);
  });
  if (allocator.counts().some((c) => c.inUse !== 0)) throw new Error('addresses still in use after release-all');

  // What `fulcrum check-config` does for the biggest pools the issue names.
  const parse = cpuMs(() => loadConfig('address-pools:\n- {name: big, addresses: [10.0.0.0/8, "2001:db8::/32"]}\n'));

  const n = count.toLocaleString('en-US');
  return [
    row(`ipam assign-all (${n} Services, cold)`, 'ms CPU', assign.ms, `goal ≤ 1000 ms CPU; wall ${assign.wallMs.toFixed(0)} ms`),
    row(`ipam adopt-all (${n} Services, restart)`, 'ms CPU', adopt.ms, `goal ≤ 2000 ms CPU; wall ${adopt.wallMs.toFixed(0)} ms`),
    row(`ipam release-all (${n} Services)`, 'ms CPU', release.ms, `wall ${release.wallMs.toFixed(0)} ms`),
    row(`ipam heap retained by ${n} assignments`, 'MB', heapMb, `goal ≤ 150 MB; ${gc ? 'after gc' : 'without a forced gc (upper bound)'}`),
    row('config parse of a /8 + 2001:db8::/32', 'ms CPU', parse.ms, 'what check-config does; nothing is enumerated'),
  ];
};

runIfMain(import.meta.url, run);
