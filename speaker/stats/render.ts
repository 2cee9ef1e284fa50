/**
 * The stats page's HTML, pure. `statsBodyHtml` turns a snapshot (and the one before, for rates)
 * into the page's body; the server calls it for the first paint, and the very same function,
 * shipped as text in the page's one inline script (`STATS_SCRIPT`), calls it again in the
 * browser every 2 s on a fresh `/stats.json`. One renderer, so one escaping rule: every value
 * goes through `esc` (names, hosts, Secret names and paths come from the API or the config file).
 * It must stay self-contained (no imports, no module-level names): the browser gets only its text.
 */
import type { StatsSnapshot } from './snapshot.js';

/** The page's refresh period; rates are over the time between two snapshots. */
export const REFRESH_MS = 2000;

export function statsBodyHtml(s: StatsSnapshot, prev: StatsSnapshot | null): string {
  const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const num = (n: number): string => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const bytes = (n: number): string => {
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
  };
  const age = (ms: number): string => {
    const t = Math.max(0, Math.floor(ms / 1000));
    const [d, h, m, sec] = [Math.floor(t / 86400), Math.floor(t / 3600) % 24, Math.floor(t / 60) % 60, t % 60];
    return d > 0 ? `${d}d${h}h` : h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${sec}s` : `${sec}s`;
  };
  const clock = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '?');
  const dtS = prev === null ? 0 : (s.nowMs - prev.nowMs) / 1000;
  /** Per second since the previous snapshot; "–" on the first paint, or when a counter started again. */
  const rate = (now: number, before: number | undefined): string => {
    if (before === undefined || dtS <= 0 || now < before) return '–';
    const r = (now - before) / dtS;
    return r >= 100 ? num(r) : r.toFixed(1);
  };
  const td = (stat: string, text: string, cls = 'n'): string => `<td class="${cls}" data-stat="${stat}">${text}</td>`;
  const prevFrontends = new Map((prev?.frontends ?? []).map((f) => [f.name, f]));
  const prevBackends = new Map((prev?.backends ?? []).map((b) => [b.name, b]));
  const out: string[] = [];

  const who = s.program === 'speaker' ? `speaker on node <b>${esc(s.node ?? '?')}</b>` : 'proxy (standalone)';
  out.push(`<p class="head">Fulcrum ${who} · up ${esc(age(s.nowMs - s.startedMs))} · at ${esc(clock(s.nowMs))} UTC</p>`);

  if (s.ownership !== null) {
    const owned = s.ownership.owned;
    out.push(`<h2>Addresses owned (${owned.length})</h2><table class="owned"><tr><th>address</th><th>since (UTC)</th><th>for</th><th>interfaces</th><th>Services</th></tr>`);
    for (const a of owned) {
      out.push(`<tr data-address="${esc(a.address)}"><td>${esc(a.address)}</td><td>${esc(clock(a.sinceMs))}</td><td>${esc(age(s.nowMs - a.sinceMs))}</td><td>${esc(a.interfaces.join(', '))}</td><td>${esc(a.services.join(', '))}</td></tr>`);
    }
    if (owned.length === 0) out.push('<tr><td colspan="5" class="none">none: another node answers for every address, or there is none</td></tr>');
    out.push('</table>');
    const label: Record<string, string> = { owned: 'took over', released: 'released', handoffStarted: 'handoff', drained: 'drained' };
    out.push('<h2>Recent takeovers and handoffs</h2><table class="events"><tr><th>time (UTC)</th><th>event</th><th>address</th><th>detail</th></tr>');
    for (const e of s.ownership.events) {
      out.push(`<tr class="ev-${esc(e.kind)}"><td>${esc(clock(e.atMs))}</td><td>${esc(label[e.kind] ?? e.kind)}</td><td>${esc(e.address)}</td><td>${esc(e.detail)}</td></tr>`);
    }
    if (s.ownership.events.length === 0) out.push('<tr><td colspan="4" class="none">none since this speaker started</td></tr>');
    out.push('</table>');
  }

  out.push(`<h2>Frontends (${s.frontends.length})</h2><table class="frontends"><tr><th>frontend</th><th>listen</th><th>protocol</th><th>TLS</th><th>state</th>`);
  out.push('<th>open</th><th>max</th><th>total</th><th>conn/s</th><th>requests</th><th>req/s</th><th>5xx/s</th><th>rejected</th><th>in</th><th>out</th><th>routes</th></tr>');
  for (const f of s.frontends) {
    const p = prevFrontends.get(f.name);
    const tls = f.tls === null ? '–' : `${esc(f.tls.sources.join(', '))} <span class="dim">(${esc(f.tls.minVersion)}+)</span>`;
    const rejected = Object.entries(f.rejected.byReason).map(([k, v]) => `${k} ${v}`).join(', ');
    const routes = f.routes.map((r) => `${r.hosts.length > 0 ? esc(r.hosts.join(',')) : r.pathPrefix === null ? '' : '*'}${r.pathPrefix === null ? '' : esc(r.pathPrefix)} → ${esc(r.backend)}`).join('<br>');
    out.push(`<tr data-frontend="${esc(f.name)}"><td>${esc(f.name)}</td><td>${esc(f.listen)}</td><td>${esc(f.protocol)}</td><td>${tls}</td><td class="st-${esc(f.state)}">${esc(f.state)}</td>`);
    out.push(td('connections.current', num(f.connections.current)) + td('maxconn', f.maxconn === null ? '–' : num(f.maxconn)) + td('connections.total', num(f.connections.total)) + td('connections.rate', rate(f.connections.total, p?.connections.total)));
    out.push(f.http === null ? '<td class="n">–</td><td class="n">–</td><td class="n">–</td>' : td('requests.total', num(f.http.total)) + td('requests.rate', rate(f.http.total, p?.http?.total)) + td('errors.rate', rate(f.http.errors, p?.http?.errors)));
    out.push(`<td class="n" data-stat="rejected" title="${esc(rejected)}">${num(f.rejected.total)}</td>` + td('bytes.in', esc(bytes(f.bytes.in))) + td('bytes.out', esc(bytes(f.bytes.out))) + `<td>${routes}</td></tr>`);
  }
  if (s.frontends.length === 0) out.push('<tr><td colspan="16" class="none">none</td></tr>');
  out.push('</table>');

  out.push(`<h2>Backends (${s.backends.length})</h2><table class="backends"><tr><th>backend / endpoint</th><th>state</th><th>weight</th><th>open</th><th>total</th><th>conn/s</th><th>errors</th><th>responses</th><th>5xx/s</th><th>notes</th></tr>`);
  for (const b of s.backends) {
    const pb = prevBackends.get(b.name);
    const notes = [b.protocol, b.balance, b.healthCheck ?? 'passive checks only', ...(b.reencrypt === null ? [] : [`re-encrypts${b.reencrypt.verified ? ', verified' : ', not verified'}${b.reencrypt.serverName === null ? '' : ` as ${b.reencrypt.serverName}`}`])];
    const state = b.endpoints.length === 0 ? 'down' : b.up === b.endpoints.length ? 'up' : b.up === 0 ? 'down' : 'partial';
    const open = b.endpoints.reduce((n, e) => n + e.connections.current, 0);
    const total = b.endpoints.reduce((n, e) => n + e.connections.total, 0);
    const totalBefore = pb?.endpoints.reduce((n, e) => n + e.connections.total, 0);
    out.push(`<tr class="be" data-backend="${esc(b.name)}"><td>${esc(b.name)}</td><td class="st-${state}">${b.up}/${b.endpoints.length} up</td><td></td>`);
    out.push(td('connections.current', num(open)) + td('connections.total', num(total)) + td('connections.rate', rate(total, totalBefore)) + td('errors', num(b.endpoints.reduce((n, e) => n + e.errors.total, 0))));
    out.push(b.http === null ? '<td class="n">–</td><td class="n">–</td>' : td('responses.total', num(b.http.total)) + td('errors.rate', rate(b.http.errors, pb?.http?.errors)));
    out.push(`<td>${esc(notes.join(' · '))}</td></tr>`);
    const prevEndpoints = new Map((pb?.endpoints ?? []).map((e) => [e.endpoint, e]));
    for (const e of b.endpoints) {
      const errors = Object.entries(e.errors.byReason).map(([k, v]) => `${k} ${v}`).join(', ');
      out.push(`<tr class="ep" data-endpoint="${esc(e.endpoint)}"><td>${esc(e.endpoint)}</td><td class="st-${esc(e.state)}">${esc(e.state)}</td>` + td('weight', num(e.weight)));
      out.push(td('connections.current', num(e.connections.current)) + td('connections.total', num(e.connections.total)) + td('connections.rate', rate(e.connections.total, prevEndpoints.get(e.endpoint)?.connections.total)));
      out.push(`<td class="n" data-stat="errors" title="${esc(errors)}">${num(e.errors.total)}</td><td></td><td></td><td>${esc(e.conditions.join(', '))}</td></tr>`);
    }
  }
  if (s.backends.length === 0) out.push('<tr><td colspan="10" class="none">none</td></tr>');
  out.push('</table>');

  const kernel = s.kernel ?? [];
  if (kernel.length > 0) {
    out.push(`<h2>Kernel-mode ports (${kernel.length})</h2><p class="dim">Forwarded by nftables on the node that holds the address: the proxy's counters do not see these connections.</p><table class="kernel"><tr><th>port / endpoint</th><th>state</th><th>table slots</th></tr>`);
    for (const k of kernel) {
      out.push(`<tr class="be"><td>${esc(k.name)}</td><td></td><td class="n">${num(k.endpoints.reduce((n, e) => n + e.slots, 0))}</td></tr>`);
      for (const e of k.endpoints) out.push(`<tr><td>${esc(e.endpoint)}</td><td class="st-${e.up ? 'up' : 'down'}">${e.up ? 'up' : 'down (slots lent)'}</td><td class="n">${num(e.slots)}</td></tr>`);
    }
    out.push('</table>');
  }
  return out.join('\n');
}

/** The browser side: fetch `stats.json` (relative, so the page also works behind a path prefix), render, repeat. */
const LOOP = `(() => {
  const root = document.getElementById('stats');
  const status = document.getElementById('stats-status');
  let prev = JSON.parse(document.getElementById('stats-initial').textContent);
  const refresh = async () => {
    try {
      const res = await fetch('stats.json', { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const cur = await res.json();
      root.innerHTML = statsBodyHtml(cur, prev);
      prev = cur;
      status.textContent = 'live: refreshed every ${REFRESH_MS / 1000} s';
      status.className = 'live';
    } catch (err) {
      status.textContent = 'refresh failed: ' + (err && err.message ? err.message : String(err)) + ' (retrying)';
      status.className = 'failed';
    }
    setTimeout(refresh, ${REFRESH_MS});
  };
  setTimeout(refresh, ${REFRESH_MS});
})();`;

/** The page's only script: fixed text, so the server can allow exactly it by hash (CSP). */
export const STATS_SCRIPT = `"use strict";\nconst statsBodyHtml = ${statsBodyHtml.toString()};\n${LOOP}\n`;

const STYLE = `body{font:13px/1.4 system-ui,sans-serif;margin:1em;color:#222}h1{font-size:18px;margin:0}h2{font-size:15px;margin:1.2em 0 .3em}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#e8eef6}td.n{text-align:right}.dim{color:#777}.none{color:#777;font-style:italic}tr.be td{background:#f3f3f3;font-weight:600}
.st-up,.st-active{background:#c9f0c9}.st-down,.st-notBound{background:#f6c4c4}.st-ejected,.st-partial{background:#fbe2b5}.st-draining,.st-unknown{background:#ddd}
#stats-status{color:#777}#stats-status.live{color:#276b27}#stats-status.failed{color:#a11}.head{margin:.2em 0}`;

/** HTML text for a value; the same rule as `statsBodyHtml`'s own `esc`. */
export function escapeHtml(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside a `<script type="application/json">`: no `<` (so no `</script>`), no `&`, no line separators. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The whole page: first paint from `s`, then the script keeps it fresh. */
export function renderStatsPage(s: StatsSnapshot): string {
  const title = s.program === 'speaker' ? `Fulcrum speaker ${s.node ?? ''}` : 'Fulcrum proxy';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)} · stats</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)} · stats</h1>
<p id="stats-status">as of page load; rates appear once the page refreshes (JavaScript)</p>
<div id="stats">${statsBodyHtml(s, null)}</div>
<p class="dim">JSON: <a href="stats.json">stats.json</a> · Prometheus: <a href="metrics">metrics</a></p>
<script type="application/json" id="stats-initial">${jsonForScript(s)}</script>
<script>${STATS_SCRIPT}</script>
</body></html>
`;
}
