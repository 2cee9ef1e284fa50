import assert from 'node:assert/strict';
import YAML from 'yaml';
import { formatMigrationReport } from '../../src/migrate/format.js';
import { migrationInput, migrationInputFromText, type MigrationInput } from '../../src/migrate/input.js';
import { planMigration } from '../../src/migrate/report.js';
import { l2, namespace, node, pool, service, type Obj } from './migrate-fixtures.js';

// What migrate-from-metallb reads (objects and files, sorted into config, Services, Namespaces
// and Nodes) and the text it prints.

const LEGACY_CONFIGMAP = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: 'metallb-system' }, data: { config: 'address-pools:\n- {name: default, protocol: layer2, addresses: [192.168.1.240/28]}\n' } };
const RESOURCES: readonly Obj[] = [pool('blue', { addresses: ['192.0.2.0/28'] }), l2('l2')];

interface Row {
  readonly name: string;
  readonly objects: readonly unknown[];
  readonly source: MigrationInput['source'];
  readonly pools?: readonly string[];
  readonly services?: number;
  /** Every issue, `severity: message`; default none. */
  readonly issues?: readonly (string | RegExp)[];
}

const ROWS: readonly Row[] = [
  {
    name: "MetalLB's resources with Services, Namespaces and Nodes are sorted out; other kinds are skipped",
    objects: [...RESOURCES, service({ key: 'default/web' }), namespace('team-a', { team: 'a' }), node('n1'), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } }],
    source: 'metallb',
    pools: ['blue'],
    services: 1,
  },
  {
    name: 'the legacy ConfigMap alone is read as the pools',
    objects: [LEGACY_CONFIGMAP, service({ key: 'default/web' })],
    source: 'configMap',
    pools: ['default'],
    services: 1,
  },
  {
    name: 'a legacy ConfigMap beside the resources is ignored with a warning, as MetalLB ignores it',
    objects: [...RESOURCES, LEGACY_CONFIGMAP],
    source: 'metallb',
    pools: ['blue'],
    issues: ['warning: ConfigMap "metallb-system/config" is ignored: MetalLB reads only its resources since v0.13; do not copy it, Fulcrum refuses a ConfigMap beside the resources of its namespace'],
  },
  {
    name: "Fulcrum's own ConfigMap beside the resources is an error: Fulcrum reads one source",
    objects: [...RESOURCES, { ...LEGACY_CONFIGMAP, metadata: { name: 'config', namespace: 'fulcrum-system' } }],
    source: 'metallb',
    pools: ['blue'],
    issues: [/^error: ConfigMap "fulcrum-system\/config" is Fulcrum's own config, beside MetalLB's resources/],
  },
  {
    name: 'only Services is an error naming what is missing',
    objects: [service({ key: 'default/web' })],
    source: 'none',
    services: 1,
    issues: [/^error: input has no IPAddressPool or L2Advertisement \(metallb\.io\/v1beta1\) and no ConfigMap with data\.config/],
  },
  {
    name: 'two ConfigMaps with data.config are an error naming both',
    objects: [LEGACY_CONFIGMAP, { ...LEGACY_CONFIGMAP, metadata: { name: 'other', namespace: 'x' } }],
    source: 'configMap',
    issues: ['error: input has 2 ConfigMaps with data.config (metallb-system/config, x/other): keep MetalLB\'s one'],
  },
  {
    name: "an error inside the legacy ConfigMap names the pool, the field and the value",
    objects: [{ ...LEGACY_CONFIGMAP, data: { config: 'address-pools:\n- {name: web, addresses: [192.0.2.300/32]}\n' } }],
    source: 'configMap',
    issues: ['error: pool "web": addresses[0]: "192.0.2.300/32" is not an IP range'],
  },
];

describe('migrationInput: the objects of a dump, sorted', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const before = structuredClone(row.objects);
      const input = migrationInput(row.objects);
      assert.deepEqual(row.objects, before, 'migrationInput did not mutate its input');
      assert.equal(input.source, row.source);
      if (row.pools) assert.deepEqual(input.config?.pools.map((p) => p.name), row.pools);
      if (row.services !== undefined) assert.equal(input.services.length, row.services);
      const issues = input.issues.map((i) => `${i.severity}: ${i.message}`);
      const want = row.issues ?? [];
      assert.equal(issues.length, want.length, `issues: ${JSON.stringify(issues)}`);
      want.forEach((w, i) => (typeof w === 'string' ? assert.equal(issues[i], w) : assert.match(issues[i]!, w)));
    });
  }

  it('keeps the labels of Namespaces and Nodes', () => {
    const input = migrationInput([namespace('team-a', { team: 'a' }), node('n1', { edge: 'true' })]);
    assert.deepEqual(input.namespaces.get('team-a'), { team: 'a' });
    assert.deepEqual(input.nodes, [{ name: 'n1', labels: { 'kubernetes.io/hostname': 'n1', edge: 'true' } }]);
  });
});

describe('migrationInputFromText: a file', () => {
  it("reads kubectl's kind: List", () => {
    const text = YAML.stringify({ apiVersion: 'v1', kind: 'List', items: [...RESOURCES, service({ key: 'default/web', ips: ['192.0.2.1'] })] });
    const input = migrationInputFromText(text);
    assert.equal(input.source, 'metallb');
    assert.equal(input.services.length, 1);
  });

  it('reads a multi-document manifest', () => {
    const text = [...RESOURCES, service({ key: 'default/web' })].map((o) => YAML.stringify(o)).join('---\n');
    assert.deepEqual(migrationInputFromText(text).config?.pools.map((p) => p.name), ['blue']);
  });

  it('text that is not YAML is one error, and no config', () => {
    const input = migrationInputFromText('a: [b\n');
    assert.equal(input.source, 'none');
    assert.equal(input.config, undefined);
    assert.equal(input.issues.length, 1);
    assert.match(input.issues[0]!.message, /^input is not YAML: /);
  });
});

describe('formatMigrationReport: the text', () => {
  const report = planMigration(
    migrationInput([
      ...RESOURCES,
      pool('team', { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: 10, namespaces: ['team-a'] } }),
      service({ key: 'default/web', ips: ['192.0.2.1'], annotations: { 'metallb.io/ip-allocated-from-pool': 'blue' } }),
      service({ key: 'team-b/api', ips: ['198.51.100.2'] }),
      service({ key: 'default/new' }),
    ]),
    {},
  );
  const text = formatMigrationReport(report);

  it('starts with the source and the counts, then the config state', () => {
    assert.deepEqual(text.split('\n').slice(0, 3), ['MetalLB resources: 2 pools, 3 LoadBalancer Services', '', 'Config: valid (0 errors, 0 warnings)']);
  });

  it('describes each pool', () => {
    assert.match(text, /^ {2}team: 198\.51\.100\.0\/28 \(IPv4: 16\)$/m);
    assert.match(text, /^ {4}serviceAllocation: priority 10, namespaces \[team-a\]$/m);
    assert.match(text, /^ {4}announced by: L2Advertisement "metallb-system\/l2" \(every node, every interface\)$/m);
  });

  it('gives one line per Service: keeps, gets, or loses and why', () => {
    assert.match(text, /^ {2}default\/web +192\.0\.2\.1 +keeps 192\.0\.2\.1 \(pool blue\)$/m);
    assert.match(text, /^ {2}default\/new +<pending> +gets 192\.0\.2\.\d+ \(pool blue\)$/m);
    assert.match(text, /^ {2}team-b\/api +198\.51\.100\.2 +LOSES 198\.51\.100\.2: "198\.51\.100\.2": pool "team" serves only namespaces "team-a" \(serviceAllocation\), not team-b\/api \(poolPinned\); gets 192\.0\.2\.\d+ \(pool blue\) instead$/m);
  });

  it('ends with the result', () => {
    assert.match(text, /\nResult: 1 of 2 Services with an address keep it, 1 loses it, 1 pending gets an address\. Not safe to migrate as it is: fix what is marked above first\.\n$/);
  });
});
