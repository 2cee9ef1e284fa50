import assert from 'node:assert/strict';
import { loadProxyFile, parseListen, parseProxyFile, ProxyConfigError, type ReadReferencedFile } from '../../speaker/proxy/file.js';
import { DEFAULT_HTTP_OPTIONS } from '../../speaker/proxy/model.js';
import { planProxy } from '../../speaker/proxy/plan.js';
import { A_CERT, A_KEY, B_CERT, B_KEY } from '../helpers/tls-fixtures.js';

const OK = `
frontends:
  - name: echo
    listen: 127.0.0.1:8080
    protocol: tcp
    backend: echo
backends:
  - name: echo
    endpoints:
      - { address: 127.0.0.1, port: 9000 }
`;

describe('parseProxyFile: the standalone YAML file', () => {
  it('a minimal file gets every default filled in', () => {
    const r = parseProxyFile(OK);
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.deepEqual(r.model.frontends[0], {
      name: 'echo',
      listen: { address: '127.0.0.1', port: 8080 },
      protocol: 'tcp',
      routes: [{ match: { kind: 'any' }, backend: 'echo' }],
      sourceRanges: [],
      acceptProxyProtocolFrom: [],
      timeouts: { connectMs: 5000, idleMs: 300_000 },
    });
    assert.deepEqual(r.model.backends[0], {
      name: 'echo',
      balance: 'roundrobin',
      proxyProtocol: 'none',
      affinity: { clientIP: false, timeoutSeconds: 10800 },
      passiveEjection: { consecutiveFailures: 3, baseEjectMs: 5000, maxEjectMs: 60_000 },
      connectAttempts: 3,
      endpoints: [{ address: '127.0.0.1', port: 9000, ready: true, serving: true, terminating: false, weight: 1 }],
    });
    assert.equal(r.model.workers, 1);
  });

  type Row = { name: string; yaml: string; problems: string[] };
  const rows: Row[] = [
    { name: 'not YAML at all', yaml: 'frontends: [', problems: ['not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 13:'] },
    { name: 'a list at the top', yaml: '- 1', problems: ['the file: a list is not a mapping with frontends and backends'] },
    { name: 'an unknown top-level key is named', yaml: `${OK}\nworker: 2\n`, problems: ['worker: unknown key (expected one of workers, maxconn, frontends, backends)'] },
    { name: 'a UDP frontend cannot accept PROXY headers', yaml: OK.replace('protocol: tcp', 'protocol: udp\n    acceptProxyProtocolFrom: [10.0.0.0/8]'), problems: ['frontends[0].acceptProxyProtocolFrom: "udp" frontends do not accept PROXY headers'] },
    { name: 'a UDP frontend cannot use a backend that sends PROXY headers', yaml: OK.replace('protocol: tcp', 'protocol: udp').replace('    endpoints:', '    proxyProtocol: v2\n    endpoints:'), problems: ['backends[0].proxyProtocol: "v2" is not supported behind udp frontend "echo"'] },
    { name: 'two frontends on one address and port clash', yaml: OK.replace('backends:', '  - { name: two, listen: 127.0.0.1:8080, backend: echo }\nbackends:'), problems: ['frontends[1].listen: "127.0.0.1:8080" is also the tcp listen address of frontend "echo"'] },
    { name: 'duplicate names are reported', yaml: OK.replace('backends:', '  - { name: echo, listen: 127.0.0.1:8081, backend: echo }\nbackends:'), problems: ['frontends[1].name: "echo" is used by an earlier frontend'] },
    { name: 'an IPv4 address in brackets is not a listen address', yaml: OK.replace('127.0.0.1:8080', '"[127.0.0.1]:8080"'), problems: ['frontends[0].listen: "[127.0.0.1]:8080" is not ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)'] },
    { name: 'weights and timeouts have bounds', yaml: OK.replace('port: 9000 }', 'port: 9000, weight: 1000 }').replace('backend: echo', 'backend: echo\n    timeouts: { connectMs: 0 }'), problems: ['frontends[0].timeouts.connectMs: 0 is not a whole number between 1 and 3600000', 'backends[0].endpoints[0].weight: 1000 is not a whole number between 0 and 256'] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const r = parseProxyFile(row.yaml);
      assert.deepEqual(r.kind === 'invalid' ? r.problems : [], row.problems, `parseProxyFile(${row.name})`);
    });
  }

  it('loadProxyFile throws one FulcrumError listing every problem', () => {
    assert.equal(loadProxyFile(OK).frontends.length, 1);
    assert.throws(() => loadProxyFile('workers: 0\nfrontends: 1\n'), (err: unknown) => {
      assert.ok(err instanceof ProxyConfigError);
      assert.equal(err.code, 'FUL_ERR_PROXY_CONFIG');
      assert.deepEqual(err.problems, ['workers: 0 is not a whole number between 1 and 64', 'frontends: 1 is not a list']);
      return true;
    });
  });

  it('parseListen reads IPv4, bracketed IPv6 and port 0', () => {
    assert.deepEqual(parseListen('0.0.0.0:53'), { address: '0.0.0.0', port: 53 });
    assert.deepEqual(parseListen('[2001:db8::1]:443'), { address: '2001:db8::1', port: 443 });
    assert.deepEqual(parseListen('127.0.0.1:0'), { address: '127.0.0.1', port: 0 });
    assert.equal(parseListen('2001:db8::1:443'), undefined, 'IPv6 needs brackets');
    assert.equal(parseListen('localhost:80'), undefined, 'names are not resolved');
  });
});

describe('parseProxyFile: HTTP and TLS keys', () => {
  const FILES: Record<string, string> = { 'a.pem': A_CERT, 'a.key': A_KEY, 'b.pem': B_CERT, 'b.key': B_KEY, 'ca.pem': B_CERT, 'notes.txt': 'hello' };
  const readFile: ReadReferencedFile = (file) => (file in FILES ? { kind: 'ok', text: FILES[file]! } : { kind: 'error', message: `reading /etc/fulcrum/${file}: ENOENT: no such file or directory` });
  const WEB = `
frontends:
  - name: web
    listen: 127.0.0.1:8443
    protocol: http
    tls:
      certificates: [{ certFile: a.pem, keyFile: a.key }, { certFile: b.pem, keyFile: b.key }]
      minVersion: TLSv1.3
    redirectToHttps: false
    forwardedHeader: true
    trustForwardedFrom: [10.0.0.0/8]
    routes:
      - { hosts: [A.example.com], pathPrefix: /api/, backend: api }
      - { backend: web }
    timeouts: { httpRequestMs: 4000, httpKeepAliveMs: 30000, serverMs: 20000, tunnelMs: 600000 }
backends:
  - name: web
    protocol: http
    healthCheck: { type: http, path: /healthz, expectStatus: 200-399, intervalMs: 2000, rise: 2, fall: 3 }
    stickyCookie: SERVERID
    endpoints: [{ address: 127.0.0.1, port: 9001 }]
  - name: api
    protocol: https
    tls: { caFile: ca.pem, serverName: api.internal }
    endpoints: [{ address: 127.0.0.1, port: 9002 }]
`;

  it('the example of the README parses into frontends with routes, TLS and HTTP options, and backends with re-encryption', () => {
    const r = parseProxyFile(WEB, { readFile });
    assert.equal(r.kind, 'ok', r.kind === 'invalid' ? r.problems.join('\n') : '');
    if (r.kind !== 'ok') return;
    const f = r.model.frontends[0]!;
    assert.deepEqual(f.routes, [
      { match: { kind: 'http', hosts: ['a.example.com'], pathPrefix: '/api' }, backend: 'api' },
      { match: { kind: 'http', hosts: [], pathPrefix: '/' }, backend: 'web' },
    ]);
    assert.deepEqual(f.tls, {
      certificates: [{ source: 'a.pem', certPem: A_CERT, keyPem: A_KEY }, { source: 'b.pem', certPem: B_CERT, keyPem: B_KEY }],
      minVersion: 'TLSv1.3',
    });
    assert.deepEqual(f.http, { redirectToHttps: false, forwardedHeader: true, trustForwardedFrom: ['10.0.0.0/8'], timeouts: { httpRequestMs: 4000, httpKeepAliveMs: 30_000, serverMs: 20_000, tunnelMs: 600_000 } });
    assert.deepEqual(f.timeouts, { connectMs: 5000, idleMs: 300_000 });
    const [web, api] = r.model.backends;
    assert.deepEqual([web!.protocol, web!.stickyCookie, web!.healthCheck], ['http', 'SERVERID', { type: 'http', path: '/healthz', expectStatus: { min: 200, max: 399 }, intervalMs: 2000, rise: 2, fall: 3, timeoutMs: 2000 }]);
    assert.deepEqual([api!.protocol, api!.tls], ['https', { caPem: B_CERT, serverName: 'api.internal' }]);
  });

  it('backend: NAME on an http frontend is one default route, with the HTTP defaults', () => {
    const r = parseProxyFile(OK.replace('protocol: tcp', 'protocol: http'));
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.deepEqual(r.model.frontends[0]!.routes, [{ match: { kind: 'http', hosts: [], pathPrefix: '/' }, backend: 'echo' }]);
    assert.deepEqual(r.model.frontends[0]!.http, DEFAULT_HTTP_OPTIONS);
    assert.equal(r.model.frontends[0]!.tls, undefined);
  });

  it('a replaced certificate file is a changed model, so a reload updates the frontend', () => {
    const before = parseProxyFile(WEB, { readFile });
    const after = parseProxyFile(WEB, { readFile: (file) => readFile(file === 'a.pem' ? 'b.pem' : file === 'a.key' ? 'b.key' : file) });
    assert.ok(before.kind === 'ok' && after.kind === 'ok');
    if (before.kind !== 'ok' || after.kind !== 'ok') return;
    assert.deepEqual(planProxy(before.model, after.model).update.map((f) => f.name), ['web']);
  });

  type Row = { name: string; yaml: string; problems: string[]; noReader?: boolean };
  const http = (extra: string) => OK.replace('protocol: tcp', `protocol: http${extra}`);
  const tls = (certs: string) => OK.replace('protocol: tcp', `protocol: tcp\n    tls: { certificates: [${certs}] }`);
  const rows: Row[] = [
    { name: 'routes on a tcp frontend are refused', yaml: OK.replace('backend: echo', 'backend: echo\n    routes: [{ backend: echo }]'), problems: ['frontends[0].routes: a list is for http frontends only (this one is tcp)'] },
    { name: 'backend and routes together are refused', yaml: http('\n    routes: [{ backend: echo }]'), problems: ['frontends[0].backend: "echo" cannot be given with routes (a route without hosts is the default)'] },
    {
      name: 'a bad host and a prefix without a slash name the route field and the value',
      yaml: OK.replace('protocol: tcp\n    backend: echo', 'protocol: http\n    routes: [{ hosts: ["a b.example.com"], pathPrefix: api, backend: echo }]'),
      problems: ['frontends[0].routes[0].hosts[0]: "a b.example.com" is not a host pattern: it is not a DNS name (labels of a-z, 0-9 and "-", separated by dots)', 'frontends[0].routes[0].pathPrefix: "api" is not a path prefix: it does not start with "/"'],
    },
    {
      name: 'a route that repeats an earlier host and prefix is refused: it would never be used',
      yaml: OK.replace('protocol: tcp\n    backend: echo', 'protocol: http\n    routes: [{ hosts: [a.example.com], backend: echo }, { hosts: [A.example.com], pathPrefix: /, backend: echo }]'),
      problems: ['frontends[0].routes[1]: "a.example.com /" is already matched by frontends[0].routes[0]: this route would never be used'],
    },
    { name: 'a route naming no backend is reported on that route', yaml: OK.replace('protocol: tcp\n    backend: echo', 'protocol: http\n    routes: [{ backend: echo }, { hosts: [b.example.com], backend: nope }]'), problems: ['frontends[0].routes[1].backend: "nope" names no backend'] },
    {
      name: 'a certificate file that cannot be read names the field, the frontend and the path',
      yaml: tls('{ certFile: a.pem, keyFile: missing.key }'),
      problems: ['frontends[0].tls.certificates[0].keyFile: "missing.key" of frontend "echo" cannot be read: reading /etc/fulcrum/missing.key: ENOENT: no such file or directory'],
    },
    { name: 'a key that is not the certificate\'s is refused', yaml: tls('{ certFile: a.pem, keyFile: b.key }'), problems: ['frontends[0].tls.certificates[0].keyFile: "b.key" of frontend "echo" is not the private key of certFile'] },
    { name: 'a file that is not a certificate is refused', yaml: tls('{ certFile: notes.txt, keyFile: a.key }'), problems: ['frontends[0].tls.certificates[0].certFile: "notes.txt" of frontend "echo" is not a PEM certificate'] },
    { name: 'a TLS section without certificates is refused', yaml: tls(''), problems: ['frontends[0].tls.certificates: a list is empty: frontend "echo" needs at least one certFile and keyFile'] },
    { name: 'a missing keyFile is required', yaml: tls('{ certFile: a.pem }'), problems: ['frontends[0].tls.certificates[0].keyFile: null is required (frontend "echo")'] },
    { name: 'TLS older than 1.2 is not offered', yaml: OK.replace('protocol: tcp', 'protocol: tcp\n    tls: { certificates: [{ certFile: a.pem, keyFile: a.key }], minVersion: TLSv1.1 }'), problems: ['frontends[0].tls.minVersion: "TLSv1.1" is not one of TLSv1.2, TLSv1.3'] },
    { name: 'certificate files cannot be read without a loader', yaml: tls('{ certFile: a.pem, keyFile: a.key }'), noReader: true, problems: ['frontends[0].tls.certificates[0].certFile: "a.pem" of frontend "echo" cannot be read: files are read only when loading from disk', 'frontends[0].tls.certificates[0].keyFile: "a.key" of frontend "echo" cannot be read: files are read only when loading from disk'] },
    { name: 'a UDP frontend cannot terminate TLS', yaml: OK.replace('protocol: tcp', 'protocol: udp\n    tls: { certificates: [{ certFile: a.pem, keyFile: a.key }] }'), problems: ['frontends[0].tls: a mapping is for tcp and http frontends only (this one is udp)'] },
    { name: 'HTTP timeouts on a tcp frontend are unknown keys', yaml: OK.replace('backend: echo', 'backend: echo\n    timeouts: { serverMs: 1000 }'), problems: ['frontends[0].timeouts.serverMs: unknown key (expected one of connectMs, idleMs)'] },
    { name: 'an http backend behind a tcp frontend is refused', yaml: OK.replace('  - name: echo\n    endpoints', '  - name: echo\n    protocol: http\n    endpoints'), problems: ['backends[0].protocol: "http" is not one of tcp, tls, which tcp frontend "echo" can use'] },
    { name: 'a sticky cookie behind a tcp frontend is refused', yaml: OK.replace('  - name: echo\n    endpoints', '  - name: echo\n    stickyCookie: SERVERID\n    endpoints'), problems: ['backends[0].stickyCookie: "SERVERID" needs an http frontend; tcp frontend "echo" uses this backend'] },
    { name: 'backend tls without re-encryption is refused', yaml: OK.replace('  - name: echo\n    endpoints', '  - name: echo\n    tls: { serverName: a.example.com }\n    endpoints'), problems: ['backends[0].tls: a mapping is for backends with protocol tls or https only'] },
    { name: 'an expected status range must be statuses', yaml: http('').replace('  - name: echo\n    endpoints', '  - name: echo\n    healthCheck: { type: http, expectStatus: 200-700 }\n    endpoints'), problems: ['backends[0].healthCheck.expectStatus: "200-700" is not a status or a range of statuses such as 200-399'] },
    { name: 'a path on a tcp health check is refused', yaml: OK.replace('  - name: echo\n    endpoints', '  - name: echo\n    healthCheck: { type: tcp, path: /healthz }\n    endpoints'), problems: ['backends[0].healthCheck.path: "/healthz" is for http health checks only'] },
    { name: 'an http and a tcp frontend on one address and port clash', yaml: OK.replace('backends:', '  - { name: two, listen: 127.0.0.1:8080, protocol: http, backend: echo }\nbackends:'), problems: ['frontends[1].listen: "127.0.0.1:8080" is also the tcp listen address of frontend "echo"'] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const r = parseProxyFile(row.yaml, row.noReader ? {} : { readFile });
      assert.deepEqual(r.kind === 'invalid' ? r.problems : [], row.problems, `parseProxyFile(${row.name})`);
    });
  }
});
