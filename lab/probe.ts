import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * One real connection, then one JSON line: the lab's client, so that neither the checks of
 * `npm run lab` nor a user trying it by hand need anything but Node. Run inside a namespace as
 *
 *   node dist/lab/probe.js tcp  HOST PORT [TEXT]   sends TEXT + "\n" (default "fulcrum-probe"),
 *                                                  answers the first line that comes back
 *   node dist/lab/probe.js udp  HOST PORT [TEXT]   the same as one datagram, resent every second
 *   node dist/lab/probe.js http HOST PORT [PATH]   GET PATH (default "/"), answers status and body
 *   node dist/lab/probe.js https HOST PORT [PATH]  the same over TLS (SNI and Host from --host)
 *   options: --timeout-ms N (default 3000); http/https: --host NAME (the Host header, and SNI),
 *   https: --ca FILE (verify the certificate against it; without, it is not verified);
 *   tcp: --hold-ms N [--every-ms M] keeps the
 *   connection open N ms, sending a numbered TEXT line every M ms (default 100), and checks
 *   that every line came back (a connection through a takeover, e.g.)
 *
 * Prints {"probe","target","ok","ms",…} on stdout and exits 0 if ok, 1 if not, 2 on a usage
 * error. It imports nothing of Fulcrum, so it starts fast and runs anywhere Node does.
 */

export type ProbeKind = 'tcp' | 'udp' | 'http' | 'https';

export interface ProbeRequest {
  readonly kind: ProbeKind;
  /** An IP address, without brackets. */
  readonly host: string;
  readonly port: number;
  /** tcp/udp: the line to send, without its newline ('' sends nothing and only listens). */
  readonly text: string;
  /** http: the request path. */
  readonly path: string;
  /** http/https: the name in Host (and SNI); undefined: the address. */
  readonly hostName?: string;
  /** https: the CA to verify the certificate against; undefined: not verified. */
  readonly caFile?: string;
  readonly timeoutMs: number;
  /** tcp: keep the connection this long, one line every `everyMs` (0: one line, one answer). */
  readonly holdMs: number;
  readonly everyMs: number;
}

export type ParsedProbeArgs =
  | { readonly kind: 'probe'; readonly request: ProbeRequest }
  | { readonly kind: 'help' }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

/** Why a probe failed; `error` says it in words. */
export type ProbeFailure = 'timeout' | 'refused' | 'unreachable' | 'reset' | 'closed' | 'status' | 'error';

export interface ProbeResult {
  readonly probe: ProbeKind;
  /** `192.0.2.64:5678` or `[2001:db8::100]:80`. */
  readonly target: string;
  readonly ok: boolean;
  readonly ms: number;
  /** tcp/udp: the first line (or datagram) that came back, without its newline. */
  readonly reply?: string;
  /** http */
  readonly status?: number;
  /** http: parsed when the answer is JSON, else the text (at most BODY_KEEP_CHARS). */
  readonly body?: unknown;
  readonly reason?: ProbeFailure;
  readonly error?: string;
  /** tcp --hold-ms: lines sent and lines that came back. */
  readonly sent?: number;
  readonly echoed?: number;
  /** https: the TLS version and ALPN protocol agreed, the certificate's first SAN name and SHA-256 fingerprint, whether it was verified. */
  readonly tls?: { readonly version: string; readonly alpn: string | false; readonly certificateName: string; readonly fingerprint256: string; readonly verified: boolean };
}

export const DEFAULT_PROBE_TEXT = 'fulcrum-probe';
export const DEFAULT_PROBE_TIMEOUT_MS = 3000;
export const DEFAULT_EVERY_MS = 100;
/** A datagram lost while the owner's MAC is being resolved or changes gets another chance. */
const UDP_RESEND_MS = 1000;
const BODY_KEEP_CHARS = 4000;
const KINDS: readonly ProbeKind[] = ['tcp', 'udp', 'http', 'https'];

export const PROBE_USAGE = `Usage: node dist/lab/probe.js tcp|udp|http|https HOST PORT [TEXT|PATH] [--timeout-ms N] [--host NAME] [--ca FILE] [--hold-ms N [--every-ms M]]

  tcp  HOST PORT [TEXT]   connect, send TEXT and a newline (default "${DEFAULT_PROBE_TEXT}"; '' sends
                          nothing), print the first line that comes back
  udp  HOST PORT [TEXT]   the same as one datagram (resent every second until the timeout)
  http HOST PORT [PATH]   GET PATH (default /), print the status and the body
  https HOST PORT [PATH]  the same over TLS; prints the TLS version, ALPN, certificate name and fingerprint too
  --timeout-ms N          give up after N ms (default ${DEFAULT_PROBE_TIMEOUT_MS})
  --host NAME             http, https: the Host header (and for https the SNI name)
  --ca FILE               https: verify the certificate against this CA (default: not verified)
  --hold-ms N             tcp: keep the connection open N ms, sending "TEXT 1", "TEXT 2", … every
                          --every-ms M (default ${DEFAULT_EVERY_MS}); ok if every line came back
                          and the connection closed cleanly (watch one through a takeover)

HOST is an IPv4 or IPv6 address ([brackets] allowed). Prints one JSON line; exit 0 if the probe
got its answer, 1 if not, 2 on a usage error. Run it in a lab namespace, e.g.
  ip netns exec ful-cl node dist/lab/probe.js tcp 192.0.2.64 5678 hello
`;

/** `host:port`, with brackets around an IPv6 host. */
export function formatTarget(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Reads the command line; reports every problem, not just the first. Pure. */
export function parseProbeArgs(argv: readonly string[]): ParsedProbeArgs {
  let parsed: ReturnType<typeof parseArgsLoose>;
  try {
    parsed = parseArgsLoose(argv);
  } catch (err) {
    return { kind: 'invalid', problems: [(err as Error).message] };
  }
  if (parsed.values.help) return { kind: 'help' };
  const [kind, rawHost, rawPort, extra, ...rest] = parsed.positionals;
  const problems: string[] = [];
  if (kind === undefined) return { kind: 'invalid', problems: ['missing the probe kind (tcp, udp, http or https), HOST and PORT'] };
  if (!KINDS.includes(kind as ProbeKind)) problems.push(`probe kind "${kind}": must be tcp, udp, http or https`);
  const web = kind === 'http' || kind === 'https';
  const host = rawHost?.replace(/^\[(.*)\]$/, '$1') ?? '';
  if (rawHost === undefined) problems.push('missing HOST');
  else if (isIP(host) === 0) problems.push(`HOST "${rawHost}": must be an IPv4 or IPv6 address`);
  const port = Number(rawPort);
  if (rawPort === undefined) problems.push('missing PORT');
  else if (!/^\d+$/.test(rawPort) || port < 1 || port > 65535) problems.push(`PORT "${rawPort}": must be a whole number from 1 to 65535`);
  if (web && extra !== undefined && !extra.startsWith('/')) problems.push(`PATH "${extra}": must start with /`);
  const hostName = parsed.values.host;
  if (hostName !== undefined && (!web || !/^[A-Za-z0-9.-]+$/.test(hostName))) problems.push(`--host "${hostName}": ${web ? 'must be a host name' : 'only for http and https'}`);
  const caFile = parsed.values.ca;
  if (caFile !== undefined && kind !== 'https') problems.push('--ca: only for https');
  if (rest.length > 0) problems.push(`unexpected argument "${rest[0]}"`);
  const rawTimeout = parsed.values['timeout-ms'];
  const timeoutMs = rawTimeout === undefined ? DEFAULT_PROBE_TIMEOUT_MS : Number(rawTimeout);
  if (rawTimeout !== undefined && (!/^\d+$/.test(rawTimeout) || timeoutMs < 1)) problems.push(`--timeout-ms "${rawTimeout}": must be a whole number of milliseconds, at least 1`);
  const msFlag = (flag: 'hold-ms' | 'every-ms', fallback: number, min: number): number => {
    const raw = parsed.values[flag];
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min) problems.push(`--${flag} "${raw}": must be a whole number of milliseconds, at least ${min}`);
    return Number(raw);
  };
  const holdMs = msFlag('hold-ms', 0, 1);
  const everyMs = msFlag('every-ms', DEFAULT_EVERY_MS, 1);
  if (parsed.values['hold-ms'] !== undefined && kind !== 'tcp') problems.push('--hold-ms: only for tcp');
  if (parsed.values['every-ms'] !== undefined && parsed.values['hold-ms'] === undefined) problems.push('--every-ms: only with --hold-ms');
  if (problems.length > 0) return { kind: 'invalid', problems };
  return {
    kind: 'probe',
    request: {
      kind: kind as ProbeKind,
      host,
      port,
      text: web ? '' : (extra ?? DEFAULT_PROBE_TEXT),
      path: web ? (extra ?? '/') : '/',
      ...(hostName !== undefined ? { hostName } : {}),
      ...(caFile !== undefined ? { caFile } : {}),
      timeoutMs,
      holdMs,
      everyMs,
    },
  };
}

function parseArgsLoose(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: { 'timeout-ms': { type: 'string' }, 'hold-ms': { type: 'string' }, 'every-ms': { type: 'string' }, host: { type: 'string' }, ca: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
}

/** The result from the last line of a probe's stdout, or undefined if there is none. Pure. */
export function parseProbeOutput(stdout: string): ProbeResult | undefined {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    const r = JSON.parse(line) as Partial<ProbeResult> | null;
    if (r && typeof r === 'object' && typeof r.ok === 'boolean' && typeof r.target === 'string' && KINDS.includes(r.probe as ProbeKind)) return r as ProbeResult;
  } catch {
    // not a result line
  }
  return undefined;
}

const ERROR_REASONS: Readonly<Record<string, { reason: ProbeFailure; words: string }>> = {
  ECONNREFUSED: { reason: 'refused', words: 'connection refused' },
  EHOSTUNREACH: { reason: 'unreachable', words: 'no route to host' },
  ENETUNREACH: { reason: 'unreachable', words: 'network unreachable' },
  EADDRNOTAVAIL: { reason: 'unreachable', words: 'address not available' },
  ECONNRESET: { reason: 'reset', words: 'connection reset' },
  EPIPE: { reason: 'reset', words: 'connection reset' },
};

function failureOf(err: Error & { code?: string }): { reason: ProbeFailure; error: string } {
  const known = err.code ? ERROR_REASONS[err.code] : undefined;
  return known ? { reason: known.reason, error: known.words } : { reason: 'error', error: err.message };
}

interface Outcome {
  finish(fields: Omit<ProbeResult, 'probe' | 'target' | 'ms'>): void;
  fail(err: Error): void;
}

/**
 * The probe's single result: the first of answer, failure or deadline wins, `cleanup` runs
 * once, and `timeoutMessage` words the deadline (it may depend on how far the probe got).
 */
function outcome(req: ProbeRequest, cleanup: () => void, resolve: (r: ProbeResult) => void, timeoutMessage: () => string): Outcome {
  const start = Date.now();
  let done = false;
  const finish: Outcome['finish'] = (fields) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    cleanup();
    const { ok, ...rest } = fields;
    resolve({ probe: req.kind, target: formatTarget(req.host, req.port), ok, ms: Date.now() - start, ...rest });
  };
  const timer = setTimeout(() => finish({ ok: false, reason: 'timeout', error: timeoutMessage() }), req.timeoutMs);
  return { finish, fail: (err) => finish({ ok: false, ...failureOf(err) }) };
}

function probeTcp(req: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let connected = false;
    let got = '';
    const socket = connect({ host: req.host, port: req.port });
    const s = outcome(req, () => socket.destroy(), resolve, () => (connected ? `no answer within ${req.timeoutMs} ms` : `no connection within ${req.timeoutMs} ms`));
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      if (req.text !== '') socket.write(`${req.text}\n`);
    });
    socket.on('data', (chunk: string) => {
      got += chunk;
      const nl = got.indexOf('\n');
      if (nl >= 0) s.finish({ ok: true, reply: got.slice(0, nl) });
    });
    socket.on('end', () => (got === '' ? s.finish({ ok: false, reason: 'closed', error: 'closed without an answer' }) : s.finish({ ok: true, reply: got })));
    socket.on('error', s.fail);
  });
}

/** tcp --hold-ms: numbered lines for holdMs, every one must come back; then a clean close. */
function probeTcpHold(req: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let sent = 0;
    let echoed = 0;
    let pending = '';
    let ticker: NodeJS.Timeout | undefined;
    const socket = connect({ host: req.host, port: req.port });
    const counts = () => `${echoed} of ${sent} lines echoed`;
    const s = outcome({ ...req, timeoutMs: req.holdMs + req.timeoutMs }, () => {
      clearInterval(ticker);
      socket.destroy();
    }, resolve, () => `${counts()}, then no close within ${req.timeoutMs} ms`);
    const fields = () => ({ sent, echoed });
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      const start = Date.now();
      const tick = () => {
        if (Date.now() - start < req.holdMs) {
          socket.write(`${req.text} ${++sent}\n`);
          return;
        }
        clearInterval(ticker);
        socket.end();
      };
      tick();
      ticker = setInterval(tick, req.everyMs);
    });
    socket.on('data', (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        pending = pending.slice(nl + 1);
        echoed++;
      }
    });
    socket.on('end', () =>
      echoed === sent && sent > 0 && ticker !== undefined && socket.writableEnded
        ? s.finish({ ok: true, reply: counts(), ...fields() })
        : s.finish({ ok: false, reason: 'closed', error: `closed by the other side after ${counts()}`, ...fields() }),
    );
    socket.on('error', (err: Error & { code?: string }) => {
      const f = failureOf(err);
      s.finish({ ok: false, reason: f.reason, error: `${f.error} after ${counts()}`, ...fields() });
    });
  });
}

function probeUdp(req: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = createSocket(isIP(req.host) === 6 ? 'udp6' : 'udp4');
    let resend: NodeJS.Timeout | undefined;
    const cleanup = () => {
      clearInterval(resend);
      socket.close();
    };
    const s = outcome(req, cleanup, resolve, () => `no answer within ${req.timeoutMs} ms`);
    const payload = Buffer.from(req.text === '' ? '' : `${req.text}\n`);
    const send = () => socket.send(payload, (err) => err && s.fail(err));
    socket.on('message', (msg) => s.finish({ ok: true, reply: msg.toString('utf8').replace(/\n$/, '') }));
    // connected: only the target's datagrams arrive, and an ICMP port unreachable is an error
    socket.on('error', s.fail);
    socket.connect(req.port, req.host, () => {
      send();
      resend = setInterval(send, UDP_RESEND_MS);
    });
  });
}

function probeHttp(req: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const options = {
      host: req.host,
      port: req.port,
      path: req.path,
      method: 'GET',
      agent: false as const,
      headers: { host: req.hostName ?? formatTarget(req.host, req.port), connection: 'close', 'user-agent': 'fulcrum-lab-probe' },
    };
    const secure = req.kind === 'https';
    const r = secure
      ? httpsRequest({ ...options, servername: req.hostName, ca: req.caFile === undefined ? undefined : readFileSync(req.caFile), rejectUnauthorized: req.caFile !== undefined })
      : httpRequest(options);
    const s = outcome(req, () => r.destroy(), resolve, () => `no answer within ${req.timeoutMs} ms`);
    let tls: ProbeResult['tls'];
    r.on('socket', (socket) => {
      if (!secure) return;
      socket.once('secureConnect', () => {
        const t = socket as import('node:tls').TLSSocket;
        const cert = t.getPeerCertificate();
        const san = (cert.subjectaltname ?? '').split(',').map((x) => x.trim().replace(/^DNS:/, ''))[0] ?? '';
        tls = { version: t.getProtocol() ?? '', alpn: t.alpnProtocol ?? false, certificateName: san || String(cert.subject?.CN ?? ''), fingerprint256: cert.fingerprint256 ?? '', verified: t.authorized };
      });
    });
    r.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < BODY_KEEP_CHARS) text += chunk;
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const body = bodyValue(text.slice(0, BODY_KEEP_CHARS), String(res.headers['content-type'] ?? ''));
        const extra = tls === undefined ? {} : { tls };
        if (status >= 200 && status < 300) s.finish({ ok: true, status, body, ...extra });
        else s.finish({ ok: false, status, body, reason: 'status', error: `HTTP ${status}`, ...extra });
      });
      res.on('error', s.fail);
    });
    r.on('error', s.fail);
    r.end();
  });
}

function bodyValue(text: string, contentType: string): unknown {
  if (!contentType.includes('json')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function runProbe(req: ProbeRequest): Promise<ProbeResult> {
  switch (req.kind) {
    case 'tcp':
      return req.holdMs > 0 ? probeTcpHold(req) : probeTcp(req);
    case 'udp':
      return probeUdp(req);
    case 'http':
    case 'https':
      return probeHttp(req);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseProbeArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(PROBE_USAGE);
    return 0;
  }
  if (parsed.kind === 'invalid') {
    process.stderr.write(`probe: ${parsed.problems.join('; ')}\n\n${PROBE_USAGE}`);
    return 2;
  }
  const result = await runProbe(parsed.request);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result.ok ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`probe: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
