import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST_IPV4, HOST_IPV6, labNames } from '../../lab/addressing.js';
import { describeReplyRouting, NFT_ENV, onPath } from '../../lab/host-link.js';
import { defaultStateDir } from '../../lab/lab.js';
import { removeLeftovers } from '../../lab/leftovers.js';
import { listLinks, listNamespaces } from '../../lab/netns.js';
import { parseProbeOutput } from '../../lab/probe.js';
import { SAMPLE_NAMESPACE, SAMPLE_SERVICES, sampleAddressCount, sampleCheckCount, samplePorts } from '../../lab/samples.js';
import { Topology } from '../../lab/topology.js';

// The lab without nftables: replies of the lab host go back by a source-address policy rule,
// forced here with FULCRUM_LAB_NFT=0 so that it is covered where nft exists too. Prefix `flf`,
// and `flf2` for a second lab at the same time.
const PREFIX = 'flf';
const OTHER = 'flf2';
const BIN = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));
const PROBE = fileURLToPath(new URL('../../lab/probe.js', import.meta.url));

interface Rule {
  priority: number;
  src?: string;
  fwmark?: string;
  table?: string;
}

/** Policy rules of both families that look up `table`. */
function rulesFor(table: number): Rule[] {
  return (['-4', '-6'] as const).flatMap((f) => (JSON.parse(execFileSync('ip', [f, '-j', 'rule', 'show'], { encoding: 'utf8' })) as Rule[]).filter((r) => r.table === String(table)));
}

function nftTables(): string {
  return onPath('nft') ? execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }) : '';
}

async function leftovers(prefix: string): Promise<string[]> {
  return [...(await listNamespaces()), ...(await listLinks())].filter((n) => n.startsWith(`${prefix}-`));
}

function skipUnlessRoot(ctx: Mocha.Context): void {
  if (process.getuid?.() !== 0) {
    console.log('    (lab fallback e2e skipped: needs root for network namespaces)');
    ctx.skip();
  }
}

describe('lab host link without nftables (FULCRUM_LAB_NFT=0)', function () {
  this.timeout(60_000);
  const saved = process.env[NFT_ENV];
  let topo: Topology | undefined;
  let other: Topology | undefined;
  let hostServer: Server | undefined;
  let hostPort = 0;

  before(async function () {
    skipUnlessRoot(this);
    process.env[NFT_ENV] = '0';
    // the lab host's side: an echo server in the root namespace, where the API emulator listens
    hostServer = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => hostServer!.listen(0, '::', resolve));
    hostPort = (hostServer.address() as { port: number }).port;
    topo = await Topology.create({ prefix: PREFIX, nodes: 2 });
  });

  after(async () => {
    if (saved === undefined) delete process.env[NFT_ENV];
    else process.env[NFT_ENV] = saved;
    await other?.destroy();
    await topo?.destroy();
    hostServer?.close();
    if (process.getuid?.() === 0) for (const p of [PREFIX, OTHER]) await removeLeftovers(p);
  });

  /** The line a node gets back from the lab host's echo server, through the lab's probe. */
  async function echoFromHost(t: Topology, node: number, address: string): Promise<string | undefined> {
    const r = await t.exec(t.node(node).namespace, process.execPath, [PROBE, 'tcp', address, String(hostPort), `from ${t.prefix}`, '--timeout-ms', '2000']);
    const result = parseProbeOutput(r.stdout);
    return result?.ok ? result.reply : `${r.stdout}${r.stderr}`;
  }

  it('routes the lab host\'s replies by a source rule in each family, and every node reaches the lab host', async () => {
    const t = topo!;
    assert.deepEqual(t.host.routing, { kind: 'sourceRule', reason: 'forced' });
    const rules = rulesFor(t.host.table).map((r) => [r.priority, r.src, r.fwmark]);
    assert.deepEqual(rules.sort(), [[1001, HOST_IPV6, undefined], [1001, HOST_IPV4, undefined]].sort(), 'from 192.0.2.254 and from 2001:db8::fe, no fwmark rule');
    assert.ok(!nftTables().includes(labNames(PREFIX).nftTable), 'no nftables table');
    for (const node of [1, 2]) {
      assert.equal(await echoFromHost(t, node, HOST_IPV4), `from ${PREFIX}`, `node ${node}, IPv4`);
      assert.equal(await echoFromHost(t, node, HOST_IPV6), `from ${PREFIX}`, `node ${node}, IPv6`);
    }
  });

  it('a second lab without nftables is refused with a message naming the holder and nftables, and leaves nothing', async () => {
    await assert.rejects(Topology.create({ prefix: OTHER, nodes: 1 }), (err: Error) => {
      assert.match(err.message, new RegExp(`^building lab "${OTHER}": without nftables \\(${NFT_ENV}=0 is set\\)`));
      assert.match(err.message, new RegExp(`lab "${PREFIX}" \\(link ${PREFIX}-host\\) already holds it: only one such lab can run at a time`));
      assert.match(err.message, /install nftables/);
      return true;
    });
    assert.deepEqual(await leftovers(OTHER), []);
    assert.equal(await echoFromHost(topo!, 1, HOST_IPV4), `from ${PREFIX}`, 'the first lab still works');
  });

  it('a lab with nftables runs beside it, and each gets its own replies', async function () {
    if (!onPath('nft')) this.skip();
    process.env[NFT_ENV] = '1';
    try {
      other = await Topology.create({ prefix: OTHER, nodes: 1 });
    } finally {
      process.env[NFT_ENV] = '0';
    }
    assert.equal(other.host.routing.kind, 'nftables');
    // both node 1s are 192.0.2.11: only the reply routing tells them apart
    for (let round = 0; round < 3; round++) {
      assert.equal(await echoFromHost(other, 1, HOST_IPV4), `from ${OTHER}`);
      assert.equal(await echoFromHost(topo!, 1, HOST_IPV4), `from ${PREFIX}`);
      assert.equal(await echoFromHost(other, 1, HOST_IPV6), `from ${OTHER}`);
      assert.equal(await echoFromHost(topo!, 1, HOST_IPV6), `from ${PREFIX}`);
    }
    const table = other.host.table;
    await other.destroy();
    other = undefined;
    assert.deepEqual(rulesFor(table), []);
    assert.deepEqual(await leftovers(OTHER), []);
  });

  it('destroy removes the source rules along with the link and namespaces', async () => {
    const table = topo!.host.table;
    await topo!.destroy();
    topo = undefined;
    assert.deepEqual(rulesFor(table), []);
    assert.deepEqual(await leftovers(PREFIX), []);
  });

  it('an nft that fails makes the lab fall back and say why, unless FULCRUM_LAB_NFT=1 requires nftables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-lab-nft-'));
    const savedPath = process.env.PATH;
    try {
      for (const tool of ['ip', 'sysctl']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(dir, tool));
      // an nft that is there but may not load rules (a kernel without nf_tables, a locked-down container)
      writeFileSync(join(dir, 'nft'), '#!/bin/sh\necho "Error: Could not process rule: Operation not supported" >&2\nexit 1\n', { mode: 0o755 });
      process.env.PATH = dir;
      process.env[NFT_ENV] = '1';
      await assert.rejects(Topology.create({ prefix: PREFIX, nodes: 1 }), /Operation not supported/);
      assert.deepEqual(await leftovers(PREFIX), []);
      delete process.env[NFT_ENV];
      topo = await Topology.create({ prefix: PREFIX, nodes: 1 });
      assert.equal(topo.host.routing.kind, 'sourceRule');
      assert.match(describeReplyRouting(topo.host), /; nft failed: nft -f -: exit 1: Error: Could not process rule: Operation not supported\); one such lab at a time/);
      assert.equal(await echoFromHost(topo, 1, HOST_IPV4), `from ${PREFIX}`);
      await topo.destroy();
      topo = undefined;
      assert.deepEqual(await leftovers(PREFIX), []);
    } finally {
      process.env.PATH = savedPath;
      process.env[NFT_ENV] = '0';
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a lab killed with SIGKILL leaves its rule behind, and the next start with its prefix removes it', async () => {
    const topologyModule = fileURLToPath(new URL('../../lab/topology.js', import.meta.url));
    const script = `import(${JSON.stringify(topologyModule)}).then(async (m) => { const t = await m.Topology.create({ prefix: '${PREFIX}', nodes: 1 }); console.log(JSON.stringify({ table: t.host.table })); process.kill(process.pid, 'SIGKILL'); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, FULCRUM_LOG_LEVEL: 'silent', [NFT_ENV]: '0' }, timeout: 20_000 });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    const { table } = JSON.parse(r.stdout) as { table: number };
    assert.equal(rulesFor(table).length, 2, 'the killed lab left its two source rules');
    topo = await Topology.create({ prefix: PREFIX, nodes: 1 });
    assert.equal(topo.host.routing.kind, 'sourceRule', 'the leftover rule did not block its own prefix');
    const again = topo.host.table;
    await topo.destroy();
    topo = undefined;
    assert.deepEqual([...rulesFor(table), ...rulesFor(again)], []);
    assert.deepEqual(await leftovers(PREFIX), []);
  });
});

describe('fulcrum lab --no-wait without nftables', function () {
  this.timeout(120_000);
  let pathDir: string | undefined;

  before(function () {
    skipUnlessRoot(this);
  });

  after(async () => {
    if (pathDir) rmSync(pathDir, { recursive: true, force: true });
    if (process.getuid?.() === 0) await removeLeftovers(PREFIX);
  });

  /** Runs the lab like a user and checks the table, the routing line and that nothing is left. */
  async function runLab(env: NodeJS.ProcessEnv, why: RegExp): Promise<void> {
    const r = spawnSync(process.execPath, [BIN, 'lab', '--no-wait', '--prefix', PREFIX, '--nodes', '2', '--address-timeout', '20s'], { encoding: 'utf8', env: { ...env, FULCRUM_LOG_LEVEL: 'silent' }, timeout: 100_000 });
    const out = r.stdout + r.stderr;
    const routing = /replies routed by source address \(ip rule from 192\.0\.2\.254 lookup (\d+); ([^)]*)\); one such lab at a time/.exec(r.stdout);
    assert.ok(routing, out);
    assert.match(routing[2]!, why);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('default/'));
    // one row per address and port of each sample
    const expected = SAMPLE_SERVICES.flatMap((x) => Array<string>(sampleAddressCount(x) * samplePorts(x).length).fill(`${SAMPLE_NAMESPACE}/${x.name}`));
    assert.deepEqual(rows.map((l) => l.split(/\s+/)[0]).sort(), expected.sort(), out);
    for (const row of rows) assert.match(row, / ok (echoed|web-\d saw \S+( \(X-Forwarded-For\))?(, TLSv1\.[23] verified)?)$/, out);
    for (const tls of rows.filter((l) => l.startsWith('default/web-tls '))) assert.match(tls, /, TLSv1\.[23] verified$/, 'HTTPS verified against the lab CA');
    assert.match(row(rows, 'default/web-local'), / ok web-2 saw 192\.0\.2\.2$/, 'externalTrafficPolicy Local: the backend saw the client through the PROXY header');
    assert.match(r.stdout, new RegExp(`All ${sampleCheckCount()} checks passed\\.`));
    assert.equal(r.status, 0, out);
    assert.deepEqual(await leftovers(PREFIX), []);
    assert.deepEqual(rulesFor(Number(routing[1])), []);
    assert.ok(!nftTables().includes(labNames(PREFIX).nftTable));
    assert.ok(!existsSync(`${defaultStateDir(PREFIX)}/state.json`));
  }

  function row(rows: string[], service: string): string {
    return rows.find((l) => l.startsWith(`${service} `)) ?? '';
  }

  it(`${NFT_ENV}=0: every check passes (TCP, UDP, HTTP, HTTPS, Host routing, IPv6, PROXY with ETP Local) and nothing is left`, async () => {
    await runLab({ ...process.env, [NFT_ENV]: '0' }, new RegExp(`^${NFT_ENV}=0$`));
  });

  it('with only ip and sysctl on PATH (no nft, socat or curl): the same, and it says nft was not found', async () => {
    pathDir = mkdtempSync(join(tmpdir(), 'fulcrum-lab-path-'));
    for (const tool of ['ip', 'sysctl']) {
      const found = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      symlinkSync(found, join(pathDir, tool));
    }
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathDir };
    delete env[NFT_ENV];
    await runLab(env, /^nft not found$/);
  });
});
