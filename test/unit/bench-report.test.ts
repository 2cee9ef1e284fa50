import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { assertWorkloads, formatMarkdown, formatTable, median, ratio, timestampName, writeResults, type Workload } from '../../bench/lib/report.js';
import { busyPercent, parsePidStat, parseProcStat, planCpus, treeCpuSeconds } from '../../bench/lib/cpu.js';
import { parseIperf3, parseUdpLoad, parseWrk } from '../../bench/l4/parse.js';
import { fulcrumConfig, haproxyProxyConfig, nftRuleset, type Topology } from '../../bench/l4/config.js';

const workload = (over: Partial<Workload> = {}): Workload => ({
  name: 'tcp new connection per request',
  unit: 'conn/s',
  fulcrum: 9000,
  haproxy: 10000,
  kernel: 11000,
  direct: 12000,
  ...over,
});

describe('bench report', () => {
  const medians: Array<[string, number[], number | null]> = [
    ['an odd count gives the middle sample', [3, 1, 2], 2],
    ['an even count gives the mean of the two middle ones', [4, 1, 3, 2], 2.5],
    ['no samples give null', [], null],
    ['NaN samples (a failed p99 parse) are left out', [Number.NaN, 5, 7, 6], 6],
  ];
  for (const [story, samples, want] of medians) {
    it(`median: ${story}`, () => {
      const copy = [...samples];
      assert.equal(median(samples), want, `median(${JSON.stringify(samples)})`);
      assert.deepEqual(samples, copy, 'input not mutated');
    });
  }

  it('ratio is null when a side is missing or the divisor is zero', () => {
    assert.equal(ratio(9, 10), 0.9);
    assert.equal(ratio(null, 10), null);
    assert.equal(ratio(9, null), null);
    assert.equal(ratio(9, 0), null);
  });

  it('the text table shows figures, both ratios, a dash for null and the notes', () => {
    const text = formatTable([workload({ notes: 'pinned' }), workload({ name: 'udp request/response', unit: 'pkt/s', haproxy: null })]);
    const lines = text.split('\n');
    assert.match(lines[0]!, /^workload\s+unit\s+fulcrum\s+haproxy\s+kernel\s+direct\s+F\/haproxy\s+F\/direct$/);
    assert.match(lines[2]!, /9,000\s+10,000\s+11,000\s+12,000\s+0\.90\s+0\.75$/);
    assert.match(lines[3]!, /9,000\s+—\s+11,000\s+12,000\s+—\s+0\.75$/);
    assert.match(text, /notes:\n {2}tcp new connection per request: pinned/);
  });

  it('path columns can carry the worker and thread counts', () => {
    const text = formatTable([workload()], { fulcrum: 'fulcrum (1 worker)', haproxy: 'haproxy (nbthread 1)' });
    assert.match(text.split('\n')[0]!, /fulcrum \(1 worker\)\s+haproxy \(nbthread 1\)\s+kernel/);
  });

  it('latencies are marked lower-is-better in the unit column', () => {
    const md = formatMarkdown([workload({ name: 'p99', unit: 'ms', lowerIsBetter: true, fulcrum: 1.5, haproxy: 1.2 })]);
    assert.match(md, /\| p99 \| ms \(lower is better\) \| 1\.50 \| 1\.20 \|/);
    assert.match(md.split('\n')[1]!, /^\|---\|---\|---:\|/);
  });

  it('writeResults writes latest.json and a dated copy with the same list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
    try {
      const now = new Date('2026-11-23T13:20:05.123Z');
      const list = [workload()];
      const paths = writeResults(dir, list, now);
      assert.equal(timestampName(now), '2026-11-23T13-20-05Z');
      assert.deepEqual(readdirSync(dir).sort(), ['2026-11-23T13-20-05Z.json', 'latest.json']);
      assert.deepEqual(JSON.parse(readFileSync(paths.latest, 'utf8')), list);
      assert.deepEqual(assertWorkloads(JSON.parse(readFileSync(paths.dated, 'utf8')), 'dated'), list);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['an object instead of a list is refused', { workloads: [] }, /expected a list/],
    ['a workload without a unit is refused', [{ name: 'x', fulcrum: 1 }], /workload 0 has no string name\/unit/],
    ['a figure that is a string is refused, naming the field', [{ ...workload(), kernel: '5' }], /field kernel is "5"/],
  ];
  for (const [story, value, re] of bad) {
    it(`assertWorkloads: ${story}`, () => {
      assert.throws(() => assertWorkloads(value, 'bench/ipam'), (err: Error & { code?: string }) => err.code === 'FUL_ERR_BENCH_RESULT' && re.test(err.message));
    });
  }
});

describe('bench parsers', () => {
  const WRK = `Running 2s test @ http://127.0.0.1:8080/
  1 threads and 32 connections
  Latency Distribution
     50%  306.00us
     99%    1.57ms
  196031 requests in 2.00s, 17.39MB read
  Socket errors: connect 0, read 12, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  97988.09
`;
  it('wrk: requests/sec, p99 in ms from any unit, and every kind of error summed', () => {
    assert.deepEqual(parseWrk(WRK), { requestsPerSec: 97988.09, p99Ms: 1.57, requests: 196031, errors: 18 });
    assert.equal(parseWrk(WRK.replace('1.57ms', '850.00us')).p99Ms, 0.85);
    assert.equal(parseWrk(WRK.replace('1.57ms', '1.20s')).p99Ms, 1200);
  });

  it('wrk: output without Requests/sec is an error with a stable code', () => {
    assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'), { code: 'FUL_ERR_BENCH_PARSE' });
  });

  it('iperf3: receiver-side bits per second in Gbit/s; its own error is surfaced', () => {
    assert.equal(parseIperf3(JSON.stringify({ end: { sum_received: { bits_per_second: 12.5e9 } } })), 12.5);
    assert.throws(() => parseIperf3(JSON.stringify({ error: 'unable to connect to server' })), /unable to connect/);
  });

  it('udp-load: the last line is the result', () => {
    assert.equal(parseUdpLoad('warming\n{"packetsPerSec":5000,"sent":10,"received":9,"seconds":2}\n').packetsPerSec, 5000);
  });

  it('/proc/stat: busy excludes idle and iowait, per CPU', () => {
    const a = parseProcStat('cpu  1 1 1 1 1 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\ncpu1 0 0 0 1000 0 0 0 0 0 0\n');
    const b = parseProcStat('cpu0 150 0 150 900 0 0 0 0 0 0\ncpu1 0 0 0 1200 0 0 0 0 0 0\n');
    assert.deepEqual(busyPercent(a, b), [50, 0]);
  });

  it('/proc/PID/stat: a command name with spaces and parentheses does not shift the fields', () => {
    const line = '42 (node (worker) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0';
    assert.deepEqual(parsePidStat(line), { pid: 42, ppid: 1, cpuSeconds: 3 });
  });

  it('a process tree sums the root and every descendant, not its siblings or parent', () => {
    const procs = [
      { pid: 1, ppid: 0, cpuSeconds: 100 },
      { pid: 10, ppid: 1, cpuSeconds: 1 }, // timeout
      { pid: 11, ppid: 10, cpuSeconds: 2 }, // the proxy
      { pid: 12, ppid: 11, cpuSeconds: 4 }, // a worker
      { pid: 20, ppid: 1, cpuSeconds: 50 }, // someone else
    ];
    assert.equal(treeCpuSeconds(procs, 10), 7);
  });
});

describe('bench topology', () => {
  const t: Topology = {
    host: '127.0.0.1',
    backends: { conn: 9001, bulk: 9002, http: 9003, udp: 9004 },
    fulcrum: { conn: 8001, bulk: 8002, http: 8003, udp: 8004 },
    haproxy: { conn: 7001, bulk: 7002, http: 7003 },
    kernel: { conn: 6001, bulk: 6002, http: 6003, udp: 6004 },
  };

  it('Fulcrum gets one frontend per service, each to a one-endpoint backend of the same name', () => {
    const cfg = parseYaml(fulcrumConfig(t, 2)) as { workers: number; frontends: Array<Record<string, unknown>>; backends: Array<{ name: string; endpoints: unknown[] }> };
    assert.equal(cfg.workers, 2);
    assert.deepEqual(cfg.frontends.find((f) => f.name === 'udp'), { name: 'udp', listen: '127.0.0.1:8004', protocol: 'udp', backend: 'udp' });
    assert.deepEqual(cfg.backends.find((b) => b.name === 'conn')?.endpoints, [{ address: '127.0.0.1', port: 9001 }]);
  });

  it('Fulcrum can be given the TCP services only, for a proxy that refuses UDP', () => {
    const cfg = parseYaml(fulcrumConfig(t, 1, ['conn', 'bulk', 'http'])) as { frontends: Array<{ protocol: string }>; backends: unknown[] };
    assert.deepEqual(cfg.frontends.map((f) => f.protocol), ['tcp', 'tcp', 'tcp']);
    assert.equal(cfg.backends.length, 3);
  });

  it('haproxy runs as many threads as Fulcrum has workers and proxies every TCP service', () => {
    const cfg = haproxyProxyConfig(t, 2);
    assert.match(cfg, /nbthread 2\n/);
    assert.match(cfg, /mode tcp/);
    assert.match(cfg, /bind 127\.0\.0\.1:7002\n {2}default_backend bulk\nbackend bulk\n {2}balance roundrobin\n {2}server e1 127\.0\.0\.1:9002/);
    assert.doesNotMatch(cfg, /udp/);
  });

  it('the kernel path DNATs each service port in the output hook, UDP included, and SNATs what it DNATed', () => {
    const rules = nftRuleset(t);
    assert.match(rules, /type nat hook postrouting priority 100;/);
    assert.match(rules, /ct status dnat ip daddr 127\.0\.0\.1 tcp dport 9002 snat to 127\.0\.0\.2/);
    assert.match(rules, /type nat hook output priority -100;/);
    assert.match(rules, /ip daddr 127\.0\.0\.1 udp dport 6004 dnat to 127\.0\.0\.1:9004/);
    assert.match(rules, /tcp dport 6001 dnat to 127\.0\.0\.1:9001/);
  });

  const plans: Array<[string, number, number, string | undefined, string | undefined]> = [
    ['two CPUs and one worker: load on CPU 0, proxy on CPU 1', 2, 1, '0', '1'],
    ['four CPUs and three workers: proxy on CPUs 1-3', 4, 3, '0', '1-3'],
    ['two CPUs and two workers: nothing pinned', 2, 2, undefined, undefined],
    ['one CPU: nothing pinned', 1, 1, undefined, undefined],
  ];
  for (const [story, cpus, workers, load, proxy] of plans) {
    it(`planCpus: ${story}`, () => {
      const p = planCpus(cpus, workers);
      assert.equal(p.loadCpus, load);
      assert.equal(p.proxyCpus, proxy);
    });
  }
});
