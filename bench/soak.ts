// `npm run soak [-- --minutes N] [--rate R]`: mixed load (TCP echo, HTTP, UDP echo) through the
// lab (3 nodes, allocator, one speaker per node, default settings) for N minutes (default 30) at
// about half of the capacity measured first (5 s of closed-loop load, 8 in flight per Service,
// all three at once: the client, the proxies and the backends share the machine's cores), or at
// R requests/s per Service. Every 10 s it samples each speaker's and the allocator's RSS
// (/proc/PID/status VmRSS) and open descriptors (/proc/PID/fd) and the client's errors; at the
// end it prints RSS growth %, descriptor growth and errors, and writes bench/results/soak.svg
// (RSS per process over time) and bench/results/soak-<time>.json. The components run with
// --trace-gc and --expose-gc: the heap left by each full collection V8 ran, and by one the soak
// forces (SIGUSR2, src/heap-probe.ts) after the warm-up and at the end, are printed too: RSS
// alone cannot tell a leak from garbage not yet collected (bench/lib/gc-trace.ts). Needs root.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLab, type Lab } from '../lab/lab.js';
import { forcedHeaps, liveHeapGrowth, majorGcs } from './lib/gc-trace.js';
import { delay, execCommand, waitFor, type LabProcess } from '../lab/netns.js';

const PREFIX = 'fso';
const SAMPLE_EVERY_MS = 10_000;
const CAPACITY_MS = 5000;
/**
 * Growth: the mean of the samples in a window after this warm-up against the mean of the same
 * window at the end; the window is 5 minutes, or a sixth of a shorter run. Means of windows, not
 * single samples: RSS moves by tens of MiB with each major GC, descriptors with the load in flight.
 */
const WARMUP_MS = 60_000;
const WINDOW_MS = 300_000;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');

// Runs in the client namespace. Mode "max": closed loop, IN_FLIGHT attempts per target at all
// times. Mode "rate": open loop, RATE attempts per second per target (ticks of 10 ms), at most
// 256 in flight per target (beyond that an attempt is not sent, counted as skipped: the machine
// cannot keep the rate). Every second one JSON line: {ok, err, skipped (each by tcp, http, udp), codes}.
const LOADGEN = `
const net = require('node:net');
const dgram = require('node:dgram');
const [mode, value, tcpHost, httpHost, udpHost] = process.argv.slice(1);
const ok = { tcp: 0, http: 0, udp: 0 }, err = { tcp: 0, http: 0, udp: 0 }, skipped = { tcp: 0, http: 0, udp: 0 }, codes = {}, inFlight = { tcp: 0, http: 0, udp: 0 };
const fail = (k, code) => { err[k]++; codes[k + ' ' + code] = (codes[k + ' ' + code] || 0) + 1; };
const udp = Array.from({ length: 16 }, () => dgram.createSocket('udp4'));
const pendingUdp = new Map();
let seq = 0;
for (const s of udp) s.on('message', (m) => { const p = pendingUdp.get(String(m)); if (p) p(true); });
function attempt(k, done) {
  inFlight[k]++;
  let finished = false;
  const finish = (good, code) => { if (finished) return; finished = true; clearTimeout(timer); inFlight[k]--; good ? ok[k]++ : fail(k, code); if (sock) sock.destroy(); done && done(); };
  const timer = setTimeout(() => finish(false, 'timeout'), 3000);
  let sock;
  if (k === 'udp') {
    const token = 'soak-' + (seq++);
    pendingUdp.set(token, (g) => { pendingUdp.delete(token); finish(g); });
    setTimeout(() => pendingUdp.delete(token), 3100);
    udp[seq % udp.length].send(token, 5678, udpHost, (e) => e && finish(false, e.code));
    return;
  }
  const http = k === 'http';
  let got = '';
  sock = net.connect({ host: http ? httpHost : tcpHost, port: http ? 80 : 5678 }, () => sock.write(http ? 'GET / HTTP/1.0\\r\\nHost: lab\\r\\n\\r\\n' : 'soak\\n'));
  sock.on('data', (d) => { got += d; if (http ? /^HTTP\\/1\\.[01] 200/.test(got) : got === 'soak\\n') finish(true); });
  sock.on('error', (e) => finish(false, e.code || 'error'));
  sock.on('close', () => finish(false, 'closed'));
}
const kinds = ['tcp', 'http', 'udp'];
if (mode === 'max') {
  for (const k of kinds) for (let i = 0; i < Number(value); i++) { const loop = () => attempt(k, () => setImmediate(loop)); loop(); }
} else {
  // credit by elapsed time, so a late tick still sends what is due (at most 100 ms of it at once)
  const perMs = Number(value) / 1000;
  const credit = { tcp: 0, http: 0, udp: 0 };
  let last = Date.now();
  setInterval(() => {
    const now = Date.now();
    const due = Math.min(100, now - last) * perMs;
    last = now;
    for (const k of kinds) {
      credit[k] += due;
      while (credit[k] >= 1) { credit[k]--; if (inFlight[k] >= 256) skipped[k]++; else attempt(k); }
    }
  }, 10);
}
setInterval(() => {
  process.stdout.write(JSON.stringify({ ok, err, skipped, codes }) + '\\n');
  for (const k of kinds) { ok[k] = 0; err[k] = 0; skipped[k] = 0; }
  for (const c of Object.keys(codes)) delete codes[c];
}, 1000);
`;

type Kind = 'tcp' | 'http' | 'udp';
interface LoadLine { ok: Record<Kind, number>; err: Record<Kind, number>; skipped: Record<Kind, number>; codes: Record<string, number> }
export interface Sample { tS: number; rssKiB: Record<string, number>; fds: Record<string, number>; errors: number; requests: number; skipped: number }

function startLoadgen(lab: Lab, args: string[], lines: LoadLine[]): LabProcess {
  return lab.topology.spawn(lab.topology.client.namespace, process.execPath, ['-e', LOADGEN, ...args], {
    name: 'soak load',
    onStdoutLine: (line) => {
      try {
        lines.push(JSON.parse(line) as LoadLine);
      } catch {
        // not a report line
      }
    },
  });
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The processes sampled: each speaker and the allocator, by their current pid. */
function sampled(lab: Lab): Map<string, number> {
  const out = new Map<string, number>();
  for (const [node, p] of lab.speakers) if (p.running) out.set(`speaker ${node}`, p.pid);
  if (lab.allocator?.running) out.set('allocator', lab.allocator.pid);
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** RSS and descriptors per process, early window against the last one; the table printed. Pure. */
export function growth(samples: readonly Sample[]): { rows: Record<string, unknown>[]; table: string } {
  const totalS = samples.at(-1)?.tS ?? 0;
  const winS = Math.min(WINDOW_MS / 1000, totalS / 6);
  const warmS = Math.min(WARMUP_MS / 1000, totalS / 4);
  const early = samples.filter((s) => s.tS >= warmS && s.tS < warmS + winS);
  const late = samples.filter((s) => s.tS > totalS - winS);
  const names = Object.keys(samples.at(-1)?.rssKiB ?? {}).sort();
  const rows: Record<string, unknown>[] = [];
  const lines = [`| process | RSS, ${(winS / 60).toFixed(1)} min after warm-up | RSS, last ${(winS / 60).toFixed(1)} min | growth | max | descriptors (means of the same windows) | descriptors min–max |`, '|---|---:|---:|---:|---:|---:|---:|'];
  for (const n of names) {
    const a = mean(early.map((s) => s.rssKiB[n] ?? NaN)) / 1024;
    const b = mean(late.map((s) => s.rssKiB[n] ?? NaN)) / 1024;
    const max = Math.max(...samples.map((s) => s.rssKiB[n] ?? 0)) / 1024;
    const fdA = mean(early.map((s) => s.fds[n] ?? NaN));
    const fdB = mean(late.map((s) => s.fds[n] ?? NaN));
    const fds = samples.map((s) => s.fds[n]).filter((x): x is number => x !== undefined);
    const pct = ((b - a) / a) * 100;
    rows.push({ process: n, rssEarlyMiB: a, rssLateMiB: b, growthPct: pct, maxMiB: max, fdsEarly: fdA, fdsLate: fdB, fdsMin: Math.min(...fds), fdsMax: Math.max(...fds) });
    lines.push(`| ${n} | ${a.toFixed(1)} MiB | ${b.toFixed(1)} MiB | ${pct.toFixed(1)} % | ${max.toFixed(1)} MiB | ${fdA.toFixed(0)} → ${fdB.toFixed(0)} | ${Math.min(...fds)}–${Math.max(...fds)} |`);
  }
  return { rows, table: lines.join('\n') };
}

const logFileOf = (name: string): string => (name === 'allocator' ? 'allocator.log' : `speaker-${name.slice('speaker '.length)}.log`);

/** The components whose logs are in `logDir`, by the names the samples use (`allocator`, `speaker <node>`), sorted as the tables show them. */
function loggedComponents(logDir: string): string[] {
  const files = new Set(readdirSync(logDir));
  const speakers = [...files].filter((f) => f.startsWith('speaker-') && f.endsWith('.log')).sort().map((f) => `speaker ${f.slice('speaker-'.length, -'.log'.length)}`);
  return [...(files.has('allocator.log') ? ['allocator'] : []), ...speakers];
}

/** SIGUSR2 to each component (full collection, heap logged: src/heap-probe.ts), and waits for the lines (at most 10 s). */
async function probeHeaps(lab: Lab, logDir: string): Promise<void> {
  const procs = sampled(lab);
  const before = new Map([...procs.keys()].map((n) => [n, forcedHeaps(readLog(logDir, n)).length]));
  for (const pid of procs.values()) process.kill(pid, 'SIGUSR2');
  await waitFor('every component to log its heap after a forced collection', async () => [...procs.keys()].every((n) => forcedHeaps(readLog(logDir, n)).length > before.get(n)!) || undefined, 10_000, 100).catch(() => undefined);
}

function readLog(logDir: string, name: string): string {
  try {
    return readFileSync(join(logDir, logFileOf(name)), 'utf8');
  } catch {
    return '';
  }
}

/** The heap after the forced collections: after the warm-up against at the end, per process. */
function forcedHeapTable(logDir: string): string {
  const lines = ['| process | heap after a forced full collection, after the warm-up | at the end | growth |', '|---|---:|---:|---:|'];
  for (const name of loggedComponents(logDir)) {
    const h = forcedHeaps(readLog(logDir, name));
    if (h.length < 2) {
      lines.push(`| ${name} | ${h[0] ? `${h[0].usedMiB.toFixed(1)} MiB` : '—'} | — | — |`);
      continue;
    }
    const [a, b] = [h[0]!.usedMiB, h.at(-1)!.usedMiB];
    lines.push(`| ${name} | ${a.toFixed(1)} MiB | ${b.toFixed(1)} MiB | ${(((b - a) / a) * 100).toFixed(1)} % |`);
  }
  return lines.join('\n');
}

/** Live heap after each full collection past the warm-up, per process, from the component logs (`--trace-gc`). */
function liveHeaps(logDir: string, samples: readonly Sample[]): { rows: Record<string, unknown>[]; table: string } {
  const totalS = samples.at(-1)?.tS ?? 0;
  const warmMs = Math.min(WARMUP_MS, (totalS * 1000) / 4);
  const rows: Record<string, unknown>[] = [];
  const lines = ['| process | full collections (mark-compact) after warm-up | live heap after the first | after the last | growth | max |', '|---|---:|---:|---:|---:|---:|'];
  const mib = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(1)} MiB`);
  for (const name of loggedComponents(logDir)) {
    const g = liveHeapGrowth(majorGcs(readLog(logDir, name)), warmMs);
    rows.push({ process: name, ...g });
    lines.push(`| ${name} | ${g.count} | ${mib(g.firstMiB)} | ${mib(g.lastMiB)} | ${g.growthPct === undefined ? '—' : `${g.growthPct.toFixed(1)} %`} | ${mib(g.maxMiB)} |`);
  }
  return { rows, table: lines.join('\n') };
}

/** A small SVG line chart: RSS (MiB) per process over time, hand-written. */
export function soakSvg(samples: readonly Sample[], title: string): string {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.rssKiB)))].sort();
  const W = 640, H = 300, L = 56, R = 150, T = 30, B = 40;
  const maxT = Math.max(1, ...samples.map((s) => s.tS));
  const allMiB = samples.flatMap((s) => Object.values(s.rssKiB).map((k) => k / 1024));
  const maxY = Math.ceil(Math.max(1, ...allMiB) / 20) * 20;
  const x = (t: number) => L + ((W - L - R) * t) / maxT;
  const y = (v: number) => T + (H - T - B) * (1 - v / maxY);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${L}" y="18" font-size="13">${title}</text>`];
  for (let v = 0; v <= maxY; v += maxY / 4) parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const t = (maxT * i) / 5;
    parts.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${(t / 60).toFixed(t < 300 ? 1 : 0)}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">minutes</text>`, `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">RSS (MiB)</text>`);
  names.forEach((n, i) => {
    const pts = samples.filter((s) => s.rssKiB[n] !== undefined).map((s) => `${x(s.tS).toFixed(1)},${y(s.rssKiB[n]! / 1024).toFixed(1)}`).join(' ');
    const c = colours[i % colours.length];
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts}"/>`, `<text x="${W - R + 8}" y="${T + 14 + i * 16}" fill="${c}">${n}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, rate: { type: 'string' } } });
  const minutes = Number(values.minutes);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error(`--minutes "${values.minutes}": a number of minutes above 0`);
  const stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
  let lab: Lab | undefined;
  const stop = () => void lab?.stop().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    // --trace-gc (not allowed in NODE_OPTIONS): one line per collection in the component logs, for the live heap (bench/lib/gc-trace.ts).
    // --expose-gc: SIGUSR2 forces a full collection and logs the heap it leaves (src/heap-probe.ts), after the warm-up and at the end.
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, componentEnv: { FULCRUM_LOG_LEVEL: 'warn' }, componentNodeArgs: ['--trace-gc', '--expose-gc'] });
    // the root namespace must not answer ARP for the client's address on our host link (see e2e helpers-resilience.ts)
    await execCommand('sysctl', ['-qw', `net.ipv4.conf.${lab.topology.names.hostLink}.arp_ignore=1`]);
    const svcs = await lab.waitForAddresses(30_000);
    const problems = await lab.waitForSpeakers(30_000);
    if (problems.length > 0) throw new Error(`speakers not ready: ${problems.join('; ')}`);
    const v4 = (name: string) => svcs.find((s) => s.name === name)?.addresses.find((a) => !a.includes(':')) ?? '';
    const hosts = [v4('echo-tcp'), v4('web'), v4('echo-udp')];
    const l = lab;
    await waitFor('every sample to answer', async () => (await l.check()).every((r) => r.result.startsWith('ok')), 60_000, 500);

    let rate = values.rate === undefined ? undefined : Number(values.rate);
    let capacityText = `fixed at ${rate}/s per Service (--rate)`;
    if (rate === undefined) {
      const lines: LoadLine[] = [];
      const gen = startLoadgen(lab, ['max', '8', ...hosts], lines);
      await delay(CAPACITY_MS + 1500);
      await gen.stop(1000);
      const full = lines.slice(1, -1); // whole seconds only
      const perKind = (k: Kind) => mean(full.map((x) => x.ok[k]));
      const capacity = Math.min(perKind('tcp'), perKind('http'), perKind('udp'));
      rate = Math.max(10, Math.floor(capacity / 2));
      capacityText = `capacity measured ${perKind('tcp').toFixed(0)} TCP, ${perKind('http').toFixed(0)} HTTP, ${perKind('udp').toFixed(0)} UDP req/s at once (8 in flight each); soak at ${rate}/s per Service (half the lowest)`;
    }
    console.log(`soak: ${minutes} min; ${capacityText}`);

    const lines: LoadLine[] = [];
    const gen = startLoadgen(lab, ['rate', String(rate), ...hosts], lines);
    const samples: Sample[] = [];
    const codes: Record<string, number> = {};
    const t0 = Date.now();
    const endMs = t0 + minutes * 60_000;
    let counted = 0;
    let probedAfterWarmup = false;
    for (let next = t0; next <= endMs; next += SAMPLE_EVERY_MS) {
      await delay(Math.max(0, next - Date.now())); // a fixed sampling period: the soak's clock, not an event
      if (!probedAfterWarmup && Date.now() - t0 >= Math.min(WARMUP_MS, (minutes * 60_000) / 4)) {
        probedAfterWarmup = true;
        await probeHeaps(lab, join(stateDir, 'logs'));
      }
      const fresh = lines.slice(counted);
      counted = lines.length;
      for (const x of fresh) for (const [c, n] of Object.entries(x.codes)) codes[c] = (codes[c] ?? 0) + n;
      const s: Sample = { tS: (Date.now() - t0) / 1000, rssKiB: {}, fds: {}, errors: 0, requests: 0, skipped: 0 };
      for (const x of fresh) for (const k of ['tcp', 'http', 'udp'] as const) {
        s.errors += x.err[k];
        s.requests += x.ok[k] + x.err[k];
        s.skipped += x.skipped?.[k] ?? 0;
      }
      for (const [name, pid] of sampled(lab)) {
        try {
          s.rssKiB[name] = rssKiB(pid);
          s.fds[name] = fdCount(pid);
        } catch {
          // exited between the look and the read: the restart shows in the next sample
        }
      }
      samples.push(s);
      console.log(`  ${(s.tS / 60).toFixed(1)} min: ${s.requests} requests (${(s.requests / (SAMPLE_EVERY_MS / 1000)).toFixed(0)}/s), ${s.errors} errors, ${s.skipped} not sent; ${Object.entries(s.rssKiB).map(([n, k]) => `${n} ${(k / 1024).toFixed(1)} MiB ${s.fds[n]} fds`).join(', ')}`);
    }
    await probeHeaps(lab, join(stateDir, 'logs'));
    await gen.stop(1000);
    for (const x of lines.slice(counted)) for (const [c, n] of Object.entries(x.codes)) codes[c] = (codes[c] ?? 0) + n;

    const { rows, table } = growth(samples);
    const heap = liveHeaps(join(stateDir, 'logs'), samples);
    const requests = samples.reduce((n, s) => n + s.requests, 0);
    const errors = samples.reduce((n, s) => n + s.errors, 0);
    const skipped = samples.reduce((n, s) => n + s.skipped, 0);
    console.log(`\nsoak: ${minutes} min at ${rate}/s per Service (TCP, HTTP, UDP): ${requests} requests (${(requests / (minutes * 60)).toFixed(0)}/s in all), ${skipped} not sent (the client behind), ${errors} errors${errors ? ` (${Object.entries(codes).map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}`);
    console.log(table);
    console.log(`\n${heap.table}`);
    console.log(`\n${forcedHeapTable(join(stateDir, 'logs'))}`);
    mkdirSync(RESULTS, { recursive: true });
    const title = `fulcrum soak: ${minutes} min, ${rate}/s per Service (TCP, HTTP, UDP), ${errors} errors`;
    writeFileSync(join(RESULTS, 'soak.svg'), soakSvg(samples, title));
    writeFileSync(join(RESULTS, `soak-${new Date().toISOString()}.json`), JSON.stringify({ minutes, rate, capacityText, requests, skipped, errors, codes, rows, liveHeap: heap.rows, samples }, null, 1));
    console.log(`soak: wrote ${join(RESULTS, 'soak.svg')}`);
  } finally {
    await lab?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

// run when started as a program (`npm run soak`), not when imported (the table's arithmetic)
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
