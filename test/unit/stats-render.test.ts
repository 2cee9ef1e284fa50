import assert from 'node:assert/strict';
import { escapeHtml, jsonForScript, renderStatsPage, STATS_SCRIPT, statsBodyHtml } from '../../speaker/stats/render.js';
import type { BackendRow, FrontendRow, StatsSnapshot } from '../../speaker/stats/snapshot.js';

const EVIL = `<script>alert("x")</script>' onmouseover='y`;

const frontendRow = (over: Partial<FrontendRow> = {}): FrontendRow => ({
  name: 'web', listen: '192.0.2.10:80', protocol: 'tcp', state: 'active', tls: null, routes: [{ hosts: [], pathPrefix: null, backend: 'web' }], maxconn: null,
  connections: { current: 1, total: 10 }, bytes: { in: 0, out: 0 }, rejected: { total: 0, byReason: {} }, http: null, ...over,
});
const backendRow = (over: Partial<BackendRow> = {}): BackendRow => ({
  name: 'web', balance: 'roundrobin', protocol: 'tcp', healthCheck: null, reencrypt: null, up: 1,
  endpoints: [{ endpoint: '10.0.0.1:8080', state: 'up', weight: 1, conditions: [], connections: { current: 0, total: 10 }, errors: { total: 0, byReason: {} } }], http: null, ...over,
});
const snapshot = (over: Partial<StatsSnapshot> = {}): StatsSnapshot => ({
  program: 'speaker', node: 'n1', nowMs: Date.UTC(2025, 0, 1, 12, 0, 0), startedMs: Date.UTC(2025, 0, 1, 11, 0, 0),
  ownership: { owned: [], events: [] }, frontends: [frontendRow()], backends: [backendRow()], kernel: [], ...over,
});

/** A snapshot where everything that can come from the API or a file carries markup and quotes. */
const hostile = snapshot({
  node: EVIL,
  ownership: {
    owned: [{ address: EVIL, sinceMs: Date.UTC(2025, 0, 1, 11, 30), interfaces: [EVIL], services: [`shop/${EVIL}`] }],
    events: [{ atMs: Date.UTC(2025, 0, 1, 11, 30), kind: 'owned', address: '192.0.2.10', detail: EVIL }],
  },
  frontends: [frontendRow({ name: EVIL, listen: EVIL, tls: { sources: [`secret shop/${EVIL}`], minVersion: 'TLSv1.2' }, routes: [{ hosts: [EVIL], pathPrefix: EVIL, backend: EVIL }], rejected: { total: 1, byReason: { [EVIL]: 1 } } })],
  backends: [backendRow({ name: EVIL, healthCheck: EVIL, endpoints: [{ endpoint: EVIL, state: 'up', weight: 1, conditions: [EVIL], connections: { current: 0, total: 0 }, errors: { total: 1, byReason: { [EVIL]: 1 } } }] })],
  kernel: [{ name: `kernel ${EVIL}`, endpoints: [{ endpoint: `kernel-endpoint ${EVIL}`, up: false, slots: 509 }] }],
});

/** The text a browser shows for HTML produced here (numeric references only: that is all `esc` writes). */
const textOf = (html: string): string => html.replace(/<[^>]*>/g, '').replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));

describe('stats page renderer (pure)', () => {
  it('names, hosts, Secret names, addresses and details with markup and quotes render as text', () => {
    const body = statsBodyHtml(hostile, null);
    assert.doesNotMatch(body, /<script|onmouseover='/i);
    assert.match(body, /&#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62;&#39; onmouseover=&#39;y/);
    // every place shows the original text: nothing dropped, nothing doubled-escaped
    const text = textOf(body);
    for (const shown of [`secret shop/${EVIL}`, `shop/${EVIL}`, `${EVIL}${EVIL} → ${EVIL}`, `kernel ${EVIL}`, `kernel-endpoint ${EVIL}down (slots lent)509`]) assert.ok(text.includes(shown), `shows ${shown}`);
    // attribute values cannot be closed early: every quote inside one is a reference
    for (const m of body.matchAll(/data-(?:frontend|backend|endpoint|address)="([^"]*)"/g)) assert.equal(textOf(m[1]!), EVIL);
  });

  it('the whole page has exactly its own two scripts, and the JSON in one cannot close it', () => {
    const page = renderStatsPage(hostile);
    assert.equal([...page.matchAll(/<script/gi)].length, 2);
    const json = /<script type="application\/json" id="stats-initial">(.*?)<\/script>/s.exec(page)![1]!;
    assert.doesNotMatch(json, /[<>&]/);
    assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(hostile)));
    assert.doesNotMatch(STATS_SCRIPT, /<\/script/i);
    assert.equal(jsonForScript({ a: '</script>\u2028&' }), '{"a":"\\u003c/script\\u003e\\u2028\\u0026"}');
    assert.equal(escapeHtml(`<a href="x">'&`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;');
  });

  it('loads nothing from elsewhere: no src, no stylesheet link, no absolute URL', () => {
    const page = renderStatsPage(snapshot());
    assert.doesNotMatch(page, /\ssrc=|<link|https?:\/\//i);
  });

  it('the script ships the very renderer: its text alone, evaluated without imports, renders the same', () => {
    const shipped = new Function(`return (${statsBodyHtml.toString()});`)() as typeof statsBodyHtml;
    const prev = snapshot();
    const cur = snapshot({ nowMs: prev.nowMs + 2000, frontends: [frontendRow({ connections: { current: 1, total: 30 } })] });
    assert.equal(shipped(hostile, null), statsBodyHtml(hostile, null));
    assert.equal(shipped(cur, prev), statsBodyHtml(cur, prev));
    assert.ok(STATS_SCRIPT.includes(statsBodyHtml.toString()));
  });

  const rateOf = (html: string, stat: string): string => new RegExp(`data-stat="${stat}">([^<]*)<`).exec(html)![1]!;
  const rows: Array<{ name: string; prev: StatsSnapshot | null; cur: StatsSnapshot; want: Record<string, string> }> = [
    { name: 'the first paint has no rates', prev: null, cur: snapshot(), want: { 'connections.rate': '–' } },
    {
      name: 'a rate is the difference of totals over the time between snapshots',
      prev: snapshot(),
      cur: snapshot({ nowMs: snapshot().nowMs + 2000, frontends: [frontendRow({ connections: { current: 1, total: 30 } })] }),
      want: { 'connections.rate': '10.0' },
    },
    {
      name: 'HTTP requests and 5xx get their own rates',
      prev: snapshot({ frontends: [frontendRow({ protocol: 'http', http: { total: 100, errors: 1, byClass: { '1xx': 0, '2xx': 99, '3xx': 0, '4xx': 0, '5xx': 1, none: 0 } } })] }),
      cur: snapshot({ nowMs: snapshot().nowMs + 4000, frontends: [frontendRow({ protocol: 'http', http: { total: 1100, errors: 9, byClass: { '1xx': 0, '2xx': 1091, '3xx': 0, '4xx': 0, '5xx': 9, none: 0 } } })] }),
      want: { 'requests.rate': '250', 'errors.rate': '2.0', 'requests.total': '1,100' },
    },
    {
      name: 'a counter that started again (frontend re-created) shows no rate rather than a negative one',
      prev: snapshot({ frontends: [frontendRow({ connections: { current: 0, total: 500 } })] }),
      cur: snapshot({ nowMs: snapshot().nowMs + 2000 }),
      want: { 'connections.rate': '–' },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const html = statsBodyHtml(row.cur, row.prev);
      for (const [stat, want] of Object.entries(row.want)) assert.equal(rateOf(html, stat), want, stat);
    });
  }

  it('the standalone proxy page has no ownership sections; a speaker with none says so', () => {
    assert.doesNotMatch(statsBodyHtml(snapshot({ program: 'proxy', node: null, ownership: null }), null), /Addresses owned|takeovers/);
    const speaker = statsBodyHtml(snapshot(), null);
    assert.match(speaker, /Addresses owned \(0\)/);
    assert.match(speaker, /none since this speaker started/);
  });
});
