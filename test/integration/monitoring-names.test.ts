import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const RULES = join(REPO, 'config', 'monitoring', 'prometheus-rule.yaml');
const DASHBOARD = join(REPO, 'config', 'monitoring', 'grafana-dashboard.json');

/** The programs whose /metrics the rules and the dashboard read, by their entry module (built beside this test). */
const PROGRAMS = { allocator: '../../allocator/program.js', speaker: '../../speaker/program.js', proxy: '../../speaker/proxy/command.js' } as const;
type Program = keyof typeof PROGRAMS;

/** Series Prometheus makes itself for every target; no program exports them. */
const PROMETHEUS_OWN = new Set(['up']);

interface Exported {
  type: string;
  labels: readonly string[];
  programs: Program[];
}

/**
 * What a program's /metrics serves: its entry module loaded in a process of its own (every metric
 * is registered when its module loads; the programs call collectProcessMetrics at start), then the
 * registry listed, as the metrics server serves it.
 */
function programMetrics(entry: string): Promise<{ name: string; type: string; labels: string[] }[]> {
  const code = `
    await import(${JSON.stringify(new URL(entry, import.meta.url).href)});
    const m = await import(${JSON.stringify(new URL('../../src/metrics.js', import.meta.url).href)});
    m.collectProcessMetrics();
    const text = await m.registry.metrics();
    const out = (await m.registry.getMetricsAsJSON()).map((j) => ({ name: j.name, type: j.type, labels: [...(m.registry.getSingleMetric(j.name).labelNames ?? [])] }));
    if (!out.every((o) => text.includes('# TYPE ' + o.name + ' '))) throw new Error('a listed metric is missing from the text exposition');
    process.stdout.write(JSON.stringify(out));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 30_000, maxBuffer: 4 << 20, env: { ...process.env, FULCRUM_LOG_LEVEL: 'silent' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`loading ${entry}: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as { name: string; type: string; labels: string[] }[]);
    });
  });
}

/** Operators and the aggregations (which may come before their "(" as in `sum by (x) (…)`). */
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2',
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

export interface PromqlRefs {
  metrics: Set<string>;
  /** [metric, label] pairs of label matchers written after a metric name ({reason="x"}). */
  matchers: [string, string][];
}

/**
 * The metric names a PromQL expression reads, by a small tokenizer: strings, ranges ([5m]) and
 * label matchers ({…}) are taken out, identifiers followed by "(" are functions or aggregations,
 * the lists after by/without/on/ignoring/group_left/group_right are label names, and the
 * keywords are dropped; every other identifier is a metric name. Grafana's $variables are skipped.
 */
export function promqlRefs(expr: string): PromqlRefs {
  const metrics = new Set<string>();
  const matchers: [string, string][] = [];
  const re = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|\[[^\]]*\]|\{[^}]*\}|\$\{?\w+\}?|[A-Za-z_:][A-Za-z0-9_:]*|\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*|#[^\n]*|\S/g;
  const tokens: string[] = expr.match(re) ?? [];
  let lastMetric: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.startsWith('{')) {
      if (lastMetric) for (const m of t.slice(1, -1).matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) matchers.push([lastMetric, m[1]!]);
      continue;
    }
    if (!/^[A-Za-z_:]/.test(t)) {
      if (!t.startsWith('[')) lastMetric = undefined;
      continue;
    }
    if (LABEL_LIST_KEYWORDS.has(t) && tokens[i + 1] === '(') {
      const close = tokens.indexOf(')', i + 1);
      if (close < 0) throw new Error(`"${expr}": no ")" after ${t} (`);
      i = close;
      lastMetric = undefined;
      continue;
    }
    if (PROMQL_KEYWORDS.has(t.toLowerCase()) || tokens[i + 1] === '(') {
      lastMetric = undefined;
      continue;
    }
    metrics.add(t);
    lastMetric = t;
  }
  return { metrics, matchers };
}

/** Metric names (and matcher labels) no program exports; a histogram's _bucket, _sum and _count are its own. */
function unknownRefs(expr: string, exported: ReadonlyMap<string, Exported>): string[] {
  const { metrics, matchers } = promqlRefs(expr);
  const base = (n: string): Exported | undefined => {
    const direct = exported.get(n);
    if (direct) return direct;
    const m = /^(.*)_(bucket|sum|count)$/.exec(n);
    const h = m ? exported.get(m[1]!) : undefined;
    return h && (h.type === 'histogram' || h.type === 'summary') ? h : undefined;
  };
  const out: string[] = [];
  for (const n of metrics) if (!PROMETHEUS_OWN.has(n) && !base(n)) out.push(n);
  for (const [n, label] of matchers) {
    const e = base(n);
    if (e && !e.labels.includes(label) && !['job', 'instance', 'namespace', 'pod', 'le'].includes(label)) out.push(`${n}{${label}}`);
  }
  return out;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { uid: string };
  targets?: { expr: string; refId: string }[];
  panels?: Panel[];
}

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

describe('PromQL metric references (the tokenizer the monitoring check uses)', () => {
  const rows: [string, string, string[]][] = [
    ['a bare name', 'fulcrum_config_stale == 1', ['fulcrum_config_stale']],
    ['matchers, ranges and functions are not names', 'sum by (reason) (rate(fulcrum_a_total{reason="x", job=~"a|b"}[5m])) > 0', ['fulcrum_a_total']],
    ['aggregations before their by clause', 'max without (pod) (m1) + count by (a) (m2)', ['m1', 'm2']],
    ['on/group_left label lists are not names', 'a * on (instance) group_left (pool, family) (b == 1) / ignoring (le) c', ['a', 'b', 'c']],
    ['keywords and numbers', 'x > bool 0.9 or y offset 5m unless z and 1e3 < inf', ['x', 'y', 'z']],
    ['strings with names in them', 'label_replace(m, "dst", "not_a_metric", "src", "(.*)")', ['m']],
    ['Grafana variables', 'rate(h_bucket[$__rate_interval]) / ${x}', ['h_bucket']],
    ['recording-rule names with colons', 'job:fulcrum_x:rate5m > 0', ['job:fulcrum_x:rate5m']],
  ];
  for (const [title, expr, want] of rows) {
    it(`${title}: ${expr}`, () => assert.deepEqual([...promqlRefs(expr).metrics].sort(), [...want].sort()));
  }
  it('label matchers are tied to the metric before them', () => {
    assert.deepEqual(promqlRefs('rate(a{reason="x"}[5m]) + b{code!="200", le="1"}').matchers, [['a', 'reason'], ['b', 'code'], ['b', 'le']]);
  });
});

describe('config/monitoring: alerts and dashboard read only metrics the programs export', function () {
  this.timeout(60_000);
  const exported = new Map<string, Exported>();
  const rulesDoc = parseYaml(readFileSync(RULES, 'utf8')) as { apiVersion: string; kind: string; metadata: { name: string }; spec: { groups: { name: string; rules: Rule[] }[] } };
  const rules = rulesDoc.spec.groups.flatMap((g) => g.rules);
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } };

  before(async () => {
    for (const [program, entry] of Object.entries(PROGRAMS) as [Program, string][]) {
      for (const m of await programMetrics(entry)) {
        const e = exported.get(m.name) ?? { type: m.type, labels: m.labels, programs: [] };
        e.programs.push(program);
        exported.set(m.name, e);
      }
    }
  });

  it('the programs export what the alerts are built on (the names this check trusts)', () => {
    for (const [name, program] of [['fulcrum_config_stale', 'allocator'], ['fulcrum_allocator_addresses_in_use', 'allocator'], ['fulcrum_allocator_leader', 'allocator'],
      ['fulcrum_speaker_addresses_owned', 'speaker'], ['fulcrum_speaker_isolated', 'speaker'], ['fulcrum_proxy_endpoint_up', 'speaker'], ['fulcrum_proxy_endpoint_up', 'proxy']] as const) {
      assert.ok(exported.get(name)?.programs.includes(program), `${program} exports ${name}`);
    }
    assert.ok(!exported.has('fulcrum_allocator_address_in_use'));
  });

  it('a misspelt metric, a histogram suffix on a gauge and an unknown matcher label are all caught', () => {
    assert.deepEqual(unknownRefs('fulcrum_allocator_address_in_use > 0', exported), ['fulcrum_allocator_address_in_use']);
    assert.deepEqual(unknownRefs('fulcrum_speaker_addresses_owned_count', exported), ['fulcrum_speaker_addresses_owned_count']);
    assert.deepEqual(unknownRefs('rate(fulcrum_allocator_reconcile_duration_seconds_bucket[5m])', exported), []);
    assert.deepEqual(unknownRefs('fulcrum_allocator_allocation_failures_total{reasons="x"}', exported), ['fulcrum_allocator_allocation_failures_total{reasons}']);
  });

  it('the PrometheusRule has the alerts an operator needs, each with a severity, a summary and a description', () => {
    assert.equal(rulesDoc.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(rulesDoc.kind, 'PrometheusRule');
    const names = rules.map((r) => r.alert);
    assert.equal(new Set(names).size, names.length, `alert names are unique: ${names.join(', ')}`);
    for (const a of ['FulcrumConfigStale', 'FulcrumPoolNearlyExhausted', 'FulcrumAddressWithoutOwner', 'FulcrumSpeakerNotReady', 'FulcrumBackendNoHealthyEndpoint']) {
      assert.ok(names.includes(a), `an alert ${a}`);
    }
    for (const r of rules) {
      assert.ok(r.alert && typeof r.expr === 'string' && r.expr.trim() !== '', `rule ${JSON.stringify(r.alert)}: alert and expr`);
      assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity ?? ''), `${r.alert}: labels.severity is ${JSON.stringify(r.labels?.severity)}`);
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: annotations.summary and description`);
      if (r.for !== undefined) assert.match(r.for, /^(\d+(ms|s|m|h|d))+$/, `${r.alert}: for`);
      assert.equal((r.expr.match(/\(/g) ?? []).length, (r.expr.match(/\)/g) ?? []).length, `${r.alert}: balanced parentheses`);
    }
  });

  it('every metric an alert reads is exported by the allocator, the speaker or the proxy', () => {
    const unknown = rules.flatMap((r) => unknownRefs(r.expr, exported).map((n) => `${r.alert}: ${n}`));
    assert.deepEqual(unknown, []);
    const used = new Set(rules.flatMap((r) => [...promqlRefs(r.expr).metrics]));
    assert.ok(used.size >= 10, `the alerts read ${[...used].join(', ')}`);
  });

  it('every metric a dashboard panel reads is exported; panels have unique ids, a place and the datasource variable', () => {
    assert.equal(dashboard.uid, 'fulcrum-overview');
    assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
    const panels = allPanels(dashboard.panels);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const unknown: string[] = [];
    let exprs = 0;
    for (const p of panels) {
      assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `panel "${p.title}": gridPos`);
      if (p.type === 'row') continue;
      assert.equal(p.datasource?.uid, '${datasource}', `panel "${p.title}": datasource`);
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has a query`);
      for (const t of p.targets ?? []) {
        exprs++;
        assert.ok(promqlRefs(t.expr).metrics.size > 0, `panel "${p.title}" ${t.refId}: reads a metric`);
        unknown.push(...unknownRefs(t.expr, exported).map((n) => `panel "${p.title}" ${t.refId}: ${n}`));
      }
    }
    assert.deepEqual(unknown, []);
    assert.ok(exprs >= 30, `${exprs} queries`);
  });

  it('the chart ships the same rules and the same dashboard (charts/fulcrum/files/)', () => {
    const chartRules = parseYaml(readFileSync(join(REPO, 'charts', 'fulcrum', 'files', 'prometheus-rules.yaml'), 'utf8')) as unknown;
    assert.deepEqual(chartRules, rulesDoc.spec, 'charts/fulcrum/files/prometheus-rules.yaml is the spec of config/monitoring/prometheus-rule.yaml');
    assert.equal(readFileSync(join(REPO, 'charts', 'fulcrum', 'files', 'grafana-dashboard.json'), 'utf8'), readFileSync(DASHBOARD, 'utf8'), 'charts/fulcrum/files/grafana-dashboard.json is config/monitoring/grafana-dashboard.json');
  });
});
