import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import type { TlsCertificate } from '../../speaker/proxy/model.js';
import { pruneLastGood, resolveCaSecret, resolveTlsSecrets, secretKey, SecretMemory, type CaSecretResult, type SecretLookup, type TlsSecretsResult } from '../../speaker/plan/tls-secrets.js';
import { makeCertificate, makeKey, makePair, type KeyPair } from '../../lab/x509.js';

/** Certificates are made around the real clock, so `now` is the real one too. */
const NOW = Date.now();
const DAY = 86_400_000;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

type Pair = { certPem: string; keyPem: string };

function tlsSecret(namespace: string, name: string, pair: Pair | undefined, over: Partial<V1Secret> = {}): V1Secret {
  return { metadata: { namespace, name }, type: 'kubernetes.io/tls', data: pair ? { 'tls.crt': b64(pair.certPem), 'tls.key': b64(pair.keyPem) } : {}, ...over };
}

/** A lookup over a list, as the cache answers by namespace/name; it records what it was asked. */
function lookupOf(secrets: readonly V1Secret[], asked: string[] = []): SecretLookup {
  return (ns, name) => {
    asked.push(secretKey(ns, name));
    return secrets.find((s) => s.metadata?.namespace === ns && s.metadata?.name === name);
  };
}

describe('resolveTlsSecrets: the certificates of a Service from its Secrets', () => {
  let a: Pair;
  let b: Pair;
  let rotated: Pair;
  let expired: Pair;
  let ec2: KeyPair;
  before(() => {
    const rsa = makeKey('rsa');
    const ec = makeKey('ec');
    ec2 = makeKey('ec');
    a = makePair('rsa', { dns: ['a.example.com'] }, rsa);
    b = makePair('ec', { dns: ['b.example.com'] }, ec);
    rotated = makePair('ec', { dns: ['a.example.com'] }, ec2);
    expired = makePair('ec', { dns: ['old.example.com'], notBeforeMs: NOW - 90 * DAY, notAfterMs: NOW - DAY }, ec);
  });
  const cert = (name: string, pair: Pair, ns = 'shop'): TlsCertificate => ({ source: `secret ${ns}/${name}`, ...pair });

  type Want = { certificates: string[]; problems?: { secret: string; code: string; serving: string; reason?: RegExp }[]; lastGood?: Record<string, string>; asked?: string[] };
  type Row = { name: string; names: string[]; secrets: () => V1Secret[]; lastGood?: () => Map<string, TlsCertificate>; want: () => Want };
  const rows: Row[] = [
    { name: 'two good Secrets give two certificates in the order of the names', names: ['a', 'b'], secrets: () => [tlsSecret('shop', 'b', b), tlsSecret('shop', 'a', a)], want: () => ({ certificates: [a.certPem, b.certPem], lastGood: { 'shop/a': a.certPem, 'shop/b': b.certPem } }) },
    { name: 'the order of the names decides the default', names: ['b', 'a'], secrets: () => [tlsSecret('shop', 'a', a), tlsSecret('shop', 'b', b)], want: () => ({ certificates: [b.certPem, a.certPem] }) },
    {
      name: 'a missing Secret without a last good pair gives nothing and a problem',
      names: ['a', 'gone'],
      secrets: () => [tlsSecret('shop', 'a', a)],
      want: () => ({ certificates: [a.certPem], problems: [{ secret: 'gone', code: 'notFound', serving: 'nothing', reason: /^is not found in namespace "shop" \(only Secrets of type kubernetes.io\/tls are read\)$/ }] }),
    },
    {
      name: 'a deleted Secret keeps serving its last good pair, in its place',
      names: ['gone', 'b'],
      secrets: () => [tlsSecret('shop', 'b', b)],
      lastGood: () => new Map([['shop/gone', cert('gone', a)]]),
      want: () => ({ certificates: [a.certPem, b.certPem], problems: [{ secret: 'gone', code: 'notFound', serving: 'lastGood', reason: /its last good certificate is served$/ }], lastGood: { 'shop/gone': a.certPem, 'shop/b': b.certPem } }),
    },
    {
      name: 'a Secret whose key does not match its certificate serves its last good pair',
      names: ['a'],
      secrets: () => [tlsSecret('shop', 'a', { certPem: a.certPem, keyPem: b.keyPem })],
      lastGood: () => new Map([['shop/a', cert('a', a)]]),
      want: () => ({ certificates: [a.certPem], problems: [{ secret: 'a', code: 'keyMismatch', serving: 'lastGood', reason: /^has a private key that does not match its certificate; its last good/ }], lastGood: { 'shop/a': a.certPem } }),
    },
    { name: 'a Secret with garbage in tls.crt and no last good pair gives nothing', names: ['a'], secrets: () => [tlsSecret('shop', 'a', { certPem: 'garbage', keyPem: a.keyPem })], want: () => ({ certificates: [], problems: [{ secret: 'a', code: 'notPem', serving: 'nothing' }], lastGood: {} }) },
    { name: 'a Secret without tls.key is missingKey', names: ['a'], secrets: () => [tlsSecret('shop', 'a', undefined, { data: { 'tls.crt': b64(a.certPem) } })], want: () => ({ certificates: [], problems: [{ secret: 'a', code: 'missingKey', serving: 'nothing', reason: /^has no tls.key$/ }] }) },
    { name: 'a Secret with empty tls.crt and tls.key (a CA-only Secret) is missingKey', names: ['a'], secrets: () => [tlsSecret('shop', 'a', undefined, { data: { 'tls.crt': '', 'tls.key': '' } })], want: () => ({ certificates: [], problems: [{ secret: 'a', code: 'missingKey', serving: 'nothing', reason: /^has no tls.crt$/ }] }) },
    { name: 'a Secret of another type is not used', names: ['a'], secrets: () => [tlsSecret('shop', 'a', a, { type: 'Opaque' })], want: () => ({ certificates: [], problems: [{ secret: 'a', code: 'wrongType', serving: 'nothing', reason: /is of type "Opaque", not kubernetes.io\/tls/ }] }) },
    {
      name: 'a Secret of the same name in another namespace is never used',
      names: ['a'],
      secrets: () => [tlsSecret('other', 'a', a)],
      want: () => ({ certificates: [], problems: [{ secret: 'a', code: 'notFound', serving: 'nothing' }], asked: ['shop/a'] }),
    },
    {
      name: 'a name with a slash never reaches the lookup, nor the last good pairs',
      names: ['other/a', '../a', 'A'],
      secrets: () => [tlsSecret('other', 'a', a)],
      lastGood: () => new Map([['shop/other/a', cert('other/a', a)]]),
      want: () => ({ certificates: [], problems: ['other/a', '../a', 'A'].map((secret) => ({ secret, code: 'invalidName', serving: 'nothing', reason: /is not a Secret name \(a Secret is read from the Service's namespace "shop" only\)/ })), asked: [] }),
    },
    { name: 'an expired certificate is served, with a warning', names: ['old'], secrets: () => [tlsSecret('shop', 'old', expired)], want: () => ({ certificates: [expired.certPem], problems: [{ secret: 'old', code: 'expired', serving: 'this', reason: /^has a certificate that expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(it is served anyway, as haproxy does\)$/ }], lastGood: { 'shop/old': expired.certPem } }) },
    { name: 'a name given twice counts once', names: ['a', 'b', 'a'], secrets: () => [tlsSecret('shop', 'a', a), tlsSecret('shop', 'b', b)], want: () => ({ certificates: [a.certPem, b.certPem] }) },
    {
      name: 'a rotated Secret replaces its last good pair',
      names: ['a'],
      secrets: () => [tlsSecret('shop', 'a', rotated)],
      lastGood: () => new Map([['shop/a', cert('a', a)]]),
      want: () => ({ certificates: [rotated.certPem], lastGood: { 'shop/a': rotated.certPem } }),
    },
    {
      name: 'the last good pairs of other Services pass through untouched',
      names: ['a'],
      secrets: () => [tlsSecret('shop', 'a', a)],
      lastGood: () => new Map([['blog/x', cert('x', b, 'blog')]]),
      want: () => ({ certificates: [a.certPem], lastGood: { 'blog/x': b.certPem, 'shop/a': a.certPem } }),
    },
  ];

  for (const row of rows) {
    it(row.name, () => {
      const want = row.want();
      const lastGood = row.lastGood?.() ?? new Map<string, TlsCertificate>();
      const names = [...row.names];
      const asked: string[] = [];
      const before = JSON.stringify([[...lastGood], names]);
      const got: TlsSecretsResult = resolveTlsSecrets({ namespace: 'shop', names, lookup: lookupOf(row.secrets(), asked), lastGood, nowMs: NOW });
      const call = `resolveTlsSecrets(shop, ${JSON.stringify(row.names)})`;
      assert.deepEqual(got.certificates.map((c) => c.certPem), want.certificates, `${call}: certificates (problems: ${JSON.stringify(got.problems)})`);
      assert.deepEqual(got.problems.map((p) => ({ secret: p.secret, code: p.code, serving: p.serving })), (want.problems ?? []).map(({ reason: _r, ...p }) => p), `${call}: problems`);
      (want.problems ?? []).forEach((p, i) => p.reason && assert.match(got.problems[i]!.reason, p.reason, `${call}: reason`));
      if (want.lastGood) assert.deepEqual(Object.fromEntries([...got.lastGood].map(([k, v]) => [k, v.certPem])), want.lastGood, `${call}: lastGood`);
      if (want.asked) assert.deepEqual(asked, want.asked, `${call}: lookups`);
      for (const c of got.certificates) assert.match(c.source, /^secret shop\/[a-z]+$/, `${call}: source`);
      assert.equal(JSON.stringify([[...lastGood], names]), before, 'the inputs were not mutated');
    });
  }

  it('a lookup that answers from another namespace is a bug, and fails loudly', () => {
    const lookup: SecretLookup = () => tlsSecret('other', 'a', a);
    assert.throws(() => resolveTlsSecrets({ namespace: 'shop', names: ['a'], lookup, lastGood: new Map(), nowMs: NOW }), /incoherent Secret lookup: asked for shop\/a, got other\/a/);
  });

  it('pruneLastGood keeps only the Secrets still named', () => {
    const lastGood = new Map([['shop/a', cert('a', a)], ['shop/b', cert('b', b)]]);
    const got = pruneLastGood(lastGood, new Set(['shop/b']));
    assert.deepEqual([...got.keys()], ['shop/b']);
    assert.equal(lastGood.size, 2, 'the input was not mutated');
  });

  describe('resolveCaSecret: the CA that verifies a backend', () => {
    let ca: string;
    before(() => {
      ca = makeCertificate({ cn: 'Shop CA', ca: true, key: ec2 }).pem;
    });
    const caSecret = (name: string, data: Record<string, string>, over: Partial<V1Secret> = {}): V1Secret => ({ metadata: { namespace: 'shop', name }, type: 'kubernetes.io/tls', data, ...over });

    type Row = { name: string; secrets: () => V1Secret[]; lastGood?: () => Map<string, string>; want: () => { kind: CaSecretResult['kind']; caPem?: string; codes: string[]; reason?: RegExp } };
    const rows: Row[] = [
      { name: 'a cert-manager CA Secret gives its ca.crt', secrets: () => [caSecret('ca', { 'ca.crt': b64(ca), 'tls.crt': b64(a.certPem), 'tls.key': b64(a.keyPem) })], want: () => ({ kind: 'ok', caPem: ca, codes: [] }) },
      { name: 'a hand-made CA Secret with empty tls.crt and tls.key gives its ca.crt', secrets: () => [caSecret('ca', { 'ca.crt': b64(ca), 'tls.crt': '', 'tls.key': '' })], want: () => ({ kind: 'ok', caPem: ca, codes: [] }) },
      { name: 'a Secret without ca.crt is unavailable', secrets: () => [caSecret('ca', { 'tls.crt': b64(a.certPem), 'tls.key': b64(a.keyPem) })], want: () => ({ kind: 'unavailable', codes: ['missingCa'], reason: /^has no ca.crt$/ }) },
      { name: 'a missing Secret without a last good CA is unavailable: never unverified', secrets: () => [], want: () => ({ kind: 'unavailable', codes: ['notFound'] }) },
      { name: 'an Opaque Secret is not read', secrets: () => [caSecret('ca', { 'ca.crt': b64(ca) }, { type: 'Opaque' })], want: () => ({ kind: 'unavailable', codes: ['wrongType'] }) },
      { name: 'garbage in ca.crt keeps the last good CA', secrets: () => [caSecret('ca', { 'ca.crt': b64('garbage') })], lastGood: () => new Map([['shop/ca', ca]]), want: () => ({ kind: 'ok', caPem: ca, codes: ['notPem'], reason: /^has an invalid ca.crt: it holds no PEM certificate .*; its last good CA is used$/ }) },
    ];
    for (const row of rows) {
      it(row.name, () => {
        const want = row.want();
        const lastGood = row.lastGood?.() ?? new Map<string, string>();
        const before = JSON.stringify([...lastGood]);
        const got = resolveCaSecret({ namespace: 'shop', name: 'ca', lookup: lookupOf(row.secrets()), lastGood });
        const call = `resolveCaSecret(shop, ca)`;
        assert.equal(got.kind, want.kind, `${call}: ${JSON.stringify(got.problems)}`);
        if (got.kind === 'ok') assert.equal(got.caPem, want.caPem, call);
        if (got.kind === 'ok' && want.codes.length === 0) assert.equal(got.lastGood.get('shop/ca'), ca, `${call}: remembered`);
        assert.deepEqual(got.problems.map((p) => p.code), want.codes, call);
        if (want.reason) assert.match(got.problems[0]!.reason, want.reason, call);
        if (got.kind === 'unavailable') assert.equal(got.reason, got.problems[0]!.reason, `${call}: reason`);
        assert.equal(JSON.stringify([...lastGood]), before, 'the input was not mutated');
      });
    }
  });
});

describe('SecretMemory: the last good certificates across controller runs', () => {
  let good: Pair;
  let ca: string;
  before(() => {
    good = makePair('ec', { dns: ['shop.example.com'] });
    ca = makeCertificate({ cn: 'memory CA', ca: true, key: makeKey('ec') }).pem;
  });

  it('a Secret broken after a good run keeps serving its last good pair; one nothing names is forgotten', () => {
    const memory = new SecretMemory();
    const caSecret: V1Secret = { metadata: { namespace: 'shop', name: 'pods-ca' }, type: 'kubernetes.io/tls', data: { 'ca.crt': b64(ca), 'tls.crt': b64(good.certPem), 'tls.key': b64(good.keyPem) } };
    const first = memory.run(lookupOf([tlsSecret('shop', 'web', good), caSecret]), NOW);
    assert.deepEqual(first.tls('shop', ['web']).certificates.map((c) => c.certPem), [good.certPem]);
    assert.deepEqual(first.backendCa('shop', 'pods-ca'), { kind: 'ok', caPem: ca });
    first.endRun();
    assert.equal(memory.size, 2);

    // the Secret now holds garbage, the CA Secret is gone: both last good values are used
    const second = memory.run(lookupOf([tlsSecret('shop', 'web', { certPem: 'garbage', keyPem: 'garbage' })]), NOW);
    const r = second.tls('shop', ['web']);
    assert.deepEqual(r.certificates.map((c) => c.certPem), [good.certPem]);
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!.reason, /last good certificate is served/);
    assert.deepEqual(second.backendCa('shop', 'pods-ca'), { kind: 'ok', caPem: ca });
    second.endRun();

    // a run where no Service names them forgets them: a later broken Secret serves nothing
    memory.run(lookupOf([]), NOW).endRun();
    assert.equal(memory.size, 0);
    const fourth = memory.run(lookupOf([tlsSecret('shop', 'web', { certPem: 'garbage', keyPem: 'garbage' })]), NOW);
    assert.deepEqual(fourth.tls('shop', ['web']).certificates, []);
    assert.equal(fourth.backendCa('shop', 'pods-ca').kind, 'unavailable');
  });
});
