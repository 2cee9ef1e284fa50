// Pieces of the HTTP proxy integration tests (not a test file): an http frontend with defaults,
// node:http backends that record what they receive, and a raw client for exact bytes.
import http from 'node:http';
import net from 'node:net';
import { DEFAULT_HTTP_OPTIONS, type Frontend, type HttpOptions, type Route } from '../../speaker/proxy/model.js';
import { frontend, type Resources } from './proxy-harness.js';

export function httpFrontend(name: string, over: Omit<Partial<Frontend>, 'http'> & { backend?: string; routes?: Route[]; http?: Partial<HttpOptions> } = {}): Frontend {
  const { http: httpOver, ...rest } = over;
  return frontend(name, { protocol: 'http', http: { ...DEFAULT_HTTP_OPTIONS, ...httpOver }, ...rest });
}

/** What an HTTP backend saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  httpVersion: string;
}

export interface HttpBackend {
  port: number;
  seen: Seen[];
  /** TCP connections the backend accepted (reuse shows as fewer connections than requests). */
  connections: () => number;
  close: () => Promise<void>;
}

/**
 * A node:http backend; `handler` answers (default: 200 with a body naming the backend and the
 * request). Every request it reads, body included, is recorded in `seen`.
 */
export async function httpBackend(res: Resources, name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void, host = '127.0.0.1'): Promise<HttpBackend> {
  const seen: Seen[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, resp) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body, httpVersion: req.httpVersion });
      if (handler) handler(req, resp, body);
      else resp.end(`${name} ${req.method} ${req.url} ${body.length}`);
    });
  });
  server.on('connection', (s: net.Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const b: HttpBackend = {
    port: (server.address() as net.AddressInfo).port,
    seen,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
  res.add(b.close);
  return b;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with node:http (its own agent, so tests do not share connections). */
export function request(port: number, o: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent | false; host?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: o.host ?? '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers, agent: o.agent ?? false }, (resp) => {
      let body = '';
      resp.setEncoding('latin1');
      resp.on('data', (d: string) => (body += d));
      resp.on('end', () => resolve({ status: resp.statusCode ?? 0, headers: resp.headers, body }));
      resp.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Sends `raw` bytes and collects everything the proxy answers until it closes, `doneWhen` holds, `until` settles, or `untilMs`. */
export function rawExchange(port: number, raw: string | Buffer, o: { untilMs?: number; end?: boolean; doneWhen?: (text: string) => boolean; until?: Promise<unknown> } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), o.untilMs ?? 3000);
    o.until?.then(() => finish(false), () => finish(false));
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
      if (o.doneWhen?.(text)) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', (err) => (done ? undefined : (text ? finish(true) : reject(err))));
    s.on('connect', () => (o.end ? s.end(raw) : s.write(raw)));
  });
}

/** The status code of every response in a raw answer, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}
