import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { startEmulatorTarget, startRealTarget, stopSharedControlPlane, type TestApiServer } from './api-target.js';
import { raw, RawWatch, type Json, type RawReply } from './apiserver.js';

/**
 * The differential fidelity suites (test/k8s-real/fidelity-diff*.test.ts): the same steps run
 * against the emulator and the real kube-apiserver, each reply recorded in a normal form that
 * keeps what a client can depend on (status codes, Status reasons, messages and causes, defaulted
 * fields, watch event types) and masks what legitimately differs between two servers (uids,
 * resourceVersions, timestamps the server stamps, allocated cluster IPs and node ports, the
 * random suffix of generateName, managedFields). The two records must be equal.
 */

type RawOptions = Parameters<typeof raw>[3];

export interface Recorder {
  /** One request; its reply is recorded in normal form and returned whole for follow-ups. */
  (method: string, path: string, opts?: RawOptions): Promise<RawReply>;
  /** Opens a watch; `done` reads it until `events` arrived, the server ended it, or `waitMs` passed, and records its events. */
  watch(path: string): { done(events: number, waitMs?: number): Promise<Json[]> };
  /** A fact the steps derived (e.g. "the resourceVersion did not change"), recorded as is. */
  note(fact: unknown): void;
  readonly api: TestApiServer;
}

export interface Compared {
  readonly emulator: unknown[];
  readonly real: unknown[];
}

const MASKED = new Set(['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'selfLink', 'continue', 'endpoints.kubernetes.io/last-change-trigger-time']);
const NODE_PORTS = { min: 30000, max: 32767 };

function maskIp(ip: unknown): unknown {
  if (typeof ip !== 'string' || ip === 'None' || ip === '') return ip;
  return ip.includes(':') ? '<ipv6>' : '<ipv4>';
}

function maskPort(p: unknown): unknown {
  return typeof p === 'number' && p >= NODE_PORTS.min && p <= NODE_PORTS.max ? '<nodePort>' : p;
}

/** Server-chosen numbers inside messages: resourceVersions and uids. */
export function normalMessage(m: string): string {
  return m
    .replace(/current: \d+/g, 'current: <rv>')
    .replace(/too old resource version: \d+ \(\d+\)/g, 'too old resource version: <rv> (<rv>)')
    .replace(/in record \([^)]*\)/g, 'in record (<x>)');
}

/** The normal form of one JSON value (see the file comment). */
export function normal(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return key === 'clusterIPs' ? v.map(maskIp) : v.map((x) => normal(x));
  if (v !== null && typeof v === 'object') {
    const o = v as Json;
    const out: Json = {};
    for (const k of Object.keys(o).sort()) {
      if (k === 'managedFields') continue;
      if (MASKED.has(k) && o[k] !== null && o[k] !== undefined && o[k] !== '') out[k] = `<${k}>`;
      else if (k === 'name' && typeof o.generateName === 'string' && typeof o[k] === 'string' && o[k].startsWith(o.generateName)) out[k] = `${o.generateName}<suffix>`;
      else out[k] = normal(o[k], k);
    }
    return out;
  }
  if (key === 'clusterIP') return maskIp(v);
  if (key === 'nodePort' || key === 'healthCheckNodePort') return maskPort(v);
  if (key === 'message' && typeof v === 'string') return normalMessage(v);
  return v;
}

/** A request path with the server's resourceVersions (two digits and more) masked. */
function normalPath(path: string): string {
  return path.replace(/resourceVersion=\d{2,}/g, 'resourceVersion=<rv>');
}

function record(reply: RawReply): Json {
  const type = String(reply.headers['content-type'] ?? '').split(';')[0];
  const body = type === 'application/json' ? normal(reply.json) : reply.text;
  return { status: reply.status, type, body };
}

async function runOn(api: TestApiServer, steps: (r: Recorder) => Promise<void>): Promise<unknown[]> {
  const log: unknown[] = [];
  const r = (async (method: string, path: string, opts: RawOptions = {}) => {
    const reply = await raw(api, method, path, opts);
    log.push({ [`${method} ${normalPath(path)}`]: record(reply) });
    return reply;
  }) as Recorder;
  r.watch = (path: string) => {
    const w = new RawWatch(api, path);
    return {
      async done(events: number, waitMs = 3000): Promise<Json[]> {
        try {
          await Promise.race([w.waitForEvents(events, waitMs).catch(() => undefined), w.ended]);
        } finally {
          w.close();
        }
        log.push({ [`WATCH ${normalPath(path)}`]: { status: w.status, events: w.events.map((e) => ({ type: e.type, object: normal(e.object) })) } });
        return w.events.map((e) => e.object);
      },
    };
  };
  r.note = (fact: unknown) => log.push({ note: fact });
  (r as { api: TestApiServer }).api = api;
  await steps(r);
  return log;
}

/**
 * Runs `steps` on the emulator, then on the real server; both records, for assert.deepEqual.
 * FULCRUM_FIDELITY_DUMP=FILE appends the real server's records there (one JSON line per call),
 * to read what a row compared.
 */
export async function onBoth(emulator: TestApiServer, real: TestApiServer, steps: (r: Recorder) => Promise<void>): Promise<Compared> {
  const got = { emulator: await runOn(emulator, steps), real: await runOn(real, steps) };
  const dump = process.env.FULCRUM_FIDELITY_DUMP;
  if (dump) appendFileSync(dump, `${JSON.stringify(got.real)}\n`);
  return got;
}

/** One row of a differential suite: steps run on both servers, their records compared. */
export interface DiffRow {
  readonly name: string;
  readonly steps: (r: Recorder) => Promise<void>;
}

/** Both servers of a differential suite, filled in by the hooks `bothServers` registers. */
export interface BothServers {
  readonly emulator: TestApiServer;
  readonly real: TestApiServer;
}

/**
 * Registers, on the calling `describe`, a `before` that starts an emulator and takes the shared
 * real control plane (swept), runs `prepare` on each (e.g. removing what a failed run left), and
 * makes namespace `ns` on each; and an `after` that runs `cleanup` on each and closes them.
 */
export function bothServers(ns: string, hooks: { prepare?(api: TestApiServer): Promise<void>; cleanup?(api: TestApiServer): Promise<void> } = {}): BothServers {
  const both = {} as { emulator: TestApiServer; real: TestApiServer };
  before(async function () {
    this.timeout(200_000);
    both.emulator = await startEmulatorTarget();
    both.real = await startRealTarget();
    for (const api of [both.emulator, both.real]) {
      await hooks.prepare?.(api);
      const made = await raw(api, 'POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } });
      assert.ok(made.status === 201 || made.status === 409, made.text);
    }
  });
  after(async function () {
    this.timeout(60_000);
    for (const api of [both.emulator, both.real]) if (api && hooks.cleanup) await hooks.cleanup(api);
    await both.emulator?.close();
    await both.real?.close();
  });
  return both;
}

/** One `it` per row: the emulator's record must equal the real server's. */
export function diffRows(both: BothServers, rows: readonly DiffRow[]): void {
  for (const row of rows) it(row.name, async () => {
    const got = await onBoth(both.emulator, both.real, row.steps);
    assert.deepEqual(got.emulator, got.real);
  });
}

/** A root `after`: stops the shared real control plane once every suite of the run is done. */
export function stopSharedControlPlaneAfterAll(): void {
  after(async function () {
    this.timeout(30_000);
    await stopSharedControlPlane();
  });
}
