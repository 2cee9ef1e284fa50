import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { httpBackendConfig, type Topology } from '../../bench/l4/config.js';
import { emptyCell, record, toWorkloads, type Metric, type Outcome } from '../../bench/l7/cells.js';
import { backendL7Config, fulcrumL7Config, haproxyL7Config, type Certificates, type L7Topology } from '../../bench/l7/config.js';
import { acceptedConnections, parseTlsLoad } from '../../bench/l7/parse.js';

const topology = (): L7Topology => ({
  host: '127.0.0.1',
  backend: 9001,
  fulcrum: { http: 8001, ecdsa: 8002, rsa: 8003 },
  haproxy: { http: 7001, ecdsa: 7002, rsa: 7003 },
});

const certificates = (): Certificates => ({
  caFile: '/tmp/b/ca.pem',
  ecdsa: { certFile: '/tmp/b/ecdsa.pem', keyFile: '/tmp/b/ecdsa.key', bundleFile: '/tmp/b/ecdsa.bundle.pem' },
  rsa: { certFile: '/tmp/b/rsa.pem', keyFile: '/tmp/b/rsa.key', bundleFile: '/tmp/b/rsa.bundle.pem' },
});

interface FulcrumFile {
  workers: number;
  frontends: Array<{ name: string; listen: string; protocol: string; backend: string; tls?: { certificates: Array<{ certFile: string; keyFile: string }> } }>;
  backends: Array<{ name: string; protocol: string; endpoints: unknown[] }>;
}

describe('bench l7 configs', () => {
  it('Fulcrum gets an http frontend per workload kind, TLS ones with their own certificate, all to one HTTP backend', () => {
    const t = topology();
    const certs = certificates();
    const [tCopy, certsCopy] = [structuredClone(t), structuredClone(certs)];
    const cfg = parseYaml(fulcrumL7Config(t, 2, certs)) as FulcrumFile;
    assert.equal(cfg.workers, 2);
    assert.deepEqual(cfg.frontends.map((f) => [f.name, f.listen, f.protocol, f.backend]), [
      ['http', '127.0.0.1:8001', 'http', 'http'],
      ['https-ecdsa', '127.0.0.1:8002', 'http', 'http'],
      ['https-rsa', '127.0.0.1:8003', 'http', 'http'],
    ]);
    assert.equal(cfg.frontends[0]!.tls, undefined, 'plain http has no tls');
    assert.deepEqual(cfg.frontends[2]!.tls, { certificates: [{ certFile: '/tmp/b/rsa.pem', keyFile: '/tmp/b/rsa.key' }] });
    assert.deepEqual(cfg.backends, [{ name: 'http', protocol: 'http', balance: 'roundrobin', endpoints: [{ address: '127.0.0.1', port: 9001 }] }]);
    assert.deepEqual([t, certs], [tCopy, certsCopy], 'inputs not mutated');
  });

  it('Fulcrum can be given the plain HTTP frontend only, for a proxy that refuses TLS', () => {
    const cfg = parseYaml(fulcrumL7Config(topology(), 1, certificates(), ['http'])) as FulcrumFile;
    assert.deepEqual(cfg.frontends.map((f) => f.name), ['http']);
  });

  const haproxyRows: Array<[string, RegExp]> = [
    ['haproxy runs as many threads as Fulcrum has workers', /^global\n {2}nbthread 3\n/],
    ['haproxy proxies in http mode with Fulcrum default timeouts', /mode http\n(.*\n)* {2}timeout http-request 5s\n {2}timeout http-keep-alive 60s\n/],
    ['the plain frontend binds without ssl and says http', /frontend http\n {2}bind 127\.0\.0\.1:7001\n {2}option forwardfor\n {2}http-request set-header X-Forwarded-Proto http\n/],
    ['the ECDSA frontend terminates TLS with the ECDSA bundle', /frontend https-ecdsa\n {2}bind 127\.0\.0\.1:7002 ssl crt \/tmp\/b\/ecdsa\.bundle\.pem\n(.*\n){1}.*X-Forwarded-Proto https\n/],
    ['the RSA frontend terminates TLS with the RSA bundle', /bind 127\.0\.0\.1:7003 ssl crt \/tmp\/b\/rsa\.bundle\.pem\n/],
    ['the backend reuses server connections safely, one server', /backend http\n {2}http-reuse safe\n {2}balance roundrobin\n {2}server e1 127\.0\.0\.1:9001\n$/],
  ];
  for (const [story, re] of haproxyRows) {
    it(story, () => {
      const t = topology();
      const copy = structuredClone(t);
      assert.match(haproxyL7Config(t, 3, certificates()), re);
      assert.deepEqual(t, copy, 'topology not mutated');
    });
  }

  it('every frontend adds the three headers Fulcrum adds, then goes to the one backend', () => {
    const cfg = haproxyL7Config(topology(), 1, certificates());
    const blocks = cfg.split(/^frontend /m).slice(1);
    assert.equal(blocks.length, 3);
    for (const block of blocks) assert.match(block, /option forwardfor\n {2}http-request set-header X-Forwarded-Proto https?\n {2}http-request set-header X-Forwarded-Port %\[dst_port\]\n {2}default_backend http\n/);
  });

  it('the backend is the L4 suite responder plus a stats socket', () => {
    const t = topology();
    const cfg = backendL7Config(t, '/tmp/b/backend.sock');
    const l4: Topology = { host: '127.0.0.1', backends: { conn: 0, bulk: 0, http: 9001, udp: 0 }, fulcrum: { conn: 0, bulk: 0, http: 0, udp: 0 }, haproxy: { conn: 0, bulk: 0, http: 0 }, kernel: { conn: 0, bulk: 0, http: 0, udp: 0 } };
    assert.ok(cfg.startsWith(httpBackendConfig(l4)), cfg);
    assert.match(cfg, /bind 127\.0\.0\.1:9001\n/);
    assert.match(cfg, /\nglobal\n {2}stats socket \/tmp\/b\/backend\.sock mode 600 level user\n$/);
  });
});

describe('bench l7 parsers', () => {
  const LINE = '{"handshakesPerSec":964.2,"handshakes":964,"resumed":0,"errors":1,"seconds":1.0002,"protocol":"TLSv1.3","cipher":"TLS_AES_256_GCM_SHA384","group":"X25519","clientCpuSeconds":0.88}';

  it('tls-load: the last line is the result', () => {
    const r = parseTlsLoad(`some warning\n${LINE}\n`);
    assert.equal(r.handshakesPerSec, 964.2);
    assert.equal(r.errors, 1);
    assert.equal(`${r.protocol} ${r.cipher} ${r.group}`, 'TLSv1.3 TLS_AES_256_GCM_SHA384 X25519');
  });

  const badLines: Array<[string, string, RegExp]> = [
    ['a line that is not JSON is refused', 'Error: connect ECONNREFUSED', /last line is not JSON/],
    ['a result without a handshake count is refused, naming the field', LINE.replace('"handshakes":964,', ''), /no number handshakes/],
  ];
  for (const [story, text, re] of badLines) {
    it(`tls-load: ${story}`, () => {
      assert.throws(() => parseTlsLoad(text), (err: Error & { code?: string }) => err.code === 'FUL_ERR_BENCH_PARSE' && re.test(err.message));
    });
  }

  it("haproxy show info: CumConns is the count of accepted connections; without it, an error", () => {
    assert.equal(acceptedConnections('Name: HAProxy\nVersion: 2.6.12\nCumConns: 4332\nCumReq: 9000\n'), 4332);
    assert.throws(() => acceptedConnections('Unknown command\n'), { code: 'FUL_ERR_BENCH_PARSE' });
  });
});

describe('bench l7 cells', () => {
  const METRICS: Metric[] = [
    { key: 'rate', name: 'http mode new connection per request', unit: 'conn/s' },
    { key: 'cpu', name: 'http mode new connection: proxy CPU per conn', unit: 'µs', lowerIsBetter: true, proxyCpuPer: { scale: 1e6 } },
  ];
  const outcome = (over: Partial<Outcome> = {}): Outcome => ({ figures: { rate: 5000 }, units: 5000, errors: 0, ...over });
  const run = (over: Partial<Parameters<typeof record>[3]> = {}): Parameters<typeof record>[3] => ({ proxyCpuSeconds: 0.9, wallSeconds: 1, backendCpuSeconds: 0.4, backendConns: 5000, busy: [100, 90], ...over });

  it('the proxy CPU per unit is the proxy CPU of the run over the units it completed', () => {
    const cell = emptyCell();
    record(cell, METRICS, outcome(), run());
    record(cell, METRICS, outcome({ units: 4000, figures: { rate: 4000 } }), run({ proxyCpuSeconds: 1.0 }));
    assert.deepEqual(cell.figures.rate, [5000, 4000]);
    assert.deepEqual(cell.figures.cpu!.map((v) => Math.round(v)), [180, 250]);
    assert.deepEqual(cell.backendConnsPerUnit, [1, 1.25]);
  });

  it('the direct path records no proxy CPU figure and no proxy cores', () => {
    const cell = emptyCell();
    record(cell, METRICS, outcome(), run({ proxyCpuSeconds: null }));
    assert.equal(cell.figures.cpu, undefined);
    assert.deepEqual(cell.proxyCores, []);
  });

  it('rows take the median per path, and the first row notes resumed handshakes, reuse and CPU', () => {
    const fulcrum = emptyCell();
    const haproxy = emptyCell();
    for (const cpu of [0.8, 0.9, 1.0]) record(fulcrum, METRICS, outcome({ resumed: 1, negotiated: 'TLSv1.3 X' }), run({ proxyCpuSeconds: cpu, backendConns: 1 }));
    record(haproxy, METRICS, outcome(), run({ proxyCpuSeconds: 0.5 }));
    const [rate, cpu] = toWorkloads(METRICS, { fulcrum, haproxy }, ['direct: none']);
    assert.equal(rate!.fulcrum, 5000);
    assert.equal(rate!.kernel, null);
    assert.equal(rate!.direct, null);
    assert.equal(cpu!.fulcrum, 180);
    assert.equal(cpu!.haproxy, 100);
    assert.equal(cpu!.lowerIsBetter, true);
    assert.match(rate!.notes!, /fulcrum: 3 handshakes resumed a session/);
    assert.match(rate!.notes!, /fulcrum negotiated TLSv1\.3 X; direct: none; backend connections per unit: fulcrum 0\.0002, haproxy 1\.00/);
    assert.match(rate!.notes!, /CPU: fulcrum proxy 0\.90 \+ backend 0\.40 cores, cpu busy 100\/90%/);
    assert.equal(cpu!.notes, undefined);
  });
});
