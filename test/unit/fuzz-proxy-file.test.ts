import assert from 'node:assert/strict';
import fc from 'fast-check';
import YAML from 'yaml';
import { loadProxyFile, parseProxyFile, ProxyConfigError, type ReadReferencedFile } from '../../speaker/proxy/file.js';
import type { ProxyModel } from '../../speaker/proxy/model.js';
import { A_CERT, A_KEY, B_CERT } from '../helpers/tls-fixtures.js';
import { damage, fuzzHooks, FuzzTally, fuzzRuns, fuzzSeed, mutate, mutation, randomText, render, rendering, textDamage, yamlValue } from './fuzz-inputs.js';

/**
 * Property-based fuzzing of the standalone proxy file (`parseProxyFile`, `loadProxyFile`): ~30 %
 * of FULCRUM_FUZZ_RUNS (fuzz-inputs.ts). For every input: no throw from `parseProxyFile`, and
 * `loadProxyFile` throws only its ProxyConfigError; every problem is `PATH: VALUE why`, where PATH
 * is a field of the file (or of a mapping in it) and VALUE is what the file holds there, as
 * shown (`PATH: unknown key …` for a key the schema lacks); a valid file's model, written back as
 * a file, parses to the same model.
 */

const tally = new FuzzTally('parseProxyFile');
const FILES: Record<string, string> = { 'a.pem': A_CERT, 'a.key': A_KEY, 'ca.pem': B_CERT, 'notes.txt': 'hello' };
/** Certificates by name, as the loader reads them next to the file; anything else is missing. */
const readFile: ReadReferencedFile = (file) => (Object.hasOwn(FILES, file) ? { kind: 'ok', text: FILES[file]! } : { kind: 'error', message: `reading ${file}: ENOENT` });

const endpoint = fc.record(
  { address: fc.constantFrom('127.0.0.1', '::1', '10.0.0.7'), port: fc.integer({ min: 1, max: 65_535 }), weight: fc.integer({ min: 0, max: 256 }), ready: fc.boolean(), nodeName: fc.constantFrom('n1', 'node-2') },
  { requiredKeys: ['address'] },
);
const healthCheck = fc.oneof(
  fc.record({ type: fc.constant('tcp'), intervalMs: fc.integer({ min: 10, max: 60_000 }), rise: fc.integer({ min: 1, max: 100 }), fall: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: [] }),
  fc.record({ type: fc.constant('http'), path: fc.constantFrom('/', '/healthz'), expectStatus: fc.constantFrom('200', '200-399', 204) }, { requiredKeys: ['type'] }),
);
type Kind = 'tcp' | 'udp' | 'http';
const frontendAndBackend = (j: number, kind: Kind) =>
  fc.tuple(
    fc.record<Record<string, unknown>>(
      {
        name: fc.constant(`f${j}`),
        listen: fc.constantFrom(`127.0.0.${j + 1}:${8000 + j}`, `[::1]:${9000 + j}`),
        protocol: fc.constant(kind),
        backend: fc.constant(`b${j}`),
        sourceRanges: fc.uniqueArray(fc.constantFrom('10.0.0.0/8', '192.0.2.0/24', '::/0'), { maxLength: 2 }),
        // On a udp frontend a non-empty list is refused: an invalid file from the valid generator now and then.
        acceptProxyProtocolFrom: fc.uniqueArray(fc.constantFrom('10.0.0.0/8', '::1/128'), { maxLength: 1 }),
        timeouts: fc.record({ connectMs: fc.integer({ min: 1, max: 3_600_000 }), idleMs: fc.integer({ min: 1, max: 604_800_000 }) }, { requiredKeys: [] }),
        ...(kind === 'http' ? { forwardedHeader: fc.boolean(), tls: fc.constant({ certificates: [{ certFile: 'a.pem', keyFile: 'a.key' }], minVersion: 'TLSv1.3' }) } : {}),
      },
      { requiredKeys: ['name', 'listen', 'backend'] },
    ),
    fc.record<Record<string, unknown>>(
      {
        name: fc.constant(`b${j}`),
        ...(kind === 'http' ? { protocol: fc.constant('http'), stickyCookie: fc.constantFrom('SERVERID', 'x-1') } : { protocol: fc.constant('tcp') }),
        balance: fc.constantFrom('roundrobin', 'leastconn', 'random'),
        ...(kind === 'udp' ? {} : { proxyProtocol: fc.constantFrom('none', 'v1', 'v2') }),
        affinity: fc.record({ clientIP: fc.boolean(), timeoutSeconds: fc.integer({ min: 1, max: 86_400 }) }, { requiredKeys: [] }),
        healthCheck: kind === 'http' ? healthCheck : healthCheck.filter((h) => h.type === 'tcp'),
        connectAttempts: fc.integer({ min: 1, max: 16 }),
        endpoints: fc.array(endpoint, { maxLength: 3 }),
      },
      { requiredKeys: ['name'] },
    ),
  );
/** A valid file, as a document: frontends of every kind, each with its own backend. */
const validFile = fc
  .array(fc.constantFrom<Kind>('tcp', 'udp', 'http'), { maxLength: 3 })
  .chain((kinds) => fc.tuple(fc.integer({ min: 1, max: 64 }), ...kinds.map((k, j) => frontendAndBackend(j, k))))
  .map(([workers, ...pairs]) => ({ workers, frontends: pairs.map((p) => (p as unknown[])[0]), backends: pairs.map((p) => (p as unknown[])[1]) }) as Record<string, unknown>);

const input: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(validFile, fc.array(mutation, { minLength: 1, maxLength: 3 }), rendering).map(([doc, ms, how]) => render(ms.reduce(mutate, doc as unknown), how)) },
  { weight: 2, arbitrary: fc.tuple(yamlValue, rendering).map(([doc, how]) => render(doc, how)) },
  { weight: 2, arbitrary: fc.tuple(validFile, rendering, fc.array(textDamage, { minLength: 1, maxLength: 3 })).map(([doc, how, ds]) => ds.reduce(damage, render(doc, how))) },
  { weight: 1, arbitrary: fc.tuple(validFile, rendering).map(([doc, how]) => render(doc, how)) },
  { weight: 2, arbitrary: randomText },
);

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** As file-reader.ts shows a value. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

const SEGMENT = /^([A-Za-z][A-Za-z0-9]*)((?:\[\d+\])*)$/;

/** The container at `path` (`frontends[0].tls`; '' is the document), or undefined when the path leaves the document. */
function containerAt(doc: unknown, path: string): { found: true; value: unknown } | { found: false } {
  let v = doc;
  if (path === '') return { found: true, value: v };
  for (const part of path.split('.')) {
    const m = SEGMENT.exec(part);
    if (!m || !isMap(v)) return { found: false };
    v = v[m[1]!];
    for (const idx of m[2]!.match(/\d+/g) ?? []) {
      if (!Array.isArray(v) || Number(idx) >= v.length) return { found: false };
      v = v[Number(idx)];
    }
  }
  return { found: true, value: v };
}

/**
 * The field a problem names and the value there: `PATH: VALUE why`, PATH a field whose parent is
 * in the document (the field itself may be missing: `name: null is not a non-empty string`).
 */
function checkProblem(doc: unknown, p: string): void {
  if (p.startsWith('not valid YAML: ')) return;
  if (p.startsWith('the file: ')) return void assert.ok(p.startsWith(`the file: ${show(doc)} `), `${p}: shows the document`);
  const unknown = /^(.*): unknown key \(expected one of [^)]*\)$/s.exec(p);
  if (unknown) {
    const head = unknown[1]!;
    // `${parent}.${key}` with any key: some split leaves a mapping of the document that has the key.
    const splits = [-1, ...[...head].flatMap((c, i) => (c === '.' ? [i] : []))];
    const ok = splits.some((i) => {
      const parent = containerAt(doc, i < 0 ? '' : head.slice(0, i));
      return parent.found && isMap(parent.value) && Object.hasOwn(parent.value, head.slice(i + 1));
    });
    return void assert.ok(ok, `${p}: names a key of a mapping of the file`);
  }
  const m = /^((?:[A-Za-z][A-Za-z0-9]*(?:\[\d+\])*)(?:\.[A-Za-z][A-Za-z0-9]*(?:\[\d+\])*)*): (.*)$/s.exec(p);
  assert.ok(m, `${JSON.stringify(p)} is PATH: VALUE why`);
  const path = m[1]!;
  const last = path.lastIndexOf('.');
  const parentPath = last < 0 ? '' : path.slice(0, last);
  const parent = containerAt(doc, parentPath);
  assert.ok(parent.found && isMap(parent.value), `${p}: the parent of ${path} is a mapping of the file`);
  const here = containerAt(doc, path);
  const value = here.found ? here.value : undefined;
  // Two messages show a value derived from the field's, by design: the protocol of a udp frontend
  // given PROXY sources ('"udp" frontends do not accept PROXY headers'), and a route's host and prefix.
  if (/^"udp" frontends do not accept PROXY headers$/.test(m[2]!) || / is already matched by /.test(m[2]!)) return;
  assert.ok(m[2]!.startsWith(`${show(value)} `), `${p}: shows ${show(value)}, the value at ${path}`);
}

/** A model written back as a file (every default spelled out): what parses to the same model. */
function printModel(model: ProxyModel): unknown {
  return {
    workers: model.workers,
    frontends: model.frontends.map((f) => ({
      name: f.name,
      listen: f.listen.address.includes(':') ? `[${f.listen.address}]:${f.listen.port}` : `${f.listen.address}:${f.listen.port}`,
      protocol: f.protocol,
      backend: f.routes[0]!.backend,
      sourceRanges: f.sourceRanges,
      acceptProxyProtocolFrom: f.protocol === 'udp' ? undefined : f.acceptProxyProtocolFrom,
      timeouts: { ...f.timeouts, ...(f.http ? f.http.timeouts : {}) },
      ...(f.http ? { redirectToHttps: f.http.redirectToHttps, forwardedHeader: f.http.forwardedHeader, trustForwardedFrom: f.http.trustForwardedFrom } : {}),
      ...(f.tls ? { tls: { certificates: f.tls.certificates.map((c) => ({ certFile: c.source, keyFile: 'a.key' })), minVersion: f.tls.minVersion } } : {}),
    })),
    backends: model.backends.map((b) => ({ ...b, ...(b.healthCheck?.expectStatus ? { healthCheck: { ...b.healthCheck, expectStatus: `${b.healthCheck.expectStatus.min}-${b.healthCheck.expectStatus.max}` } } : {}) })),
  };
}

describe('fuzz: the standalone proxy file parser (parseProxyFile, loadProxyFile)', function () {
  this.timeout(0);
  fuzzHooks(tally);

  // Counterexamples the fuzzer found, shrunk, kept as rows (the afterEach hook fails on any process warning).
  const found: { name: string; text: string; problems: string[] }[] = [
    {
      name: 'two frontends without a name: each reported once, not as the name "undefined" used twice',
      text: 'workers: 1\nfrontends:\n  - {}\n  - {}\nbackends: []\n',
      problems: [
        'frontends[0].name: null is not a non-empty string',
        'frontends[0].listen: null is not ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)',
        'frontends[0].backend: null is not a backend name',
        'frontends[1].name: null is not a non-empty string',
        'frontends[1].listen: null is not ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)',
        'frontends[1].backend: null is not a backend name',
      ],
    },
    {
      name: 'a bad backend protocol is reported once, not judged again as the fallback "tcp" against its http frontend',
      text: 'frontends:\n  - { name: f0, listen: 127.0.0.1:8000, protocol: http, backend: b0 }\nbackends:\n  - { name: b0, protocol: [], stickyCookie: SERVERID }\n',
      problems: ['backends[0].protocol: a list is not one of tcp, tls, http, https'],
    },
    {
      name: 'an entry that is not a mapping does not shift the place of the next ones in later messages',
      text: 'frontends:\n  - name: f0\n    listen: 127.0.0.1:8000\n    backend: b2\n  - null\n  - { name: f0, listen: 127.0.0.1:8001, backend: b2 }\nbackends:\n  - null\n  - name: b1\n  - name: b2\n    stickyCookie: SERVERID\n',
      problems: [
        'frontends[1]: null is not a mapping',
        'backends[0]: null is not a mapping',
        'frontends[2].name: "f0" is used by an earlier frontend',
        'backends[2].stickyCookie: "SERVERID" needs an http frontend; tcp frontend "f0" uses this backend',
        'backends[2].stickyCookie: "SERVERID" needs an http frontend; tcp frontend "f0" uses this backend',
      ],
    },
    {
      name: 'a listen clash shows the listen address as the file wrote it',
      text: 'frontends:\n  - { name: a, listen: 127.0.0.1:8080, backend: b }\n  - { name: c, listen: " 127.0.0.1:8080", backend: b }\nbackends:\n  - { name: b }\n',
      problems: ['frontends[1].listen: " 127.0.0.1:8080" is also the tcp listen address of frontend "a"'],
    },
    {
      name: 'an unresolved tag and an ambiguous anchor print nothing (the yaml library warned on stderr)',
      text: '- &a: !!set x\n',
      problems: ['the file: a list is not a mapping with frontends and backends'],
    },
  ];
  for (const row of found) {
    it(`found: ${row.name}`, () => {
      const r = parseProxyFile(row.text, { readFile });
      assert.deepEqual(r.kind === 'invalid' ? r.problems : [], row.problems, `parseProxyFile(${JSON.stringify(row.text)})`);
    });
  }

  it('any text: no throw, every problem is PATH: VALUE why with the value the file holds there; a valid model written back parses to itself', () => {
    fc.assert(
      fc.property(input, (text) => {
        tally.inputs++;
        const r = parseProxyFile(text, { readFile });
        try {
          loadProxyFile(text, { readFile });
          assert.equal(r.kind, 'ok', 'loadProxyFile throws exactly when parseProxyFile says invalid');
        } catch (err) {
          assert.ok(err instanceof ProxyConfigError, `loadProxyFile throws only ProxyConfigError: ${String(err)}`);
          assert.equal(r.kind, 'invalid');
          assert.deepEqual(err.problems, r.kind === 'invalid' ? r.problems : []);
        }
        if (r.kind === 'invalid') {
          assert.ok(r.problems.length > 0, 'an invalid file has a problem');
          tally.codes.add('FUL_ERR_PROXY_CONFIG');
          let doc: unknown;
          try {
            doc = YAML.parse(text, { logLevel: 'error' });
          } catch {
            return;
          }
          for (const p of r.problems) checkProblem(doc, p);
          return;
        }
        tally.valid++;
        const again = parseProxyFile(YAML.stringify(JSON.parse(JSON.stringify(printModel(r.model)))), { readFile });
        assert.equal(again.kind, 'ok', again.kind === 'invalid' ? again.problems.join('\n') : '');
        if (again.kind === 'ok') assert.deepEqual(again.model, r.model, 'the model written back parses to the same model');
      }),
      { numRuns: fuzzRuns(0.3), seed: fuzzSeed() },
    );
  });
});
