import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { waitFor as waitForCondition } from '../../lab/netns.js';
import * as k8s from '@kubernetes/client-node';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../lab/apiserver/index.js';
import type { TestApiServer } from './api-target.js';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Starts an emulator on 127.0.0.1, port 0. */
export function startTestApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  return startApiServer({ host: '127.0.0.1', port: 0, ...opts });
}

/** An emulator, or what a suite runs against (test/helpers/api-target.ts). */
export type RawTarget = ApiServer | TestApiServer;

/**
 * How to reach `api` as `token` (undefined: the admin, null: no credential): the emulator over
 * plain HTTP with a bearer token; the real server over TLS with its CA, and a bearer token or a
 * client certificate.
 */
function connection(api: RawTarget, token: string | null | undefined): { send: typeof httpRequest; options: RequestOptions; headers: Record<string, string> } {
  if (!('kind' in api) || api.kind === 'emulator') {
    const t = token === null ? undefined : (token ?? api.adminToken);
    return { send: httpRequest, options: { host: api.host, port: api.port }, headers: t ? { Authorization: `Bearer ${t}` } : {} };
  }
  const c = api.credential(token);
  const tls = { ca: api.caPem, ...(c.cert ? { cert: c.cert.certPem, key: c.cert.keyPem } : {}) };
  return { send: httpsRequest as unknown as typeof httpRequest, options: { host: api.host, port: api.port, ...tls }, headers: c.bearer ? { Authorization: `Bearer ${c.bearer}` } : {} };
}

/** A client-node KubeConfig for the emulator (TLS with the emulator's CA, bearer token: the admin's unless given). */
export function kubeConfigFor(api: RawTarget, token?: string, namespace?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(api.kubeconfigYaml({ ...(token ? { token } : {}), ...(namespace ? { namespace } : {}) }));
  return kc;
}

export interface RawReply {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
  json: Json;
}

/** One HTTP request to the emulator (or the real server), answered whole (not for watches). */
export function raw(api: RawTarget, method: string, path: string, opts: { body?: unknown; contentType?: string; token?: string | null; headers?: Record<string, string>; headersOnly?: boolean } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const conn = connection(api, opts.token);
    const headers: Record<string, string> = { Accept: 'application/json', ...conn.headers, ...(opts.headers ?? {}) };
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const req = conn.send({ ...conn.options, method, path, headers }, (res) => {
      if (opts.headersOnly && res.statusCode === 200) {
        // a watch: the status is known, the body never ends by itself
        resolve({ status: 200, headers: res.headers, text: '', json: {} });
        req.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Json = {};
        try {
          json = JSON.parse(text) as Json;
        } catch {
          json = {};
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export interface WatchEvent {
  type: string;
  object: Json;
}

/** A raw watch stream: every line as it arrives, and a promise for the end of the body. */
export class RawWatch {
  readonly events: WatchEvent[] = [];
  status = 0;
  headers: IncomingMessage['headers'] = {};
  readonly ended: Promise<void>;
  readonly #req: ReturnType<typeof httpRequest>;
  #waiters: (() => void)[] = [];

  constructor(api: RawTarget, path: string, token?: string) {
    let done!: () => void;
    this.ended = new Promise((r) => (done = r));
    const conn = connection(api, token);
    this.#req = conn.send({ ...conn.options, method: 'GET', path, headers: conn.headers }, (res) => {
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) this.events.push(JSON.parse(line) as WatchEvent);
        }
        this.#wake();
      });
      res.on('end', () => {
        done();
        this.#wake();
      });
      res.on('close', () => {
        done();
        this.#wake();
      });
    });
    this.#req.on('error', () => {
      done();
      this.#wake();
    });
    this.#req.end();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Waits until at least `n` events arrived (or fails after a deadline naming what came). */
  async waitForEvents(n: number, timeoutMs = 5000): Promise<WatchEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`watch: wanted ${n} events, got ${this.events.length}: ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.events;
  }

  close(): void {
    this.#req.destroy();
  }
}

/** Polls `check` until it returns something other than undefined/false, failing after `timeoutMs` with `what`. */
export function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000, everyMs = 10): Promise<T> {
  return waitForCondition(what, check, timeoutMs, everyMs);
}

/** Prints how many requests a suite made, so runaway API use shows in the test output. */
export function reportRequests(api: RawTarget, suite: string): void {
  process.stdout.write(`      [${'kind' in api && api.kind === 'real' ? 'real kube-apiserver' : 'apiserver'}] ${suite}: ${api.requestCount()} requests served\n`);
}

/** client-node returns class instances; tests compare plain JSON. */
export function plain<T>(v: T): Json {
  return JSON.parse(JSON.stringify(v ?? null)) as Json;
}

export { k8s };
