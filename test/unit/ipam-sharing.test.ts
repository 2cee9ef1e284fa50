import assert from 'node:assert/strict';
import { claimsOverlap, hostsOverlap, parseHostPattern, parsePathPrefix, type HttpClaim } from '../../src/http-match.js';
import { canShareWith, portPairs } from '../../src/ipam/sharing.js';
import { asServiceKey } from '../../src/service/key.js';
import type { HttpPortClaim } from '../../src/ipam/types.js';
import { req } from './ipam-fixtures.js';

describe('claimsOverlap: when two HTTP claims on one port clash', () => {
  const claim = (hosts: string[], pathPrefix = '/'): HttpClaim => ({ hosts, pathPrefix });
  const rows: { name: string; a: HttpClaim; b: HttpClaim; overlap: boolean }[] = [
    { name: 'the same host and prefix overlap', a: claim(['a.example.com']), b: claim(['a.example.com']), overlap: true },
    { name: 'one shared host among several is enough', a: claim(['a.example.com', 'b.example.com']), b: claim(['c.example.com', 'b.example.com']), overlap: true },
    { name: 'the same host under other prefixes does not overlap (the longest prefix wins)', a: claim(['a.example.com'], '/'), b: claim(['a.example.com'], '/api'), overlap: false },
    { name: 'nested prefixes do not overlap', a: claim(['a.example.com'], '/api'), b: claim(['a.example.com'], '/api/v2'), overlap: false },
    { name: 'a wildcard covers a name one label deeper', a: claim(['*.example.com']), b: claim(['a.example.com']), overlap: true },
    { name: 'a wildcard covers a name several labels deeper', a: claim(['x.y.example.com']), b: claim(['*.example.com']), overlap: true },
    { name: 'a wildcard covers a narrower wildcard', a: claim(['*.example.com']), b: claim(['*.b.example.com']), overlap: true },
    { name: 'a wildcard does not cover its bare suffix', a: claim(['*.example.com']), b: claim(['example.com']), overlap: false },
    { name: 'a wildcard does not cover a name that only ends with the same letters', a: claim(['*.example.com']), b: claim(['badexample.com']), overlap: false },
    { name: 'two default routes with the same prefix overlap', a: claim([]), b: claim([]), overlap: true },
    { name: 'two default routes with other prefixes do not', a: claim([], '/'), b: claim([], '/api'), overlap: false },
    { name: 'a default route and a route with hosts do not overlap', a: claim([]), b: claim(['a.example.com']), overlap: false },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.equal(claimsOverlap(row.a, row.b).kind === 'overlap', row.overlap, `claimsOverlap(${JSON.stringify(row.a)}, ${JSON.stringify(row.b)})`);
      assert.equal(claimsOverlap(row.b, row.a).kind === 'overlap', row.overlap, 'symmetric');
    });
  }

  it('hostsOverlap is symmetric and reflexive', () => {
    for (const [a, b] of [['a.example.com', '*.example.com'], ['*.example.com', '*.a.example.com']] as const) assert.equal(hostsOverlap(a, b), hostsOverlap(b, a));
    assert.ok(hostsOverlap('*.example.com', '*.example.com'));
  });
});

describe('parseHostPattern and parsePathPrefix: what a host and a prefix may be', () => {
  const hosts: { name: string; text: string; want: string | undefined }[] = [
    { name: 'a name is lower-cased', text: 'A.Example.COM', want: 'a.example.com' },
    { name: 'a wildcard first label is kept', text: '*.example.com', want: '*.example.com' },
    { name: 'a wildcard inside a label is refused', text: 'a*.example.com', want: undefined },
    { name: 'a host with a port is refused', text: 'a.example.com:8080', want: undefined },
    { name: 'a trailing dot is refused', text: 'a.example.com.', want: undefined },
    { name: 'an underscore is refused', text: 'a_b.example.com', want: undefined },
  ];
  for (const row of hosts) {
    it(`host: ${row.name}`, () => {
      const r = parseHostPattern(row.text);
      assert.equal(r.kind === 'ok' ? r.value : undefined, row.want, `parseHostPattern(${row.text})`);
    });
  }
  const prefixes: { name: string; text: string; want: string | undefined }[] = [
    { name: 'one trailing slash is dropped', text: '/api/', want: '/api' },
    { name: '"/" stays "/"', text: '/', want: '/' },
    { name: 'a prefix must start with "/"', text: 'api', want: undefined },
    { name: 'a query is refused', text: '/api?x=1', want: undefined },
    { name: 'a space is refused', text: '/a b', want: undefined },
  ];
  for (const row of prefixes) {
    it(`prefix: ${row.name}`, () => {
      const r = parsePathPrefix(row.text);
      assert.equal(r.kind === 'ok' ? r.value : undefined, row.want, `parsePathPrefix(${row.text})`);
    });
  }
});

describe('canShareWith: the verdict and its message for HTTP ports', () => {
  const http = (hosts: string[], o: Partial<HttpPortClaim> = {}): HttpPortClaim => ({ hosts, pathPrefix: '/', tls: false, redirect: false, ...o });
  const sharer = (name: string, port: { port: number; protocol: 'TCP'; http?: HttpPortClaim }) => ({ service: asServiceKey(`ns/${name}`), request: req({ sharingKey: 'k', ports: [port] }) });
  const rows: { name: string; a: HttpPortClaim | undefined; b: HttpPortClaim | undefined; message?: RegExp }[] = [
    { name: 'distinct hosts share', a: http(['a.example.com']), b: http(['b.example.com']) },
    { name: 'an overlap names the host and the prefix', a: http(['a.example.com']), b: http(['*.example.com']), message: /^port 80\/TCP on 192\.0\.2\.1 cannot be shared with ns\/holder: both claim hosts "\*\.example\.com" and "a\.example\.com", path prefix "\/"$/ },
    { name: 'TLS on one side only is named', a: http(['a.example.com'], { tls: true }), b: http(['b.example.com']), message: /one Service terminates TLS on it and the other does not$/ },
    { name: 'a TCP port beside an HTTP one says only HTTP ports share', a: undefined, b: http(['b.example.com']), message: /^port 80\/TCP is already in use on 192\.0\.2\.1 by ns\/holder \(only ports that are HTTP in both Services can share, by host and path prefix\)$/ },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const holder = sharer('holder', { port: 80, protocol: 'TCP', ...(row.a ? { http: row.a } : {}) });
      const newcomer = sharer('newcomer', { port: 80, protocol: 'TCP', ...(row.b ? { http: row.b } : {}) });
      const before = structuredClone([holder, newcomer]);
      const verdict = canShareWith(newcomer, holder, '192.0.2.1');
      if (row.message === undefined) assert.deepEqual(verdict, { ok: true });
      else {
        assert.equal(verdict.ok, false);
        if (!verdict.ok) assert.match(verdict.message, row.message);
      }
      assert.deepEqual([holder, newcomer], before, 'inputs were not mutated');
    });
  }

  it('portPairs leaves HTTP ports out of the exclusive pairs', () => {
    assert.deepEqual(portPairs({ ports: [{ port: 80, protocol: 'TCP', http: http([]) }, { port: 53, protocol: 'UDP' }] }), ['53/UDP']);
  });
});
