import assert from 'node:assert/strict';
import { certificateProblem, checkCertificate, indexCertificateNames, pickCertificate, type CertificateCheck } from '../../speaker/proxy/certificates.js';
import { makeCertificate, makeKey, makePair, type KeyPair } from '../../lab/x509.js';

/** Certificates are made around the real clock, so `now` is the real one too. */
const NOW = Date.now();
const DAY = 86_400_000;

describe('checkCertificate: what a PEM pair serves, and what stops it', () => {
  let rsa: KeyPair;
  let ec: KeyPair;
  let ec2: KeyPair;
  before(() => {
    rsa = makeKey('rsa');
    ec = makeKey('ec');
    ec2 = makeKey('ec');
  });

  type Want = { kind: 'usable'; names?: string[]; ips?: string[]; key?: string; warnings?: string[]; chainLength?: number } | { kind: 'unusable'; reason: string; message?: RegExp };
  type Row = { name: string; pair: () => { certPem: string; keyPem: string }; want: Want };
  const valid = { notBeforeMs: NOW - DAY, notAfterMs: NOW + 90 * DAY };
  const rows: Row[] = [
    { name: 'an RSA 2048 certificate with SAN names is usable and answers for them', pair: () => makePair('rsa', { ...valid, dns: ['a.example.com', '*.example.com'] }, rsa), want: { kind: 'usable', names: ['a.example.com', '*.example.com'], key: 'rsa 2048', warnings: [] } },
    { name: 'an ECDSA P-256 certificate is usable', pair: () => makePair('ec', { ...valid, dns: ['b.example.com'] }, ec), want: { kind: 'usable', names: ['b.example.com'], key: 'ec prime256v1', warnings: [] } },
    { name: 'names are lower-cased and lose a trailing dot', pair: () => makePair('ec', { ...valid, dns: ['A.Example.COM.'] }, ec), want: { kind: 'usable', names: ['a.example.com'] } },
    { name: 'the subject CN counts when there is no SAN extension', pair: () => makePair('ec', { ...valid, cn: 'Legacy.example.com' }, ec), want: { kind: 'usable', names: ['legacy.example.com'] } },
    { name: 'with a SAN extension the subject CN is ignored', pair: () => makePair('ec', { ...valid, cn: 'cn.example.com', dns: ['san.example.com'] }, ec), want: { kind: 'usable', names: ['san.example.com'] } },
    { name: 'a certificate for an IP address only is usable, with no name for SNI', pair: () => makePair('ec', { ...valid, cn: 'ignored', ips: ['192.0.2.10', '2001:db8::1'] }, ec), want: { kind: 'usable', names: [], ips: ['192.0.2.10', '2001:DB8:0:0:0:0:0:1'] } },
    { name: 'text that is not PEM is refused as notPem', pair: () => ({ certPem: 'hello', keyPem: ec.keyPem }), want: { kind: 'unusable', reason: 'notPem', message: /holds no PEM certificate/ } },
    { name: 'a PEM block that does not parse is refused as notPem', pair: () => ({ certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', keyPem: ec.keyPem }), want: { kind: 'unusable', reason: 'notPem', message: /#1\) that does not parse/ } },
    { name: 'a key that is not PEM is refused as keyNotPem', pair: () => ({ certPem: makePair('ec', valid, ec).certPem, keyPem: 'not a key' }), want: { kind: 'unusable', reason: 'keyNotPem' } },
    { name: 'an encrypted key is refused as keyEncrypted', pair: () => ({ certPem: makePair('ec', valid, ec).certPem, keyPem: ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }).toString() }), want: { kind: 'unusable', reason: 'keyEncrypted' } },
    { name: 'the key of another ECDSA pair is refused as keyMismatch', pair: () => ({ certPem: makePair('ec', { ...valid, dns: ['a.example.com'] }, ec).certPem, keyPem: ec2.keyPem }), want: { kind: 'unusable', reason: 'keyMismatch', message: /does not match its certificate/ } },
    { name: 'an RSA certificate with an ECDSA key is refused as keyMismatch', pair: () => ({ certPem: makePair('rsa', { ...valid, dns: ['a.example.com'] }, rsa).certPem, keyPem: ec.keyPem }), want: { kind: 'unusable', reason: 'keyMismatch' } },
    { name: 'an RSA 1024 key is refused as weakKey', pair: () => makePair('rsa', { ...valid, dns: ['a.example.com'] }, makeKey('rsa', 1024)), want: { kind: 'unusable', reason: 'weakKey', message: /1024 bits/ } },
    { name: 'a certificate without any name is refused as noNames', pair: () => makePair('ec', valid, ec), want: { kind: 'unusable', reason: 'noNames' } },
    { name: 'an expired certificate is still served, with a warning', pair: () => makePair('ec', { dns: ['a.example.com'], notBeforeMs: NOW - 90 * DAY, notAfterMs: NOW - DAY }, ec), want: { kind: 'usable', names: ['a.example.com'], warnings: ['expired'] } },
    { name: 'a certificate not valid yet is still served, with a warning', pair: () => makePair('ec', { dns: ['a.example.com'], notBeforeMs: NOW + DAY, notAfterMs: NOW + 90 * DAY }, ec), want: { kind: 'usable', warnings: ['notYetValid'] } },
    {
      name: 'a leaf followed by the intermediate that issued it is usable without a warning',
      pair: () => {
        const caKey = makeKey('ec');
        const ca = makeCertificate({ ...valid, cn: 'Test CA', ca: true, key: caKey });
        const leaf = makeCertificate({ ...valid, cn: 'a.example.com', dns: ['a.example.com'], key: ec, issuer: { cert: ca, key: caKey } });
        return { certPem: leaf.pem + ca.pem, keyPem: ec.keyPem };
      },
      want: { kind: 'usable', warnings: [], chainLength: 2 },
    },
    {
      name: 'a leaf followed by a certificate that did not issue it warns chainOrder',
      pair: () => ({ certPem: makePair('ec', { ...valid, cn: 'leaf', dns: ['a.example.com'] }, ec).certPem + makePair('ec', { ...valid, cn: 'other', dns: ['x.example.com'] }, ec2).certPem, keyPem: ec.keyPem }),
      want: { kind: 'usable', warnings: ['chainOrder'], chainLength: 2 },
    },
  ];

  for (const row of rows) {
    it(row.name, () => {
      const pair = row.pair();
      const before = JSON.stringify(pair);
      const got: CertificateCheck = checkCertificate(pair, NOW);
      const call = `checkCertificate(${row.name})`;
      assert.equal(got.kind, row.want.kind, `${call}: ${JSON.stringify(got)}`);
      if (got.kind === 'usable' && row.want.kind === 'usable') {
        if (row.want.names) assert.deepEqual(got.info.names, row.want.names, call);
        if (row.want.ips) assert.deepEqual(got.info.ipAddresses, row.want.ips, call);
        if (row.want.key) assert.equal(got.info.key, row.want.key, call);
        if (row.want.warnings) assert.deepEqual(got.warnings.map((w) => w.reason), row.want.warnings, call);
        if (row.want.chainLength) assert.equal(got.info.chainLength, row.want.chainLength, call);
        assert.ok(got.info.notAfterMs > got.info.notBeforeMs, call);
      }
      if (got.kind === 'unusable' && row.want.kind === 'unusable') {
        assert.equal(got.problem.reason, row.want.reason, `${call}: ${got.problem.message}`);
        if (row.want.message) assert.match(got.problem.message, row.want.message, call);
      }
      assert.equal(JSON.stringify(pair), before, 'the pair was not mutated');
    });
  }

  it('reads the validity dates of the certificate', () => {
    const got = checkCertificate(makePair('ec', { dns: ['a.example.com'], notBeforeMs: Date.parse('2026-01-02T03:04:05Z'), notAfterMs: Date.parse('2051-01-02T03:04:05Z') }, ec), NOW);
    assert.equal(got.kind, 'usable');
    if (got.kind !== 'usable') return;
    assert.equal(got.info.notBeforeMs, Date.parse('2026-01-02T03:04:05Z'));
    assert.equal(got.info.notAfterMs, Date.parse('2051-01-02T03:04:05Z'), 'GeneralizedTime after 2049');
  });

  it('certificateProblem names the first problem, a warning if that is all, or none', () => {
    assert.equal(certificateProblem({ certPem: 'x', keyPem: 'y' }, NOW)?.reason, 'notPem');
    assert.equal(certificateProblem(makePair('ec', { dns: ['a.example.com'], notBeforeMs: NOW - 2 * DAY, notAfterMs: NOW - DAY }, ec), NOW)?.reason, 'expired');
    assert.equal(certificateProblem(makePair('ec', { ...valid, dns: ['a.example.com'] }, ec), NOW), undefined);
  });
});

describe('pickCertificate: which certificate answers a server name', () => {
  const certificates = [['default.example.com'], ['a.example.com', 'www.a.example.com'], ['*.example.com'], ['*.a.example.com', 'exact.b.example.com'], ['a.example.com', 'a*.example.com']];
  type Row = { name: string; serverName: string | undefined; want: number; certificates?: string[][] };
  const rows: Row[] = [
    { name: 'no SNI gets the default, the first', serverName: undefined, want: 0 },
    { name: 'an empty SNI gets the default', serverName: '', want: 0 },
    { name: 'an exact name picks the first certificate that has it', serverName: 'a.example.com', want: 1 },
    { name: 'the match ignores case and a trailing dot', serverName: 'A.Example.COM.', want: 1 },
    { name: 'a wildcard covers one more label', serverName: 'shop.example.com', want: 2 },
    { name: 'an exact name wins over a wildcard that also covers it', serverName: 'www.a.example.com', want: 1 },
    { name: 'the most specific parent decides the wildcard', serverName: 'x.a.example.com', want: 3 },
    { name: 'a wildcard does not cover two labels', serverName: 'x.y.example.com', want: 0 },
    { name: 'a wildcard does not cover its parent itself', serverName: 'example.com', want: 0 },
    { name: 'an unknown name gets the default', serverName: 'other.org', want: 0 },
    { name: 'a partial wildcard (a*.example.com) is never matched', serverName: 'ab.example.com', want: 2 },
    { name: 'an exact name on a later certificate wins over a wildcard on an earlier one', serverName: 'shop.example.com', want: 1, certificates: [['*.example.com'], ['shop.example.com']] },
    { name: 'a lone wildcard certificate is the default for everything else', serverName: 'other.org', want: 0, certificates: [['*.example.com']] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const names = row.certificates ?? certificates;
      const before = JSON.stringify(names);
      const got = pickCertificate(row.serverName, indexCertificateNames(names));
      assert.equal(got, row.want, `pickCertificate(${JSON.stringify(row.serverName)}, ${before})`);
      assert.equal(JSON.stringify(names), before, 'the names were not mutated');
    });
  }
});
