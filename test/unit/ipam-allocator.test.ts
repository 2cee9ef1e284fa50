import assert from 'node:assert/strict';
import { Allocator } from '../../src/ipam/allocator.js';
import { asServiceKey } from '../../src/service/key.js';
import { config, DEFAULT_CONFIG, req, runSteps, type Step } from './ipam-fixtures.js';

type Row = { name: string; config?: string; steps: Step[] };

const V6_ONLY = `address-pools:\n- {name: v6, addresses: ["2001:db8::1-2001:db8::2"]}\n`;
const SPLIT = `address-pools:
- {name: v4, addresses: [192.0.2.1-192.0.2.2]}
- {name: dual, addresses: [192.0.2.10-192.0.2.11, "2001:db8::a-2001:db8::b"]}
`;
const shared = (key: string, port: number, extra: object = {}) => ({ sharingKey: key, ports: [{ port, protocol: 'TCP' as const }], ...extra });

function run(rows: Row[]): void {
  for (const row of rows) {
    it(row.name, () => runSteps(new Allocator(config(row.config ?? DEFAULT_CONFIG)), row.steps));
  }
}

describe('Allocator: choosing addresses', () => {
  run([
    { name: 'the first Services get the lowest free addresses of the first auto-assign pool', steps: [{ assign: 's1', want: ['192.0.2.1'], pool: 'default' }, { assign: 's2', want: ['192.0.2.2'] }] },
    { name: 's1 idempotent reassign keeps its address and says nothing changed', steps: [{ assign: 's1', want: ['192.0.2.1'], changed: true }, { assign: 's1', want: ['192.0.2.1'], changed: false }] },
    {
      name: 'a full pool is exhausted, and a release makes its address assignable again',
      steps: [
        { assign: 's1', want: ['192.0.2.1'] },
        { assign: 's2', want: ['192.0.2.2'] },
        { assign: 's3', want: ['192.0.2.3'] },
        { assign: 's4', want: { fail: 'poolExhausted' } },
        { release: 's2' },
        { assign: 's4', want: ['192.0.2.2'] },
      ],
    },
    { name: 'releasing a Service without addresses says so', steps: [{ release: 's1', want: 'notAssigned' }] },
    { name: 'an auto-assign false pool is skipped without an annotation', config: `address-pools:\n- {name: r, addresses: [192.0.2.1/32], auto-assign: false}\n`, steps: [{ assign: 's1', want: { fail: 'familyUnavailable' } }] },
    { name: 'an auto-assign false pool serves its annotation', steps: [{ assign: 's1', req: { pool: 'reserved' }, want: ['192.0.2.100'], pool: 'reserved' }] },
    { name: 'an auto-assign false pool serves a requested address', steps: [{ assign: 's1', req: { requestedAddresses: ['192.0.2.101'] }, want: ['192.0.2.101'], pool: 'reserved' }] },
    { name: 'an annotation naming no pool is unknownPool', steps: [{ assign: 's1', req: { pool: 'nope' }, want: { fail: 'unknownPool' } }] },
    { name: 'an annotation naming no pool is unknownPool also with a requested address', steps: [{ assign: 's1', req: { pool: 'nope', requestedAddresses: ['192.0.2.1'] }, want: { fail: 'unknownPool' } }] },
    { name: 'a disabled pool gives nothing by annotation', steps: [{ assign: 's1', req: { pool: 'off' }, want: { fail: 'poolDisabled' } }] },
    { name: 'a disabled pool gives nothing by requested address', steps: [{ assign: 's1', req: { requestedAddresses: ['192.0.2.200'] }, want: { fail: 'poolDisabled' } }] },
    { name: 'a requested address outside every pool is notInAnyPool', steps: [{ assign: 's1', req: { requestedAddresses: ['198.51.100.7'] }, want: { fail: 'notInAnyPool' } }] },
    { name: 'a requested address outside the annotated pool is wrongPool', steps: [{ assign: 's1', req: { pool: 'reserved', requestedAddresses: ['192.0.2.2'] }, want: { fail: 'wrongPool' } }] },
    { name: 's2 can\'t grab s1\'s requested address', steps: [{ assign: 's1', req: { requestedAddresses: ['192.0.2.2'] }, want: ['192.0.2.2'] }, { assign: 's2', req: { requestedAddresses: ['192.0.2.2'] }, want: { fail: 'sharingConflict' } }] },
    { name: 'auto-assignment goes around a requested address', steps: [{ assign: 's1', req: { requestedAddresses: ['192.0.2.1'] }, want: ['192.0.2.1'] }, { assign: 's2', want: ['192.0.2.2'] }] },
    {
      name: 'avoid-buggy-ips skips .0 and .255 when choosing',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.255-192.0.3.1], avoid-buggy-ips: true}\n`,
      steps: [{ assign: 's1', want: ['192.0.3.1'] }, { assign: 's2', want: { fail: 'poolExhausted' } }],
    },
    {
      name: 'avoid-buggy-ips refuses a requested .255',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.0/24], avoid-buggy-ips: true}\n`,
      steps: [{ assign: 's1', req: { requestedAddresses: ['192.0.2.255'] }, want: { fail: 'avoidedAddress' } }],
    },
    { name: 'without avoid-buggy-ips .0 is handed out', config: `address-pools:\n- {name: a, addresses: [192.0.2.0/31]}\n`, steps: [{ assign: 's1', want: ['192.0.2.0'] }] },
    {
      name: 'the next pool in config order serves when the first is full',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.1/32]}\n- {name: b, addresses: [192.0.2.9/32]}\n`,
      steps: [{ assign: 's1', want: ['192.0.2.1'], pool: 'a' }, { assign: 's2', want: ['192.0.2.9'], pool: 'b' }, { assign: 's3', want: { fail: 'poolExhausted' } }],
    },
    {
      name: 'the lowest address of a pool wins even when its range is listed later',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.50/32, 192.0.2.10/32]}\n`,
      steps: [{ assign: 's1', want: ['192.0.2.10'] }],
    },
  ]);
});

describe('Allocator: families', () => {
  run([
    { name: 'a SingleStack IPv6 Service gets an IPv6 address', steps: [{ assign: 's1', req: { families: ['IPv6'] }, want: ['2001:db8::1'] }] },
    { name: 'an IPv6 Service and no IPv6 range is familyUnavailable', config: SPLIT.split('\n- {name: dual')[0] + '\n', steps: [{ assign: 's1', req: { families: ['IPv6'] }, want: { fail: 'familyUnavailable' } }] },
    { name: 'RequireDualStack gets one address per family, in ipFamilies order', steps: [{ assign: 's1', req: { families: ['IPv6', 'IPv4'], familyPolicy: 'RequireDualStack' }, want: ['2001:db8::1', '192.0.2.1'] }] },
    { name: 'RequireDualStack skips a single-family pool for a dual one', config: SPLIT, steps: [{ assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' }, want: ['192.0.2.10', '2001:db8::a'], pool: 'dual' }] },
    { name: 'RequireDualStack without any IPv4 range is familyUnavailable', config: V6_ONLY, steps: [{ assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' }, want: { fail: 'familyUnavailable' } }] },
    { name: 'PreferDualStack prefers a pool that serves both families', config: SPLIT, steps: [{ assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'PreferDualStack' }, want: ['192.0.2.10', '2001:db8::a'] }] },
    { name: 'PreferDualStack settles for one family when no pool has both', config: V6_ONLY, steps: [{ assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'PreferDualStack' }, want: ['2001:db8::1'] }] },
    {
      name: 'PreferDualStack gets the missing family once the config adds it, keeping its address',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.1/32]}\n`,
      steps: [
        { assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'PreferDualStack' }, want: ['192.0.2.1'] },
        { setConfig: `address-pools:\n- {name: a, addresses: [192.0.2.1/32, "2001:db8::/64"]}\n` },
        { assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'PreferDualStack' }, want: ['192.0.2.1', '2001:db8::'], changed: true },
      ],
    },
    {
      name: 'a dual-stack Service turned SingleStack keeps its primary address and frees the other',
      steps: [
        { assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' }, want: ['192.0.2.1', '2001:db8::1'] },
        { assign: 's1', req: { families: ['IPv4'], familyPolicy: 'SingleStack' }, want: ['192.0.2.1'], changed: true },
        { assign: 's2', req: { families: ['IPv6'] }, want: ['2001:db8::1'] },
      ],
    },
  ]);
});

describe('Allocator: sharing', () => {
  run([
    { name: 'Services with one sharing key and other ports share the lowest address', steps: [{ assign: 's1', req: shared('k', 80), want: ['192.0.2.1'] }, { assign: 's2', req: shared('k', 443), want: ['192.0.2.1'] }] },
    { name: 'the same port and protocol cannot share: the next free address is taken', steps: [{ assign: 's1', req: shared('k', 80), want: ['192.0.2.1'] }, { assign: 's2', req: shared('k', 80), want: ['192.0.2.2'] }] },
    {
      name: 'the same port with another protocol can share',
      steps: [{ assign: 's1', req: shared('k', 53), want: ['192.0.2.1'] }, { assign: 's2', req: { sharingKey: 'k', ports: [{ port: 53, protocol: 'UDP' }] }, want: ['192.0.2.1'] }],
    },
    { name: 'different sharing keys do not share', steps: [{ assign: 's1', req: shared('a', 80), want: ['192.0.2.1'] }, { assign: 's2', req: shared('b', 443), want: ['192.0.2.2'] }] },
    {
      name: 'a requested address held with another sharing key is a sharingConflict',
      steps: [{ assign: 's1', req: shared('a', 80), want: ['192.0.2.1'] }, { assign: 's2', req: shared('b', 443, { requestedAddresses: ['192.0.2.1'] }), want: { fail: 'sharingConflict' } }],
    },
    {
      name: 'a requested address is shared by key even when lower addresses are free',
      steps: [{ assign: 's1', req: shared('k', 80, { requestedAddresses: ['192.0.2.3'] }), want: ['192.0.2.3'] }, { assign: 's2', req: shared('k', 443, { requestedAddresses: ['192.0.2.3'] }), want: ['192.0.2.3'] }],
    },
    {
      name: 'a Service without a sharing key never joins a shared address',
      steps: [{ assign: 's1', req: shared('k', 80, { requestedAddresses: ['192.0.2.1'] }), want: ['192.0.2.1'] }, { assign: 's2', req: { ports: [{ port: 443, protocol: 'TCP' }], requestedAddresses: ['192.0.2.1'] }, want: { fail: 'sharingConflict' } }],
    },
    {
      name: 'Local Services with identical selectors share like Cluster ones',
      steps: [{ assign: 's1', req: shared('k', 80, { externalTrafficPolicy: 'Local' }), want: ['192.0.2.1'] }, { assign: 's2', req: shared('k', 443, { externalTrafficPolicy: 'Local' }), want: ['192.0.2.1'] }],
    },
    {
      name: 'Local Services with other selectors share when no port number is common (Fulcrum relaxation)',
      steps: [
        { assign: 's1', req: shared('k', 80, { externalTrafficPolicy: 'Local', selector: { app: 'a' } }), want: ['192.0.2.1'] },
        { assign: 's2', req: shared('k', 443, { externalTrafficPolicy: 'Local', selector: { app: 'b' } }), want: ['192.0.2.1'] },
      ],
    },
    {
      name: 'Local Services with other selectors do not share a port number, even over another protocol',
      steps: [
        { assign: 's1', req: shared('k', 53, { externalTrafficPolicy: 'Local', selector: { app: 'a' } }), want: ['192.0.2.1'] },
        { assign: 's2', req: { sharingKey: 'k', ports: [{ port: 53, protocol: 'UDP' }], externalTrafficPolicy: 'Local', selector: { app: 'b' }, requestedAddresses: ['192.0.2.1'] }, want: { fail: 'sharingConflict' } },
      ],
    },
    {
      name: 'a Local Service shares with a Cluster one when no port number is common',
      steps: [{ assign: 's1', req: shared('k', 80), want: ['192.0.2.1'] }, { assign: 's2', req: shared('k', 443, { externalTrafficPolicy: 'Local' }), want: ['192.0.2.1'] }],
    },
    {
      name: 'sharers of one key fill the lowest address where their port is still free',
      steps: [
        { assign: 's1', req: shared('k', 80), want: ['192.0.2.1'] },
        { assign: 's2', req: shared('k', 80), want: ['192.0.2.2'] },
        { assign: 's3', req: shared('k', 443), want: ['192.0.2.1'] },
        { assign: 's4', req: shared('k', 80), want: ['192.0.2.3'] },
        { assign: 's5', req: shared('k', 443), want: ['192.0.2.2'] },
        { release: 's1' },
        { assign: 's6', req: shared('k', 80), want: ['192.0.2.1'] },
      ],
    },
    {
      name: 'the address stays taken until its last sharer is released',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.1/32]}\n`,
      steps: [
        { assign: 's1', req: shared('k', 80), want: ['192.0.2.1'] },
        { assign: 's2', req: shared('k', 443), want: ['192.0.2.1'] },
        { release: 's1' },
        { assign: 's3', want: { fail: 'poolExhausted' } },
        { release: 's2' },
        { assign: 's3', want: ['192.0.2.1'] },
      ],
    },
    {
      name: 'ports changed into a clash move the Service to a free address',
      steps: [{ assign: 's1', req: shared('k', 80), want: ['192.0.2.1'] }, { assign: 's2', req: shared('k', 443), want: ['192.0.2.1'] }, { assign: 's2', req: shared('k', 80), want: ['192.0.2.2'], changed: true }],
    },
    {
      name: 'a failed assign leaves the previous assignment in place',
      steps: [
        { assign: 's1', req: { requestedAddresses: ['192.0.2.1'] }, want: ['192.0.2.1'] },
        { assign: 's2', req: { requestedAddresses: ['192.0.2.2'] }, want: ['192.0.2.2'] },
        { assign: 's2', req: { requestedAddresses: ['192.0.2.1'] }, want: { fail: 'sharingConflict' } },
        { assign: 's3', req: { requestedAddresses: ['192.0.2.2'] }, want: { fail: 'sharingConflict' } },
      ],
    },
  ]);
});

/** An HTTP port 80 (or `port`) claiming these hosts and prefix, under sharing key `k`. */
const httpShared = (hosts: string[], o: { pathPrefix?: string; port?: number; tls?: boolean; redirect?: boolean; extra?: object } = {}) => ({
  sharingKey: 'k',
  ports: [{ port: o.port ?? 80, protocol: 'TCP' as const, http: { hosts, pathPrefix: o.pathPrefix ?? '/', tls: o.tls ?? false, redirect: o.redirect ?? false } }],
  ...o.extra,
});

describe('Allocator: sharing an HTTP port by host and path prefix', () => {
  run([
    { name: 'HTTP Services with one key and distinct hosts share the address and the port', steps: [{ assign: 's1', req: httpShared(['a.example.com']), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['b.example.com']), want: ['192.0.2.1'] }] },
    { name: 'HTTP Services claiming the same host take different addresses', steps: [{ assign: 's1', req: httpShared(['a.example.com']), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['x.example.com', 'a.example.com']), want: ['192.0.2.2'] }] },
    { name: 'a wildcard host covering another one is an overlap', steps: [{ assign: 's1', req: httpShared(['a.example.com']), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['*.example.com']), want: ['192.0.2.2'] }] },
    { name: 'the same host under another path prefix shares', steps: [{ assign: 's1', req: httpShared(['a.example.com']), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['a.example.com'], { pathPrefix: '/api' }), want: ['192.0.2.1'] }] },
    { name: 'only one default route (no hosts) per port and prefix', steps: [{ assign: 's1', req: httpShared([]), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared([]), want: ['192.0.2.2'] }, { assign: 's3', req: httpShared([], { pathPrefix: '/api' }), want: ['192.0.2.1'] }] },
    { name: 'a default route and a Service with hosts share the port', steps: [{ assign: 's1', req: httpShared([]), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['a.example.com']), want: ['192.0.2.1'] }] },
    { name: 'an HTTP Service and a TCP one on the same port do not share', steps: [{ assign: 's1', req: shared('k', 80), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['a.example.com']), want: ['192.0.2.2'] }] },
    { name: 'HTTP with TLS and HTTP without on one port do not share', steps: [{ assign: 's1', req: httpShared(['a.example.com'], { port: 443, tls: true }), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['b.example.com'], { port: 443 }), want: ['192.0.2.2'] }] },
    { name: 'two TLS HTTP Services with distinct hosts share port 443', steps: [{ assign: 's1', req: httpShared(['a.example.com'], { port: 443, tls: true }), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['b.example.com'], { port: 443, tls: true }), want: ['192.0.2.1'] }] },
    { name: 'a redirecting port 80 and a serving one do not share', steps: [{ assign: 's1', req: httpShared(['a.example.com'], { redirect: true }), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['b.example.com']), want: ['192.0.2.2'] }] },
    {
      name: 'Local Services with other selectors share an HTTP port by host (each route keeps its own endpoints)',
      steps: [
        { assign: 's1', req: httpShared(['a.example.com'], { extra: { externalTrafficPolicy: 'Local', selector: { app: 'a' } } }), want: ['192.0.2.1'] },
        { assign: 's2', req: httpShared(['b.example.com'], { extra: { externalTrafficPolicy: 'Local', selector: { app: 'b' } } }), want: ['192.0.2.1'] },
      ],
    },
    {
      name: 'a requested address whose HTTP port overlaps is a sharingConflict',
      steps: [{ assign: 's1', req: httpShared(['a.example.com']), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['a.example.com'], { extra: { requestedAddresses: ['192.0.2.1'] } }), want: { fail: 'sharingConflict' } }],
    },
    {
      name: 'many HTTP sharers of one key pack onto the lowest address where their host is free',
      steps: [
        { assign: 's1', req: httpShared(['a.example.com']), want: ['192.0.2.1'] },
        { assign: 's2', req: httpShared(['a.example.com']), want: ['192.0.2.2'] },
        { assign: 's3', req: httpShared(['b.example.com']), want: ['192.0.2.1'] },
        { assign: 's4', req: httpShared(['a.example.com']), want: ['192.0.2.3'] },
        { assign: 's5', req: httpShared(['b.example.com']), want: ['192.0.2.2'] },
      ],
    },
    {
      name: 'a Service that changes its hosts to overlap a sharer moves to another address',
      steps: [{ assign: 's1', req: httpShared(['a.example.com']), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['b.example.com']), want: ['192.0.2.1'] }, { assign: 's2', req: httpShared(['a.example.com']), want: ['192.0.2.2'], changed: true }],
    },
  ]);
});

describe('Allocator: request changes', () => {
  run([
    { name: 'a new pool annotation moves the Service to that pool', steps: [{ assign: 's1', want: ['192.0.2.1'] }, { assign: 's1', req: { pool: 'reserved' }, want: ['192.0.2.100'], pool: 'reserved', changed: true }, { assign: 's2', want: ['192.0.2.1'] }] },
    { name: 'a new requested address moves the Service to it', steps: [{ assign: 's1', want: ['192.0.2.1'] }, { assign: 's1', req: { requestedAddresses: ['192.0.2.3'] }, want: ['192.0.2.3'], changed: true }] },
    { name: 'a Service may request the address it already has', steps: [{ assign: 's1', want: ['192.0.2.1'] }, { assign: 's1', req: { requestedAddresses: ['192.0.2.1'] }, want: ['192.0.2.1'], changed: false }] },
    {
      name: 'a disabled pool keeps existing assignments but gives no new ones',
      config: `address-pools:\n- {name: a, addresses: [192.0.2.1-192.0.2.2]}\n`,
      steps: [
        { assign: 's1', want: ['192.0.2.1'] },
        { setConfig: `address-pools:\n- {name: a, addresses: [192.0.2.1-192.0.2.2], disabled: true}\n` },
        { assign: 's1', want: ['192.0.2.1'], changed: false },
        { assign: 's2', want: { fail: 'familyUnavailable' } },
        { assign: 's2', req: { pool: 'a' }, want: { fail: 'poolDisabled' } },
      ],
    },
  ]);
});

describe('Allocator: counts', () => {
  it('counts total and used addresses per pool and family, a /8 and a /64 without enumerating', () => {
    const allocator = new Allocator(config(`address-pools:
- {name: big, addresses: [10.0.0.0/8, "2001:db8::/64"]}
- {name: safe, addresses: [192.0.2.0/24], avoid-buggy-ips: true}
`));
    runSteps(allocator, [{ assign: 's1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'RequireDualStack' }, want: ['10.0.0.0', '2001:db8::'] }, { assign: 's2', req: { pool: 'safe' }, want: ['192.0.2.1'] }]);
    assert.deepEqual(allocator.counts(), [
      { pool: 'big', family: 'IPv4', total: 1n << 24n, inUse: 1 },
      { pool: 'big', family: 'IPv6', total: 1n << 64n, inUse: 1 },
      { pool: 'safe', family: 'IPv4', total: 254n, inUse: 1 },
    ]);
  });

  it('assignmentOf and servicesOn report what is held', () => {
    const allocator = new Allocator(config(DEFAULT_CONFIG));
    runSteps(allocator, [{ assign: 'ns/a', req: shared('k', 80), want: ['192.0.2.1'] }, { assign: 'ns/b', req: shared('k', 443), want: ['192.0.2.1'] }]);
    assert.deepEqual(allocator.assignmentOf(asServiceKey('ns/a')), { service: 'ns/a', pool: 'default', addresses: ['192.0.2.1'], request: req(shared('k', 80)) });
    assert.equal(allocator.assignmentOf(asServiceKey('ns/zz')), undefined);
    assert.deepEqual(allocator.servicesOn('192.0.2.1'), ['ns/a', 'ns/b']);
  });
});
