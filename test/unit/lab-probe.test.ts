import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { interpretProbe, probeArgs } from '../../lab/check.js';
import { DEFAULT_EVERY_MS, DEFAULT_PROBE_TEXT, DEFAULT_PROBE_TIMEOUT_MS, parseProbeArgs, parseProbeOutput, runProbe, type ParsedProbeArgs, type ProbeRequest, type ProbeResult } from '../../lab/probe.js';
import type { CheckKind } from '../../lab/samples.js';

const PROBE = fileURLToPath(new URL('../../lab/probe.js', import.meta.url));

describe('lab probe: command line', () => {
  const request = (over: Partial<ProbeRequest>): ParsedProbeArgs => ({
    kind: 'probe',
    request: { kind: 'tcp', host: '192.0.2.64', port: 5678, text: DEFAULT_PROBE_TEXT, path: '/', timeoutMs: DEFAULT_PROBE_TIMEOUT_MS, holdMs: 0, everyMs: DEFAULT_EVERY_MS, ...over },
  });
  const rows: { name: string; argv: string[]; want: ParsedProbeArgs }[] = [
    { name: 'tcp with no text sends the default line', argv: ['tcp', '192.0.2.64', '5678'], want: request({}) },
    { name: 'tcp sends the text given', argv: ['tcp', '192.0.2.64', '5678', 'hello'], want: request({ text: 'hello' }) },
    { name: "an empty text sends nothing and only listens", argv: ['tcp', '192.0.2.64', '5678', ''], want: request({ text: '' }) },
    { name: 'udp takes an IPv6 host in brackets and a timeout', argv: ['udp', '[2001:db8::100]', '5678', '--timeout-ms', '500'], want: request({ kind: 'udp', host: '2001:db8::100', timeoutMs: 500 }) },
    { name: 'http gets / by default and sends no text', argv: ['http', '2001:db8::100', '80'], want: request({ kind: 'http', host: '2001:db8::100', port: 80, text: '' }) },
    { name: 'http takes a path', argv: ['http', '192.0.2.66', '80', '/healthz'], want: request({ kind: 'http', host: '192.0.2.66', port: 80, text: '', path: '/healthz' }) },
    {
      name: 'https takes the Host (and SNI) name and the CA to verify against',
      argv: ['https', '192.0.2.70', '443', '--host', 'web-tls.lab.example', '--ca', '/tmp/lab-ca.crt'],
      want: request({ kind: 'https', host: '192.0.2.70', port: 443, text: '', hostName: 'web-tls.lab.example', caFile: '/tmp/lab-ca.crt' }),
    },
    { name: '--ca is for https only', argv: ['http', '192.0.2.70', '80', '--ca', '/tmp/lab-ca.crt'], want: { kind: 'invalid', problems: ['--ca: only for https'] } },
    { name: 'tcp --hold-ms keeps the connection, a line every --every-ms', argv: ['tcp', '192.0.2.64', '5678', '--hold-ms', '5000', '--every-ms', '50'], want: request({ holdMs: 5000, everyMs: 50 }) },
    {
      name: '--hold-ms is for tcp only, --every-ms only with it',
      argv: ['udp', '192.0.2.65', '5678', '--hold-ms', '0', '--every-ms', '10'],
      want: { kind: 'invalid', problems: ['--hold-ms "0": must be a whole number of milliseconds, at least 1', '--hold-ms: only for tcp'] },
    },
    { name: '--every-ms without --hold-ms is named', argv: ['tcp', '192.0.2.64', '5678', '--every-ms', '10'], want: { kind: 'invalid', problems: ['--every-ms: only with --hold-ms'] } },
    { name: '--help asks for the usage', argv: ['--help'], want: { kind: 'help' } },
    { name: 'nothing at all names what is missing', argv: [], want: { kind: 'invalid', problems: ['missing the probe kind (tcp, udp, http or https), HOST and PORT'] } },
    {
      name: 'every problem is reported, not just the first',
      argv: ['ftp', 'lab-host', '70000', 'x', 'y'],
      want: { kind: 'invalid', problems: ['probe kind "ftp": must be tcp, udp, http or https', 'HOST "lab-host": must be an IPv4 or IPv6 address', 'PORT "70000": must be a whole number from 1 to 65535', 'unexpected argument "y"'] },
    },
    { name: 'a missing port is named', argv: ['tcp', '192.0.2.64'], want: { kind: 'invalid', problems: ['missing PORT'] } },
    { name: 'an http path must start with /', argv: ['http', '192.0.2.66', '80', 'healthz'], want: { kind: 'invalid', problems: ['PATH "healthz": must start with /'] } },
    { name: 'a timeout must be a positive whole number', argv: ['udp', '192.0.2.65', '5678', '--timeout-ms=0'], want: { kind: 'invalid', problems: ['--timeout-ms "0": must be a whole number of milliseconds, at least 1'] } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const argv = [...row.argv];
      assert.deepEqual(parseProbeArgs(argv), row.want, `parseProbeArgs(${JSON.stringify(row.argv)})`);
      assert.deepEqual(argv, row.argv, 'the input is not mutated');
    });
  }

  it('an unknown option is a problem, with the parser words', () => {
    const r = parseProbeArgs(['tcp', '192.0.2.64', '5678', '--colour']);
    assert.equal(r.kind, 'invalid');
    assert.match(r.kind === 'invalid' ? r.problems[0]! : '', /--colour/);
  });
});

describe('lab probe: output line', () => {
  it('reads the result from the last line of stdout', () => {
    const line = '{"probe":"udp","target":"192.0.2.65:5678","ok":true,"ms":3,"reply":"x"}';
    assert.deepEqual(parseProbeOutput(`warning first\n${line}\n`), { probe: 'udp', target: '192.0.2.65:5678', ok: true, ms: 3, reply: 'x' });
  });
  for (const [name, out] of [['empty output', ''], ['not JSON', 'Segmentation fault'], ['JSON that is not a result', '{"ok":"yes"}'], ['null', 'null']] as const) {
    it(`gives undefined for ${name}`, () => assert.equal(parseProbeOutput(out), undefined));
  }
});

describe('lab check: what a probe result means', () => {
  const base: ProbeResult = { probe: 'tcp', target: '192.0.2.64:5678', ok: true, ms: 2 };
  const rows: { name: string; kind: CheckKind; result: Partial<ProbeResult>; want: { ok: boolean; detail: string } }[] = [
    { name: 'an echo of the token passes', kind: 'tcp-echo', result: { reply: 'fulcrum-lab-check' }, want: { ok: true, detail: 'echoed' } },
    { name: 'an answer that is not the token fails and shows it', kind: 'tcp-echo', result: { reply: 'SSH-2.0-OpenSSH' }, want: { ok: false, detail: 'answered "SSH-2.0-OpenSSH"' } },
    { name: 'a refused TCP connection says so', kind: 'tcp-echo', result: { ok: false, reason: 'refused', error: 'connection refused' }, want: { ok: false, detail: 'connection refused' } },
    { name: 'a UDP timeout is "no answer"', kind: 'udp-echo', result: { probe: 'udp', ok: false, reason: 'timeout', error: 'no answer within 3000 ms' }, want: { ok: false, detail: 'no answer' } },
    {
      name: "HTTP passes with the pod server's JSON, naming the pod and the client it saw",
      kind: 'http',
      result: { probe: 'http', status: 200, body: { pod: 'web-2', client: { address: '192.0.2.2', port: 40000 } } },
      want: { ok: true, detail: 'web-2 saw 192.0.2.2' },
    },
    { name: 'HTTP 200 from something else fails', kind: 'http', result: { probe: 'http', status: 200, body: 'It works!' }, want: { ok: false, detail: 'HTTP 200: It works!' } },
    { name: 'an HTTP error status fails with the status', kind: 'http', result: { probe: 'http', ok: false, status: 503, body: 'no backend\n', reason: 'status' }, want: { ok: false, detail: 'HTTP 503: no backend' } },
    { name: 'an HTTP connection that times out says so', kind: 'http', result: { probe: 'http', ok: false, reason: 'timeout', error: 'no answer within 3000 ms' }, want: { ok: false, detail: 'no answer within 3000 ms' } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = { ...base, ...row.result } as ProbeResult;
      const copy = structuredClone(result);
      assert.deepEqual(interpretProbe(row.kind, result), row.want, `interpretProbe(${row.kind}, ${JSON.stringify(result)})`);
      assert.deepEqual(result, copy, 'the result is not mutated');
    });
  }

  it('runs the probe with the check token, except for HTTP', () => {
    assert.deepEqual(probeArgs('udp-echo', '2001:db8::101', 5678).slice(1), ['udp', '2001:db8::101', '5678', 'fulcrum-lab-check', '--timeout-ms', '3000']);
    assert.deepEqual(probeArgs('http', '192.0.2.66', 80).slice(1), ['http', '192.0.2.66', '80', '--timeout-ms', '3000']);
    assert.equal(probeArgs('http', '192.0.2.66', 80)[0], PROBE);
  });
});

// Real sockets on loopback (port 0): the probe as a library and as the program the lab runs.
describe('lab probe: real connections on loopback', () => {
  let echo: Server;
  let banner: Server;
  let silent: Server;
  let udp: UdpSocket;
  let http: HttpServer;
  const port = (s: Server | HttpServer) => (s.address() as AddressInfo).port;
  const req = (over: Partial<ProbeRequest>): ProbeRequest => ({ kind: 'tcp', host: '127.0.0.1', port: 1, text: DEFAULT_PROBE_TEXT, path: '/', timeoutMs: 2000, holdMs: 0, everyMs: DEFAULT_EVERY_MS, ...over });

  before(async () => {
    echo = createServer((s) => s.pipe(s));
    banner = createServer((s) => s.end('pod-one\n'));
    silent = createServer(() => undefined);
    http = createHttpServer((q, r) => {
      const status = q.url === '/missing' ? 404 : 200;
      r.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ path: q.url, host: q.headers.host }));
    });
    await Promise.all([echo, banner, silent, http].map((s) => new Promise<void>((r) => s.listen(0, '::', r))));
    udp = createSocket({ type: 'udp6' });
    udp.on('message', (m, from) => udp.send(m, from.port, from.address));
    await new Promise<void>((r) => udp.bind(0, '::', r));
  });

  after(() => {
    for (const s of [echo, banner, silent, http]) s?.close();
    http?.closeAllConnections();
    udp?.close();
  });

  it('tcp: the echo of its line comes back (IPv4 and IPv6)', async () => {
    const r4 = await runProbe(req({ port: port(echo), text: 'hello' }));
    assert.deepEqual([r4.ok, r4.reply, r4.target], [true, 'hello', `127.0.0.1:${port(echo)}`]);
    const r6 = await runProbe(req({ host: '::1', port: port(echo) }));
    assert.deepEqual([r6.ok, r6.reply, r6.target], [true, DEFAULT_PROBE_TEXT, `[::1]:${port(echo)}`]);
  });

  it('tcp --hold-ms: every numbered line comes back, then a clean close', async () => {
    const r = await runProbe(req({ port: port(echo), text: 'n', holdMs: 250, everyMs: 20 }));
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.ok(r.sent !== undefined && r.sent >= 5, `sent ${r.sent}`);
    assert.equal(r.echoed, r.sent);
    assert.equal(r.reply, `${r.sent} of ${r.sent} lines echoed`);
  });

  it('tcp --hold-ms: a server that closes early or resets fails, with the counts', async () => {
    const early = await runProbe(req({ port: port(banner), text: 'n', holdMs: 2000, everyMs: 20 }));
    assert.equal(early.ok, false);
    assert.match(early.error ?? '', /^(closed by the other side|connection reset) after 1 of \d+ lines echoed$/);
    const quitter = createServer((sock) => sock.once('data', () => sock.resetAndDestroy()));
    await new Promise<void>((resolve) => quitter.listen(0, '127.0.0.1', resolve));
    try {
      const reset = await runProbe(req({ port: port(quitter), text: 'n', holdMs: 2000, everyMs: 20 }));
      assert.deepEqual([reset.ok, reset.reason, reset.echoed], [false, 'reset', 0]);
      assert.match(reset.error ?? '', /^connection reset after 0 of \d+ lines echoed$/);
    } finally {
      quitter.close();
    }
  });

  it('tcp: a server that speaks first and closes is read too', async () => {
    const r = await runProbe(req({ port: port(banner), text: '' }));
    assert.deepEqual([r.ok, r.reply], [true, 'pod-one']);
  });

  it('tcp: silence ends at the deadline, with a reason', async () => {
    const r = await runProbe(req({ port: port(silent), timeoutMs: 200 }));
    assert.deepEqual([r.ok, r.reason, r.error], [false, 'timeout', 'no answer within 200 ms']);
    assert.ok(r.ms >= 190 && r.ms < 1500, String(r.ms));
  });

  it('udp: the datagram comes back (IPv6)', async () => {
    const r = await runProbe(req({ kind: 'udp', host: '::1', port: udp.address().port, text: 'ping' }));
    assert.deepEqual([r.ok, r.reply], [true, 'ping']);
  });

  it('http: status and JSON body, with a Host header for an IPv6 address', async () => {
    const r = await runProbe(req({ kind: 'http', host: '::1', port: port(http), path: '/x' }));
    assert.deepEqual([r.ok, r.status, r.body], [true, 200, { path: '/x', host: `[::1]:${port(http)}` }]);
    const missing = await runProbe(req({ kind: 'http', port: port(http), path: '/missing' }));
    assert.deepEqual([missing.ok, missing.status, missing.reason, missing.error], [false, 404, 'status', 'HTTP 404']);
  });

  it('as a program: one JSON line and exit 0 when answered, 1 when refused, 2 on a usage error', async () => {
    const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [PROBE, ...args], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }));
    });
    const ok = await run(['tcp', '127.0.0.1', String(port(echo)), 'hi']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.split('\n').length, 2, 'one line and its newline');
    assert.deepEqual({ ...parseProbeOutput(ok.stdout), ms: 0 }, { probe: 'tcp', target: `127.0.0.1:${port(echo)}`, ok: true, ms: 0, reply: 'hi' });
    // a port nobody listens on: the one just closed
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const freePort = port(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await run(['tcp', '127.0.0.1', String(freePort)]);
    assert.equal(refused.code, 1);
    assert.deepEqual([parseProbeOutput(refused.stdout)?.reason, parseProbeOutput(refused.stdout)?.error], ['refused', 'connection refused']);
    const usage = await run(['tcp', 'localhost']);
    assert.equal(usage.code, 2);
    assert.equal(usage.stdout, '');
    assert.match(usage.stderr, /^probe: HOST "localhost": must be an IPv4 or IPv6 address; missing PORT\n/);
  });
});
