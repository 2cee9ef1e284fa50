import assert from 'node:assert/strict';
import fc from 'fast-check';
import YAML from 'yaml';
import { METALLB_API_VERSION, parseMetalLBResources } from '../../src/config/metallb.js';
import { parseConfigInput } from '../../src/config/parse.js';
import type { ParseConfigResult } from '../../src/config/types.js';
import { ERROR_CODES } from '../../src/error-codes.js';
import { fuzzHooks, FuzzTally, fuzzRuns, fuzzSeed, isUserString, mutate, mutation, quotedStrings, render, scalarsOf, yamlValue } from './fuzz-inputs.js';

/**
 * Property-based fuzzing of MetalLB's resources parser (`parseMetalLBResources` on API-shaped
 * objects, and `parseConfigInput` on the same objects as a file): ~25 % of FULCRUM_FUZZ_RUNS. For
 * every input: no throw; errors are data; every error starts with the label of an input object
 * (`IPAddressPool "metallb-system/web"`, `L2Advertisement #2`), carries that object when it has a
 * name, and quotes only values the user wrote; a valid set gives the same config in any order and
 * read from a file. For one spec field of a valid object changed to anything: if refused, an
 * error on that object names the field and shows the value.
 */

const tally = new FuzzTally('parseMetalLBResources');
const NS = 'metallb-system';
const LABEL_KEYS = ['zone', 'kubernetes.io/hostname', 'example.com/tier'] as const;
const LABEL_VALUES = ['a', 'b', 'node-1', ''] as const;

const expression = fc.oneof(
  fc.record({ key: fc.constantFrom(...LABEL_KEYS), operator: fc.constantFrom('In', 'NotIn'), values: fc.uniqueArray(fc.constantFrom(...LABEL_VALUES), { minLength: 1, maxLength: 2 }) }),
  fc.record({ key: fc.constantFrom(...LABEL_KEYS), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
);
const selectors = fc.array(
  fc.record({ matchLabels: fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { maxKeys: 2 }), matchExpressions: fc.array(expression, { maxLength: 1 }) }, { requiredKeys: [] }),
  { maxLength: 1 },
);
const poolName = (i: number) => `pool-${i}`;
const ipAddressPool = (i: number) =>
  fc.record({
    apiVersion: fc.constant(METALLB_API_VERSION),
    kind: fc.constant('IPAddressPool'),
    metadata: fc.record({ name: fc.constant(poolName(i)), namespace: fc.constant(NS), labels: fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { maxKeys: 2 }) }, { requiredKeys: ['name', 'namespace'] }),
    spec: fc.record(
      {
        addresses: fc.uniqueArray(fc.constantFrom(`10.${i}.0.0/24`, `10.${i}.1.1-10.${i}.1.9`, `2001:db8:${i}::/64`, `10.${i}.2.7/32`), { minLength: 1, maxLength: 3 }),
        autoAssign: fc.boolean(),
        avoidBuggyIPs: fc.boolean(),
        serviceAllocation: fc.record(
          { priority: fc.nat({ max: 100 }), namespaces: fc.uniqueArray(fc.constantFrom('default', 'team-a', 'kube-system'), { maxLength: 2 }), namespaceSelectors: selectors, serviceSelectors: selectors },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ['addresses'] },
    ),
  });
const l2Advertisement = (j: number, pools: number) =>
  fc.record({
    apiVersion: fc.constant(METALLB_API_VERSION),
    kind: fc.constant('L2Advertisement'),
    metadata: fc.constant({ name: `adv-${j}`, namespace: NS }),
    spec: fc.record(
      {
        ipAddressPools: fc.uniqueArray(fc.constantFrom(...Array.from({ length: pools + 1 }, (_, i) => poolName(i))), { maxLength: 2 }),
        ipAddressPoolSelectors: selectors,
        nodeSelectors: selectors,
        interfaces: fc.uniqueArray(fc.constantFrom('eth0', 'eno1', 'br-lab'), { maxLength: 2 }),
      },
      { requiredKeys: [] },
    ),
  });
/** A valid set of MetalLB objects (pools, advertisements, and now and then a status object, ignored with a warning), in any order. */
const validObjects = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 }))
  .chain(([p, a]) =>
    fc.tuple(
      ...Array.from({ length: p }, (_, i) => ipAddressPool(i)),
      ...Array.from({ length: a }, (_, j) => l2Advertisement(j, p)),
      fc.option(fc.constant({ apiVersion: METALLB_API_VERSION, kind: 'ServiceL2Status', metadata: { name: 's', namespace: NS } }), { nil: undefined }),
      fc.option(fc.constant({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' } }), { nil: undefined }),
    ),
  )
  .chain((objects) => fc.shuffledSubarray(objects.filter((o) => o !== undefined), { minLength: objects.filter((o) => o !== undefined).length }))
  .map((objects) => objects as unknown[]);

const objectsInput: fc.Arbitrary<unknown[]> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(validObjects, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([objects, ms]) => asList(ms.reduce(mutate, objects as unknown))) },
  { weight: 2, arbitrary: fc.array(fc.oneof(yamlValue, fc.record({ apiVersion: fc.constantFrom(METALLB_API_VERSION, 'metallb.io/v1', 'metallb.io/'), kind: fc.constantFrom('IPAddressPool', 'L2Advertisement', 'BGPPeer', 'AddressPool', 'Community', 'Other'), metadata: yamlValue, spec: yamlValue }, { requiredKeys: ['apiVersion'] })), { maxLength: 5 }) },
  { weight: 2, arbitrary: validObjects },
);

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The labels an error may start with, and the refs issues may carry: one per MetalLB object of the input. */
function sitesOf(objects: readonly unknown[]): { labels: string[]; refs: Set<string>; composite: Set<string> } {
  const labels: string[] = [];
  const refs = new Set<string>();
  const composite = new Set<string>();
  objects.forEach((o, index) => {
    if (!isMap(o) || typeof o.apiVersion !== 'string' || !o.apiVersion.startsWith('metallb.io/')) return;
    const kind = typeof o.kind === 'string' ? o.kind : '?';
    const meta = isMap(o.metadata) ? o.metadata : {};
    const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined;
    const ns = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : undefined;
    if (name === undefined) return void labels.push(`${kind} #${index + 1}`);
    labels.push(`${kind} ${JSON.stringify(ns === undefined ? name : `${ns}/${name}`)}`);
    refs.add(JSON.stringify([kind, ns, name]));
    if (ns !== undefined) composite.add(`${ns}/${name}`);
  });
  return { labels, refs, composite };
}

/** A repeated selector: the value is shown as the selector's text (or "the empty selector"). */
const SAME_SELECTOR = / is the same selector as \[\d+\]$/;
const CONSTANT_QUOTES = new Set([METALLB_API_VERSION, '/', ':', '-', '.']);

function checkResult(objects: readonly unknown[], r: ParseConfigResult): void {
  for (const i of r.issues) {
    tally.codes.add(i.code);
    assert.ok(i.code in ERROR_CODES, `unregistered code ${i.code}`);
    assert.equal(i.severity === 'error', i.code.startsWith('FUL_ERR_'), `severity of ${i.code}`);
  }
  const errors = r.issues.filter((i) => i.severity === 'error');
  assert.deepEqual(r.ok ? [] : r.errors, errors.map((i) => i.message));
  if (!r.ok) assert.ok(errors.length > 0, 'an invalid input has at least one error');
  const { labels, refs, composite } = sitesOf(objects);
  const scalars = scalarsOf(objects);
  for (const c of composite) scalars.add(c);
  for (const e of errors) {
    const label = labels.find((l) => e.message === l || e.message.startsWith(`${l}:`) || e.message.startsWith(`${l} `));
    assert.ok(label !== undefined, `${e.message}: starts with the label of an input object`);
    if (e.object) assert.ok(refs.has(JSON.stringify([e.object.kind, e.object.namespace, e.object.name])), `${e.message}: its object is an input object`);
    // A repeated selector is shown as its text (`"zone=a"`), as in MetalLB's messages: derived by design.
    const own = e.message.replace(/ \(did you mean "[^"]*"\?\)$/, '').replace(/: "(?:[^"\\]|\\.)*" is the same selector as \[\d+\]$/, '');
    for (const q of quotedStrings(own)) {
      assert.ok(CONSTANT_QUOTES.has(q.text) || isUserString(q, scalars), `${e.message}: ${JSON.stringify(q.text)} is a value of the input`);
    }
  }
}

describe('fuzz: the MetalLB resources parser (parseMetalLBResources, parseConfigInput)', function () {
  this.timeout(0);
  fuzzHooks(tally);

  it('any objects: no throw, errors are data on input objects, quoting only the user\'s values; a valid set is the same config in any order and from a file', () => {
    fc.assert(
      fc.property(objectsInput, fc.boolean(), (objects, asFile) => {
        tally.inputs++;
        const r = parseMetalLBResources(objects);
        checkResult(objects, r);
        if (asFile) {
          // The same objects in a file: multi-document YAML. Values YAML cannot hold as such
          // (NaN, -0, infinities) survive in YAML; only the file's own verdict is checked here.
          const text = objects.map((o) => render(o, 'yaml')).join('---\n');
          const fromFile = parseConfigInput(text);
          for (const i of fromFile.issues) assert.ok(i.code in ERROR_CODES, `unregistered code ${i.code}`);
          if (r.ok && fromFile.source === 'metallb') assert.deepEqual(fromFile.ok ? fromFile.config : fromFile.errors, r.config, 'the same objects read from a file');
        }
        if (!r.ok) return;
        tally.valid++;
        const reversed = parseMetalLBResources([...objects].reverse());
        assert.deepEqual(reversed.ok ? reversed.config : reversed.errors, r.config, 'the same objects in another order');
      }),
      { numRuns: fuzzRuns(0.17), seed: fuzzSeed() },
    );
  });

  it('one spec field of a valid object changed to any value: when refused, an error on that object names the field and shows the value', () => {
    const fields = ['addresses', 'autoAssign', 'avoidBuggyIPs', 'serviceAllocation', 'ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors', 'interfaces', 'serviceSelectors'];
    const change = fc.tuple(validObjects.filter((os) => os.some((o) => isMap(o) && String(o.apiVersion).startsWith('metallb.io/') && isMap(o.spec))), fc.nat(), fc.constantFrom(...fields), yamlValue);
    fc.assert(
      fc.property(change, ([objects, at, field, value]) => {
        tally.inputs++;
        const targets = objects.filter((o): o is Record<string, unknown> => isMap(o) && (o.kind === 'IPAddressPool' || o.kind === 'L2Advertisement'));
        const target = structuredClone(targets[at % targets.length]!);
        (target.spec as Record<string, unknown>)[field] = value;
        const changed = objects.map((o) => (o === targets[at % targets.length] ? target : o));
        const r = parseMetalLBResources(changed);
        checkResult(changed, r);
        if (r.ok) return void tally.valid++;
        const meta = target.metadata as { name: string; namespace: string };
        const path = `${String(target.kind)} ${JSON.stringify(`${meta.namespace}/${meta.name}`)}: spec`;
        const naming = r.issues.filter((i) => i.severity === 'error' && i.message.startsWith(path) && i.message.includes(field));
        assert.ok(naming.length > 0, `${field} = ${JSON.stringify(value)}: no error names ${path}.${field}:\n  ${r.errors.join('\n  ')}`);
        const emptyish = value === null || value === '' || (Array.isArray(value) && value.length === 0) || (isMap(value) && Object.keys(value).length === 0);
        // A key the kind does not have, a field refused whatever it holds, or no addresses: the field is the news.
        const valueless = naming.every((i) => ['FUL_ERR_CONFIG_UNKNOWN_KEY', 'FUL_ERR_CONFIG_UNSUPPORTED_FIELD', 'FUL_ERR_POOL_EMPTY'].includes(i.code));
        if (!emptyish && !valueless) {
          const shown = shownForms(value);
          assert.ok(naming.some((i) => SAME_SELECTOR.test(i.message) || shown.some((s) => i.message.includes(s))), `${field} = ${JSON.stringify(value)}: no error shows the value:\n  ${naming.map((i) => i.message).join('\n  ')}`);
        }
      }),
      { numRuns: fuzzRuns(0.08), seed: fuzzSeed() },
    );
  });

  it('YAML text of any shape through parseConfigInput: no throw, registered codes', () => {
    fc.assert(
      fc.property(fc.tuple(validObjects, fc.array(mutation, { maxLength: 2 })), ([objects, ms]) => {
        tally.inputs++;
        const text = YAML.stringify({ apiVersion: 'v1', kind: 'List', items: ms.reduce(mutate, objects as unknown) });
        const r = parseConfigInput(text);
        for (const i of r.issues) assert.ok(i.code in ERROR_CODES, `unregistered code ${i.code}`);
        assert.equal(r.ok, r.issues.every((i) => i.severity !== 'error'));
      }),
      { numRuns: fuzzRuns(0.02), seed: fuzzSeed() },
    );
  });
});

/** As src/config/issues.ts shows a value. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function shownForms(value: unknown, depth = 0, out: string[] = []): string[] {
  out.push(show(value));
  if (typeof value === 'string') out.push(`operator ${value}`, `${JSON.stringify(value)} is listed twice`);
  if (depth < 8 && Array.isArray(value)) for (const v of value) shownForms(v, depth + 1, out);
  if (depth < 8 && isMap(value)) {
    for (const [k, v] of Object.entries(value)) {
      out.push(JSON.stringify(k), `[${k}]`);
      shownForms(v, depth + 1, out);
    }
  }
  return out;
}
