import { Allocator } from '../../src/ipam/allocator.js';
import { config, DEFAULT_CONFIG, runSteps, type Step } from './ipam-fixtures.js';

type Row = { name: string; config?: string; steps: Step[] };

function run(rows: Row[]): void {
  for (const row of rows) it(row.name, () => runSteps(new Allocator(config(row.config ?? DEFAULT_CONFIG)), row.steps));
}

describe('Allocator.adopt (restart: take back what the status says)', () => {
  run([
    { name: 'an address still in a pool is adopted as it is, not the lowest free one', steps: [{ adopt: 's1', addresses: ['192.0.2.3'], want: ['192.0.2.3'] }, { assign: 's2', want: ['192.0.2.1'] }] },
    { name: 'adopting is idempotent', steps: [{ adopt: 's1', addresses: ['192.0.2.3'], want: ['192.0.2.3'] }, { adopt: 's1', addresses: ['192.0.2.3'], want: ['192.0.2.3'] }] },
    { name: 'an address in no pool is refused', steps: [{ adopt: 's1', addresses: ['198.51.100.1'], want: { fail: 'notInAnyPool' } }] },
    { name: 'a hostname instead of an address is refused', steps: [{ adopt: 's1', addresses: ['lb.example.com'], want: { fail: 'notInAnyPool' } }] },
    { name: 'an address of another pool than the annotation is refused', steps: [{ adopt: 's1', addresses: ['192.0.2.1'], req: { pool: 'reserved' }, want: { fail: 'wrongPool' } }] },
    { name: 'an address other than the requested one is refused', steps: [{ adopt: 's1', addresses: ['192.0.2.1'], req: { requestedAddresses: ['192.0.2.2'] }, want: { fail: 'requestMismatch' } }] },
    { name: 'an address held by a Service it cannot share with is refused', steps: [{ adopt: 's1', addresses: ['192.0.2.1'], want: ['192.0.2.1'] }, { adopt: 's2', addresses: ['192.0.2.1'], want: { fail: 'sharingConflict' } }] },
    { name: 'addresses of a disabled pool are adopted', steps: [{ adopt: 's1', addresses: ['192.0.2.200'], want: ['192.0.2.200'] }] },
    { name: 'addresses of an auto-assign false pool are adopted without an annotation', steps: [{ adopt: 's1', addresses: ['192.0.2.100'], want: ['192.0.2.100'] }] },
    { name: 'addresses split across pools are refused', steps: [{ adopt: 's1', addresses: ['192.0.2.1', '2001:db8::1'], req: { families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' }, want: ['192.0.2.1', '2001:db8::1'] }, { adopt: 's2', addresses: ['192.0.2.100', '2001:db8::2'], req: { families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' }, want: { fail: 'splitAcrossPools' } }] },
    { name: 'an address of a family the Service no longer wants is dropped', steps: [{ adopt: 's1', addresses: ['2001:db8::2', '192.0.2.2'], want: ['192.0.2.2'] }, { assign: 's2', req: { families: ['IPv6'] }, want: ['2001:db8::1'] }, { assign: 's3', req: { families: ['IPv6'] }, want: ['2001:db8::2'] }] },
    { name: 'a RequireDualStack Service with one address is refused', steps: [{ adopt: 's1', addresses: ['192.0.2.2'], req: { families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' }, want: { fail: 'requestMismatch' } }] },
    {
      name: 'an avoided .255 is refused',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.0/24], avoid-buggy-ips: true}\n`,
      steps: [{ adopt: 's1', addresses: ['192.0.2.255'], want: { fail: 'avoidedAddress' } }],
    },
    {
      name: 'sharers are adopted onto one address',
      steps: [{ adopt: 's1', addresses: ['192.0.2.2'], req: { sharingKey: 'k' }, want: ['192.0.2.2'] }, { adopt: 's2', addresses: ['192.0.2.2'], req: { sharingKey: 'k', ports: [{ port: 443, protocol: 'TCP' }] }, want: ['192.0.2.2'] }],
    },
    { name: 'assign after adopt keeps the adopted address (no reshuffle)', steps: [{ adopt: 's1', addresses: ['192.0.2.3'], want: ['192.0.2.3'] }, { assign: 's1', want: ['192.0.2.3'], changed: false }] },
  ]);
});

describe('Allocator.setConfig', () => {
  run([
    {
      name: 'a config that removes addresses in use is refused, naming every Service that holds one',
      steps: [
        { assign: 'ns/a', want: ['192.0.2.1'] },
        { assign: 'ns/b', want: ['192.0.2.2'] },
        { assign: 'ns/c', req: { pool: 'reserved' }, want: ['192.0.2.100'] },
        { setConfig: `address-pools:\n- {name: default, addresses: [192.0.2.1/32]}\n`, refusedFor: ['ns/b', 'ns/c'] },
        { assign: 'ns/d', req: { pool: 'reserved' }, want: ['192.0.2.101'] },
      ],
    },
    {
      name: 'turning on avoid-buggy-ips while .0 is in use is refused',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.0/24]}\n`,
      steps: [{ assign: 's1', want: ['192.0.2.0'] }, { setConfig: `address-pools:\n- {name: a, addresses: [192.0.2.0/24], avoid-buggy-ips: true}\n`, refusedFor: ['s1'] }],
    },
    {
      name: 'a config that keeps every address in use is applied, and new ranges serve at once',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.1/32]}\n`,
      steps: [
        { assign: 's1', want: ['192.0.2.1'] },
        { assign: 's2', want: { fail: 'poolExhausted' } },
        { setConfig: `address-pools:\n- {name: a, addresses: [192.0.2.1-192.0.2.2]}\n` },
        { assign: 's2', want: ['192.0.2.2'] },
      ],
    },
    {
      name: 'a renamed pool carries its assignments along and says which moved',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.0/28]}\n`,
      steps: [
        { assign: 'ns/s1', want: ['192.0.2.0'] },
        { setConfig: `address-pools:\n- {name: b, addresses: [192.0.2.0/28]}\n`, moved: ['ns/s1:a->b'] },
        { assign: 'ns/s1', want: ['192.0.2.0'], pool: 'b', changed: false },
      ],
    },
    {
      name: 'a dual-stack assignment whose ranges land in two pools is refused',
      steps: [
        { assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' }, want: ['192.0.2.1', '2001:db8::1'] },
        { setConfig: `address-pools:\n- {name: v4, addresses: [192.0.2.1-192.0.2.3]}\n- {name: v6, addresses: ["2001:db8::1-2001:db8::3"]}\n`, refusedFor: ['s1'] },
      ],
    },
    {
      name: 'released addresses can be removed by the next config',
      steps: [{ assign: 's1', want: ['192.0.2.1'] }, { release: 's1' }, { setConfig: `address-pools:\n- {name: other, addresses: [192.0.2.50/32]}\n` }, { assign: 's1', want: ['192.0.2.50'] }],
    },
  ]);
});
