import fc from 'fast-check';
import YAML from 'yaml';

/**
 * What the parser fuzzers (fuzz-*.test.ts) feed their parsers: arbitrary YAML-ish values, valid
 * inputs mutated (fields deleted, values swapped for other types, boundary numbers, odd strings,
 * unicode, huge lists, unknown keys), rendered as YAML, JSON or flow YAML, and random or damaged
 * text. Pure: fast-check generates, nothing is read or written.
 *
 * Sizes: `FULCRUM_FUZZ_RUNS` is the number of inputs over all three parsers (default 1,500, what
 * `npm test` runs in a few seconds; `npm run fuzz` runs 100,000); `FULCRUM_FUZZ_SEED` picks the
 * seed (default fixed, so a failure in CI is a failure on every machine).
 */

const DEFAULT_RUNS = 1_500;
const DEFAULT_SEED = 1_700_017;

/** The inputs one property gets: `share` of FULCRUM_FUZZ_RUNS (shares of all properties sum to 1). */
export function fuzzRuns(share: number): number {
  const total = Number(process.env.FULCRUM_FUZZ_RUNS) > 0 ? Number(process.env.FULCRUM_FUZZ_RUNS) : DEFAULT_RUNS;
  return Math.max(1, Math.round(total * share));
}

export function fuzzSeed(): number {
  const s = Number(process.env.FULCRUM_FUZZ_SEED);
  return Number.isSafeInteger(s) ? s : DEFAULT_SEED;
}

/** Numbers at the edges: zero, signs, powers of two around int32/int53, floats, infinities, NaN. */
export const boundaryNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 2, 63, 64, 65, 255, 256, 65_535, 65_536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324, 0.5, 1.5, Infinity, -Infinity, NaN),
  fc.integer(),
  fc.double(),
);

/** Strings a config parser trips on: empty, spaces, YAML words, numbers as text, addresses, separators, unicode, long. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '', ' ', '\t', '\n', 'yes', 'no', 'on', 'off', 'y', 'N', 'true', 'False', '~', 'null', 'NaN', '.inf', '0x1F', '0o17', '1e3', '-0',
    '192.0.2.0/24', '192.0.2.9-192.0.2.5', '192.0.2.1-2001:db8::1', '2001:db8::/129', '0.0.0.0/0', '::/0', '10.0.0.0/8', '255.255.255.255/32',
    '127.0.0.1:8080', '[::1]:0', '[127.0.0.1]:80', '0.0.0.0:65536', 'a/b', 'eth0', 'eth0:1', 'lo', '.', '..', '*', '*.example.com', '/', '/api/',
    'In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'layer2', 'bgp', 'tcp', 'udp', 'http', 'https', 'tls', 'metallb.io/v1beta1', 'v1',
    '__proto__', 'constructor', 'toString', 'hasOwnProperty', '"', '\\', '"quoted"', 'a: b', '- x', '{}', '[]', '&a', '*a', '!!str', '%YAML 1.1', '#',
    '\u0000', '\u007f', '\ufffd', '\ud83d', 'é', 'ｆｕｌｃｒｕｍ', '😀', '👩‍👩‍👧', '\u200b', '\u202e', 'x'.repeat(81), 'y'.repeat(300), `${'z'.repeat(79)}😀`,
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

export const anyKey: fc.Arbitrary<string> = fc.oneof(oddString, fc.string({ minLength: 1, maxLength: 10 }));

/** Any value a YAML document can hold (JSON's, plus NaN, infinities and -0). */
export const yamlValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    boundaryNumber,
    oddString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyKey, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

/** One change to a document: where (`steps` pick a child at each level) and what. */
export interface Mutation {
  readonly steps: readonly number[];
  readonly op: 'delete' | 'replace' | 'addKey' | 'repeat' | 'wrap' | 'emptyList' | 'nullify';
  readonly key: string;
  readonly value: unknown;
  readonly count: number;
}

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  steps: fc.array(fc.nat(), { maxLength: 7 }),
  op: fc.constantFrom<Mutation['op']>('delete', 'replace', 'replace', 'replace', 'addKey', 'repeat', 'wrap', 'emptyList', 'nullify'),
  key: anyKey,
  value: yamlValue,
  // A huge list now and then: the parsers must stay linear.
  count: fc.oneof({ weight: 60, arbitrary: fc.integer({ min: 2, max: 8 }) }, { weight: 1, arbitrary: fc.constant(2_000) }),
});

type Container = unknown[] | Record<string, unknown>;

function children(node: unknown): [Container, string | number][] {
  if (Array.isArray(node)) return node.map((_, i) => [node, i]);
  if (node !== null && typeof node === 'object') return Object.keys(node).map((k) => [node as Record<string, unknown>, k]);
  return [];
}

/** `doc` with `m` applied (a deep copy: the input is not changed). */
export function mutate(doc: unknown, m: Mutation): unknown {
  const root = { doc: structuredClone(doc) } as Record<string, unknown>;
  let parent: Container = root;
  let at: string | number = 'doc';
  for (const step of m.steps) {
    const next = children((parent as Record<string | number, unknown>)[at]);
    if (next.length === 0) break;
    [parent, at] = next[step % next.length]!;
  }
  const slot = parent as Record<string | number, unknown>;
  const current = slot[at];
  switch (m.op) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(at as number, 1);
      else delete slot[at];
      break;
    case 'replace':
      slot[at] = m.value;
      break;
    case 'addKey':
      if (current !== null && typeof current === 'object' && !Array.isArray(current)) Object.defineProperty(current, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
      else slot[at] = m.value;
      break;
    case 'repeat':
      slot[at] = Array.from({ length: m.count }, () => structuredClone(current));
      break;
    case 'wrap':
      slot[at] = Array.isArray(current) ? Object.fromEntries(current.map((v, i) => [String(i), v])) : [current];
      break;
    case 'emptyList':
      slot[at] = [];
      break;
    case 'nullify':
      slot[at] = null;
      break;
  }
  return root.doc;
}

/** How a document becomes text: block YAML, JSON (also YAML), or flow YAML. */
export type Rendering = 'yaml' | 'json' | 'flow';
export const rendering: fc.Arbitrary<Rendering> = fc.constantFrom<Rendering>('yaml', 'yaml', 'json', 'flow');

export function render(doc: unknown, how: Rendering): string {
  if (how === 'json') return JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) ?? 'null';
  return (YAML.stringify(doc, how === 'flow' ? { collectionStyle: 'flow' } : {}) as string | undefined) ?? '';
}

/** A text change: cut it, splice random text in, or replace a character. */
export const textDamage = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('truncate', 'insert', 'replace'),
  text: fc.oneof(oddString, fc.constantFrom(':', '- ', '  ', '\n', '{', '[', ']', '"', "'", '&x ', '*x', '!!binary ', '? ', '---\n', '...\n', '%YAML 1.1\n---\n', '<<: *x\n')),
});

export function damage(text: string, d: { at: number; kind: string; text: string }): string {
  const i = text.length === 0 ? 0 : d.at % (text.length + 1);
  if (d.kind === 'truncate') return text.slice(0, i);
  if (d.kind === 'insert') return text.slice(0, i) + d.text + text.slice(i);
  return text.slice(0, i) + d.text + text.slice(i + 1);
}

/** Random text, and random YAML-ish lines. */
export const randomText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.array(fc.tuple(fc.nat({ max: 6 }), fc.constantFrom('- ', '', '? ', '- - '), anyKey, fc.constantFrom(': ', ':', ' ', ': |\n    ', ': >-\n    ', ': &a ', ': *a ', ': !!set '), oddString), { maxLength: 12 }).map((lines) =>
    lines.map(([indent, lead, key, sep, value]) => `${' '.repeat(indent)}${lead}${key}${sep}${value}`).join('\n'),
  ),
);

/** Every scalar (as text) and every key in a parsed document, for "the value shown is the user's". */
export function scalarsOf(doc: unknown, into = new Set<string>(), depth = 0): Set<string> {
  if (depth > 64) return into;
  if (typeof doc === 'string') into.add(doc);
  else if (typeof doc === 'number' || typeof doc === 'boolean' || typeof doc === 'bigint') into.add(String(doc));
  else if (Array.isArray(doc)) for (const v of doc) scalarsOf(v, into, depth + 1);
  else if (doc !== null && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      into.add(k);
      scalarsOf(v, into, depth + 1);
    }
  }
  return into;
}

/**
 * The quoted strings of a message (JSON string literals, as `show()` and `JSON.stringify` write
 * them), decoded; `cut`: a value `show()` shortened (it ends in `...`, removed here).
 */
export function quotedStrings(message: string): { text: string; cut: boolean }[] {
  const out: { text: string; cut: boolean }[] = [];
  for (const m of message.matchAll(/"(?:[^"\\]|\\.)*"/g)) {
    try {
      const s = JSON.parse(m[0]) as string;
      out.push(s.endsWith('...') ? { text: s.slice(0, -3), cut: true } : { text: s, cut: false });
    } catch {
      out.push({ text: m[0], cut: false });
    }
  }
  return out;
}

/** Whether `q` is a user string of the document (or, for a value `show()` cut, the start of one). */
export function isUserString(q: { text: string; cut: boolean }, scalars: ReadonlySet<string>): boolean {
  if (scalars.has(q.text) || (q.cut && scalars.has(`${q.text}...`))) return true;
  if (q.cut) for (const v of scalars) if (v.startsWith(q.text)) return true;
  return false;
}

/** The distinct codes and inputs a fuzz file saw, printed at the end of its run. */
export class FuzzTally {
  readonly codes = new Set<string>();
  inputs = 0;
  valid = 0;
  #started = performance.now();
  constructor(readonly parser: string) {}
  /** Starts the clock (the suite's `before`: files are loaded together). */
  start(): void {
    this.#started = performance.now();
  }
  line(): string {
    const ms = performance.now() - this.#started;
    return `${this.parser}: ${this.inputs} inputs (${this.valid} valid) in ${(ms / 1000).toFixed(1)} s; ${this.codes.size} distinct codes: ${[...this.codes].sort().join(', ')}`;
  }
}

/**
 * The parsers are pure: they must not print. The yaml library warns through
 * `process.emitWarning` (on the next tick) unless told not to; this counts those warnings.
 */
export class ProcessWarnings {
  readonly seen: string[] = [];
  readonly #onWarning = (w: Error): void => void this.seen.push(w.message);
  listen(): void {
    process.on('warning', this.#onWarning);
  }
  stop(): void {
    process.off('warning', this.#onWarning);
  }
  /** Waits for warnings emitted on the next tick, then fails if there was any. */
  async assertNone(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    const seen = this.seen.splice(0);
    if (seen.length > 0) throw new Error(`the parser printed ${seen.length} process warning(s), e.g. ${seen[0]}`);
  }
}

/**
 * The hooks every fuzz suite registers in its describe: no process warning may be printed by any
 * test (the parsers are pure), and the tally's line is printed at the end.
 */
export function fuzzHooks(tally: FuzzTally): void {
  const warnings = new ProcessWarnings();
  before(() => {
    warnings.listen();
    tally.start();
  });
  afterEach(async () => warnings.assertNone());
  after(() => {
    warnings.stop();
    process.stdout.write(`      ${tally.line()}\n`);
  });
}
