import assert from 'node:assert/strict';
import type { V1ConfigMap } from '@kubernetes/client-node';
import fc from 'fast-check';
import YAML from 'yaml';
import { readConfigMap } from '../../src/config/configmap.js';
import { parseConfig } from '../../src/config/parse.js';
import type { Config, ParseConfigResult } from '../../src/config/types.js';
import { ERROR_CODES } from '../../src/error-codes.js';
import { damage, fuzzHooks, FuzzTally, fuzzRuns, fuzzSeed, isUserString, mutate, mutation, quotedStrings, randomText, render, rendering, scalarsOf, textDamage, yamlValue } from './fuzz-inputs.js';

/**
 * Property-based fuzzing of the pool ConfigMap parser (`parseConfig`, and `readConfigMap`, the
 * allocator's and speakers' reader): ~45 % of FULCRUM_FUZZ_RUNS (fuzz-inputs.ts). For every input:
 * no throw; a result that is data (errors ⇔ not ok, registered codes); every error starts with a
 * location that exists in the input (a pool by its name or index, a top-level key, the
 * ConfigMap) and every quoted value in it is one the user wrote; a valid config printed back to
 * YAML parses to the same config. For one field of a valid config changed to anything: if the
 * config is now invalid, an error names that field of that pool and shows the value.
 */

const tally = new FuzzTally('parseConfig (ConfigMap)');

const LABEL_KEYS = ['kubernetes.io/os', 'node-role.kubernetes.io/edge', 'zone', 'example.com/rack'] as const;
const LABEL_VALUES = ['linux', 'a', 'b-1', '', 'x.y'] as const;
const POOL_FIELDS = ['name', 'protocol', 'addresses', 'auto-assign', 'avoid-buggy-ips', 'bgp-advertisements', 'disabled', 'node-selectors', 'interfaces'] as const;

const expression = fc.oneof(
  fc.record({ key: fc.constantFrom(...LABEL_KEYS), operator: fc.constantFrom('In', 'NotIn'), values: fc.uniqueArray(fc.constantFrom(...LABEL_VALUES), { minLength: 1, maxLength: 3 }) }),
  fc.record({ key: fc.constantFrom(...LABEL_KEYS), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
);
const selector = fc.record(
  { 'match-labels': fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), { maxKeys: 2 }), 'match-expressions': fc.array(expression, { maxLength: 2 }) },
  { requiredKeys: [] },
);
/** Pool i's ranges never overlap another pool's: each pool has its own /16 and /48. */
const rangesOf = (i: number) =>
  fc.uniqueArray(fc.constantFrom(`10.${i}.0.0/24`, `10.${i}.1.10-10.${i}.1.20`, `2001:db8:${i}::/64`, `10.${i}.2.0/32`, `10.${i}.3.5/24`, `2001:db8:${i}:1::1-2001:db8:${i}:1::ff`), { minLength: 1, maxLength: 3 });
const poolAt = (i: number) =>
  fc.record(
    {
      name: fc.constantFrom(`web-${i}`, `pool${i}`, `Ünï-${i}`, `a.b_${i}`, String(100 + i)),
      protocol: fc.constant('layer2'),
      addresses: rangesOf(i),
      'auto-assign': fc.oneof(fc.boolean(), fc.constantFrom('yes', 'off')),
      'avoid-buggy-ips': fc.boolean(),
      disabled: fc.boolean(),
      'node-selectors': fc.array(selector, { maxLength: 2 }),
      interfaces: fc.uniqueArray(fc.constantFrom('eth0', 'eno1', 'bond0.100', 'wlan_1'), { maxLength: 2 }),
    },
    { requiredKeys: ['name', 'addresses'] },
  );
/** A valid bare config (the YAML under `config: |`), as a document. */
const validConfig = fc.integer({ min: 0, max: 4 }).chain((n) =>
  fc.tuple(...Array.from({ length: n }, (_, i) => poolAt(i))).map((pools) => ({ 'address-pools': pools }) as Record<string, unknown>),
);

/** A ConfigMap manifest holding `config`. */
function manifest(config: string, name = 'config'): string {
  return YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'fulcrum-system' }, data: { config } });
}

/** An input: its text, and whether it was wrapped in a ConfigMap manifest. */
const input: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(validConfig, fc.array(mutation, { minLength: 1, maxLength: 3 }), rendering, fc.boolean()).map(([doc, ms, how, wrap]) => {
    const text = render(ms.reduce(mutate, doc), how);
    return wrap ? manifest(text) : text;
  }) },
  { weight: 2, arbitrary: fc.tuple(yamlValue, rendering).map(([doc, how]) => render(doc, how)) },
  { weight: 2, arbitrary: fc.tuple(validConfig, rendering, fc.array(textDamage, { minLength: 1, maxLength: 3 })).map(([doc, how, ds]) => ds.reduce(damage, render(doc, how))) },
  { weight: 1, arbitrary: fc.tuple(fc.array(mutation, { maxLength: 2 }), yamlValue).map(([ms]) => manifest(render(ms.reduce(mutate, { 'address-pools': [] } as unknown), 'yaml'))) },
  { weight: 2, arbitrary: randomText },
);

/** Every document the parser could read from `text`: the outer ones, and the YAML of any `config` string in them. */
function documentsOf(text: string): unknown[] {
  const docs: unknown[] = [];
  const read = (t: string, depth: number) => {
    try {
      for (const d of YAML.parseAllDocuments(t, { logLevel: 'error' })) {
        const v = d.toJS({ maxAliasCount: 100 }) as unknown;
        docs.push(v);
        if (depth === 0) for (const s of configStrings(v)) read(s, 1);
      }
    } catch {
      // not YAML: nothing to resolve against
    }
  };
  read(text, 0);
  return docs;
}

function configStrings(v: unknown, depth = 0): string[] {
  if (depth > 8 || v === null || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  const here = typeof o.config === 'string' ? [o.config] : [];
  return [...here, ...Object.values(o).flatMap((c) => configStrings(c, depth + 1))];
}

/** Pool names and the number of pools of every `address-pools` list in the documents. */
function poolsOf(docs: readonly unknown[]): { names: Set<string>; most: number } {
  const names = new Set<string>();
  let most = 0;
  for (const d of docs) {
    const list = d !== null && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>)['address-pools'] : undefined;
    if (!Array.isArray(list)) continue;
    most = Math.max(most, list.length);
    for (const p of list) {
      const n = p !== null && typeof p === 'object' ? (p as Record<string, unknown>).name : undefined;
      if (typeof n === 'string' || typeof n === 'number') names.add(String(n));
    }
  }
  return { names, most };
}

const POOL_LABEL = String.raw`(?:pool ("(?:[^"\\]|\\.)*")|address-pools\[(\d+)\])`;
/** Where a ConfigMap error may start: the input, the ConfigMap, a top-level key, a pool. */
const LOCATION = new RegExp(String.raw`^(?:input |ConfigMap "(?:[^"\\]|\\.)*"(?:: data\.config)? |(?:data\.config: )?(?:the config |unknown key |peers: |bgp-communities: |address-pools: |${POOL_LABEL}(?::|$)))`);
const LEADING_POOL = new RegExp(String.raw`^(?:data\.config: )?${POOL_LABEL}`);
/** Quoted words of the templates and reasons themselves, not values (suggested keys, examples). */
const CONSTANT_QUOTES = new Set(['config', 'layer2', '/', ':', '-', '.', 'config: |', 'fulcrum-system/config', ...POOL_FIELDS, 'address-pools', 'peers', 'bgp-communities', 'match-labels', 'match-expressions', 'key', 'operator', 'values']);

/** The properties every result must have, whatever the input. */
function checkResult(text: string, r: ParseConfigResult): void {
  for (const i of r.issues) {
    tally.codes.add(i.code);
    assert.ok(i.code in ERROR_CODES, `unregistered code ${i.code}`);
    assert.equal(i.severity === 'error', i.code.startsWith('FUL_ERR_'), `severity of ${i.code}`);
  }
  const errors = r.issues.filter((i) => i.severity === 'error');
  assert.deepEqual(r.ok ? [] : r.errors, errors.map((i) => i.message), 'errors are the messages of the error issues');
  if (!r.ok) assert.ok(errors.length > 0, 'an invalid config has at least one error');
  const docs = documentsOf(text);
  const scalars = new Set<string>();
  for (const d of docs) scalarsOf(d, scalars);
  const { names, most } = poolsOf(docs);
  for (const e of errors) {
    const m = e.message;
    assert.match(m, LOCATION, `${e.code} starts with a location`);
    const pool = LEADING_POOL.exec(m);
    if (pool?.[1] !== undefined) assert.ok(names.has(JSON.parse(pool[1]) as string), `${m}: the pool it names is in the input`);
    if (pool?.[2] !== undefined) assert.ok(Number(pool[2]) < most, `${m}: the pool index is in the input`);
    const suggestion = / \(did you mean "[^"]*"\?\)$/;
    for (const q of quotedStrings(m.replace(suggestion, ''))) {
      // The YAML library's own messages quote the source text.
      const fromText = e.code === 'FUL_ERR_CONFIG_YAML' && text.includes(q.text);
      assert.ok(CONSTANT_QUOTES.has(q.text) || isUserString(q, scalars) || fromText || /^fulcrum-system\/|\/config$/.test(q.text), `${m}: ${JSON.stringify(q.text)} is a value of the input`);
    }
  }
}

/** A validated config as a bare config document: what parses back to the same config. */
function printConfig(c: Config): unknown {
  return {
    'address-pools': c.pools.map((p) => ({
      name: p.name,
      protocol: p.protocol,
      addresses: p.ranges.map((r) => r.text),
      'auto-assign': p.autoAssign,
      'avoid-buggy-ips': p.avoidBuggyIps,
      disabled: p.disabled,
      'node-selectors': p.advertisements[0]!.nodeSelectors.map((s) => ({ 'match-labels': s.matchLabels, 'match-expressions': s.matchExpressions.map((e) => ({ ...e, values: [...e.values] })) })),
      interfaces: p.advertisements[0]!.interfaces,
    })),
  };
}

function parseBoth(text: string): ParseConfigResult {
  const r = parseConfig(text);
  // The reader the allocator and the speakers use: the same verdict and errors on the ConfigMap's text.
  const cm: V1ConfigMap = { metadata: { name: 'config', namespace: 'fulcrum-system', resourceVersion: '7' }, data: { config: text } };
  const read = readConfigMap(cm, undefined);
  assert.equal(read.kind, r.ok ? 'parsed' : 'invalid', 'readConfigMap agrees with parseConfig');
  if (read.kind === 'invalid' && !r.ok) assert.deepEqual(read.errors, r.errors);
  return r;
}

describe('fuzz: the pool ConfigMap parser (parseConfig, readConfigMap)', function () {
  this.timeout(0);
  fuzzHooks(tally);

  it('any text: no throw, errors are data, each starts with a location in the input and shows only the user\'s values; a valid config round-trips', () => {
    fc.assert(
      fc.property(input, (text) => {
        tally.inputs++;
        const r = parseBoth(text);
        checkResult(text, r);
        if (!r.ok) return;
        tally.valid++;
        const again = parseConfig(YAML.stringify(printConfig(r.config)));
        assert.ok(again.ok, `the printed config parses: ${again.ok ? '' : again.errors.join('; ')}`);
        assert.deepEqual(again.config, r.config, 'the printed config parses to the same config');
        if (documentsOf(text).some((d) => isMap(d) && (d.kind !== undefined || d.apiVersion !== undefined))) return;
        const wrapped = parseConfig(manifest(text));
        assert.deepEqual(wrapped.ok ? wrapped.config : wrapped.errors, r.config, 'the same config in a ConfigMap manifest');
      }),
      { numRuns: fuzzRuns(0.3), seed: fuzzSeed() },
    );
  });

  // Counterexamples the fuzzer found, shrunk, kept as rows (the afterEach hook fails on any process warning).
  const found: { name: string; text: string; errors: string[] }[] = [
    {
      name: 'a list as a key is reported as an unknown key, and nothing is printed (the yaml library warned on stderr)',
      text: 'address-pools:\n- name: a\n  addresses: [10.0.0.0/24]\n  ? [x]\n  : 1\n',
      errors: ['pool "a": unknown key "[ x ]"'],
    },
  ];
  for (const row of found) {
    it(`found: ${row.name}`, () => {
      const r = parseConfig(row.text);
      assert.deepEqual(r.ok ? [] : r.errors, row.errors, `parseConfig(${JSON.stringify(row.text)})`);
    });
  }

  it('one field of a valid config changed to any value: when the config is refused, an error names that field of that pool and shows the value', () => {
    const change = fc.tuple(validConfig.filter((c) => (c['address-pools'] as unknown[]).length > 0), fc.nat(), fc.constantFrom(...POOL_FIELDS), fc.oneof(yamlValue, fc.constant(undefined)), fc.boolean());
    fc.assert(
      fc.property(change, ([doc, at, field, value, json]) => {
        tally.inputs++;
        const pools = doc['address-pools'] as Record<string, unknown>[];
        const i = at % pools.length;
        const name = String(pools[i]!.name);
        const changed = structuredClone(pools);
        if (value === undefined) delete changed[i]![field];
        else changed[i]![field] = value;
        const text = render({ 'address-pools': changed }, json ? 'json' : 'yaml');
        const r = parseBoth(text);
        checkResult(text, r);
        if (r.ok) return void tally.valid++;
        // A control character (or U+FFFD, what invalid UTF-8 decodes to) anywhere refuses the whole input, naming no field.
        if (r.errors.length === 1 && r.errors[0]!.startsWith(BINARY_REFUSAL)) return void assert.match(text, REFUSED_CHARACTERS);
        const shown = shownForms(value);
        const path = field === 'name' ? `address-pools[${i}]: name` : `pool ${JSON.stringify(name)}: ${field}`;
        const naming = r.issues.filter((i) => i.severity === 'error' && (i.message.includes(path) || i.message.includes(`: name: ${show(value)}`) || i.message.includes(`of pool ${JSON.stringify(name)}`)));
        assert.ok(naming.length > 0, `${field} = ${JSON.stringify(value)}: no error names ${path}:\n  ${r.errors.join('\n  ')}`);
        const emptyish = value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0) || (isMap(value) && Object.keys(value).length === 0);
        // BGP sections and an empty pool are refused whatever they hold: the field is the news.
        const valueless = naming.every((i) => VALUELESS.has(i.code));
        if (!emptyish && !valueless) {
          assert.ok(naming.some((i) => shown.some((s) => i.message.includes(s))), `${field} = ${JSON.stringify(value)}: no error shows the value:\n  ${naming.map((i) => i.message).join('\n  ')}`);
        }
      }),
      { numRuns: fuzzRuns(0.15), seed: fuzzSeed() },
    );
  });
});

const BINARY_REFUSAL = 'input is not YAML: it contains control characters or invalid UTF-8';
// eslint-disable-next-line no-control-regex
const REFUSED_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/;

/** Codes whose message names a field refused whatever its value (`peers`, `bgp-advertisements`, no addresses). */
const VALUELESS = new Set(['FUL_ERR_CONFIG_UNSUPPORTED', 'FUL_ERR_CONFIG_UNSUPPORTED_FIELD', 'FUL_ERR_POOL_EMPTY']);

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** As src/config/issues.ts shows a value. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** Every way a message may show `value` or a part of it: shown values, quoted keys, `operator X`. */
function shownForms(value: unknown, depth = 0, out: string[] = []): string[] {
  out.push(show(value));
  if (typeof value === 'string') out.push(`operator ${value}`);
  if (depth < 8 && Array.isArray(value)) for (const v of value) shownForms(v, depth + 1, out);
  if (depth < 8 && isMap(value)) {
    for (const [k, v] of Object.entries(value)) {
      out.push(JSON.stringify(k), `[${k}]`);
      shownForms(v, depth + 1, out);
    }
  }
  return out;
}
