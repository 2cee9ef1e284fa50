// Hostile UDP input (issue 17): floods from one source and from many (sockets bound on many
// 127/8 addresses, the forged sources of a real attack), the process's shared budget of flow
// sockets, and datagrams up to the IPv4 maximum and over the loopback MTU (IPv6, fragmented).
// A well-behaved client keeps being answered; figures are printed.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { configureProcessLimits, processBudget } from '../../speaker/proxy/process-limits.js';
import type { UdpFrontend } from '../../speaker/proxy/udp-frontend.js';
import { waitFor } from '../helpers/wait.js';
import { assertBackToBaseline, baseline } from './proxy-hostile-helpers.js';
import { backend, endpoint, frontend, model, Resources } from './proxy-harness.js';

describe('proxy under hostile UDP input', function () {
  this.timeout(20_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  async function socket(address = '127.0.0.1', type: 'udp4' | 'udp6' = 'udp4'): Promise<dgram.Socket> {
    const s = dgram.createSocket(type);
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.bind(0, address, () => r()));
    res.add(() => new Promise<void>((r) => {
      try {
        s.close(() => r());
      } catch {
        r(); // closed by the test already
      }
    }));
    return s;
  }

  /**
   * A well-behaved client: one query at a time, the next when the answer came, or after 100 ms
   * without one (a lost query, as a resolver would retry). Stops after `until()` is true.
   */
  async function pingPong(s: dgram.Socket, port: number, until: () => boolean): Promise<{ sent: number; answered: number }> {
    let sent = 0;
    let answered = 0;
    for (let i = 0; i < 100_000 && !until(); i++) {
      sent++;
      const got = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          s.removeListener('message', onMessage);
          resolve(false);
        }, 100);
        const onMessage = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        s.once('message', onMessage);
        s.send(`q${i}`, port, '127.0.0.1');
      });
      if (got) answered++;
    }
    return { sent, answered };
  }

  /** Sends `perTick` datagrams from the next sockets of `from` every 10 ms, `ticks` times (a paced flood). */
  function flood(from: readonly dgram.Socket[], port: number, perTick: number, ticks: number): Promise<number> {
    return new Promise((resolve) => {
      let n = 0;
      let tick = 0;
      const payload = Buffer.from('flood');
      const timer = setInterval(() => {
        for (let i = 0; i < perTick; i++) from[n++ % from.length]!.send(payload, port, '127.0.0.1');
        if (++tick >= ticks) {
          clearInterval(timer);
          resolve(n);
        }
      }, 10);
    });
  }

  it('a flood from many sources: established and new well-behaved clients keep being answered, floods evict only idle unassured flows', async () => {
    const echo = await res.udpEcho();
    const engine = res.engine({ maxUdpFlows: 256 });
    await engine.apply(model([frontend('dns', { protocol: 'udp', timeouts: { connectMs: 1000, idleMs: 2000 } })], [backend('dns', [endpoint(echo.port)])]));
    const port = engine.frontendPort('dns')!;
    const fe = engine.frontend('dns') as UdpFrontend;
    const before = baseline();
    const established = await socket('127.0.0.1');
    let warmup = 0;
    const warm = await pingPong(established, port, () => warmup++ >= 3); // a query after an answer: its flow is assured
    assert.equal(warm.answered, 3);
    // 2,000 forged sources: 200 addresses × 10 ports, far more than the 256 flows of the table;
    // each sends about once a second (a forged flood rarely repeats a source).
    const sources: dgram.Socket[] = [];
    for (let a = 1; a <= 200; a++) for (let p = 0; p < 10; p++) sources.push(await socket(`127.0.1.${a}`));
    let done = false;
    const newcomer = await socket('127.0.0.7');
    const started = performance.now();
    const flooding = flood(sources, port, 20, 200).then((n) => ((done = true), n)); // 2,000 datagrams/s for 2 s
    const oldClient = pingPong(established, port, () => done);
    // the new client arrives once the table has been full for a while
    await waitFor('the flood to fill the table', () => fe.flows.size >= 256 && performance.now() - started > 1000);
    const fresh = await pingPong(newcomer, port, () => done);
    const [sentFlood, old] = await Promise.all([flooding, oldClient]);
    const ms = performance.now() - started;
    const s = fe.ctx.stats;
    const evicted = s.evictions.frontend + s.evictions.source + s.evictions.process;
    const pct = (x: { sent: number; answered: number }) => (100 * x.answered) / Math.max(1, x.sent);
    console.log(
      `      many-source flood: ${sentFlood} datagrams from 2,000 sources in ${ms.toFixed(0)} ms; table ${fe.maxFlows}, share ${fe.maxFlowsPerSource}: flows made ${s.connectionsTotal}, evicted ${evicted}, refused ${s.rejected.flowTableFull}; ` +
        `established client answered ${old.answered}/${old.sent} (${pct(old).toFixed(1)} %), new client ${fresh.answered}/${fresh.sent} (${pct(fresh).toFixed(1)} %)`,
    );
    assert.ok(fe.flows.size <= 256, `the table holds ${fe.flows.size} flows`);
    assert.ok(evicted > 0, 'the flood had to evict');
    assert.ok(pct(old) >= 90, `the established client was answered ${pct(old).toFixed(1)} % of the time`);
    assert.ok(fresh.answered >= 1 && pct(fresh) >= 50, `the new client was answered ${pct(fresh).toFixed(1)} % of the time`);
    for (const x of sources) x.close();
    sources.length = 0;
    established.close();
    newcomer.close();
    await waitFor('every flow to expire by itself (idle 2 s)', () => fe.flows.size === 0, { describe: () => fe.flows.size });
    await assertBackToBaseline(before, 'the many-source flood');
  });

  it('a flood from one address over many ports stays within its fair share, and a flood on one flow makes no new flow', async () => {
    const echo = await res.udpEcho();
    const engine = res.engine({ maxUdpFlows: 256, maxUdpFlowsPerSource: 16 });
    await engine.apply(model([frontend('share', { protocol: 'udp' })], [backend('share', [endpoint(echo.port)])]));
    const port = engine.frontendPort('share')!;
    const fe = engine.frontend('share') as UdpFrontend;
    const hog: dgram.Socket[] = [];
    for (let p = 0; p < 200; p++) hog.push(await socket('127.0.0.3'));
    const single = await socket('127.0.0.4');
    const client = await socket('127.0.0.5');
    let done = false;
    const [, , served] = await Promise.all([
      flood(hog, port, 50, 100).then(() => (done = true)),
      flood([single], port, 50, 100),
      pingPong(client, port, () => done),
    ]);
    const s = fe.ctx.stats;
    console.log(`      one-source floods: 5,000 datagrams over 200 ports of one address + 5,000 on one flow; flows of that address ≤ ${fe.maxFlowsPerSource} (refused ${s.rejected.sourceFlowLimit}, evicted ${s.evictions.source}); client answered ${served.answered}/${served.sent}`);
    assert.ok(fe.flows.sourceCount('127.0.0.3') <= 16, `the hog holds ${fe.flows.sourceCount('127.0.0.3')} flows`);
    assert.equal(fe.flows.sourceCount('127.0.0.4'), 1, 'a flood on one flow is one flow');
    assert.ok(s.rejected.sourceFlowLimit + s.evictions.source > 0);
    assert.ok(served.answered >= 0.9 * served.sent, `the other client was answered ${served.answered}/${served.sent}`);
  });

  it('the flow sockets are one budget for the whole process: a full process evicts an idle unassured flow of another frontend', async () => {
    const echo = await res.udpEcho();
    const engine = res.engine();
    await engine.apply(model([frontend('ua', { protocol: 'udp' }), frontend('ub', { protocol: 'udp' })], [backend('ua', [endpoint(echo.port)]), backend('ub', [endpoint(echo.port)])]));
    const [pa, pb] = [engine.frontendPort('ua')!, engine.frontendPort('ub')!];
    configureProcessLimits({ udpFlowSockets: processBudget.udpFlowSockets + 2 });
    res.add(() => configureProcessLimits({}));
    const [c1, c2, c3] = [await socket('127.0.0.1'), await socket('127.0.0.1'), await socket('127.0.0.1')];
    const replies = (s: dgram.Socket) => {
      const r = { n: 0 };
      s.on('message', () => r.n++);
      return r;
    };
    const [r1, r2, r3] = [replies(c1), replies(c2), replies(c3)];
    c1.send('a', pa, '127.0.0.1');
    c2.send('b', pa, '127.0.0.1');
    await waitFor('both flows of ua to be answered', () => r1.n === 1 && r2.n === 1);
    c3.send('c', pb, '127.0.0.1');
    const ub = engine.frontend('ub') as UdpFrontend;
    await waitFor('ub to refuse while ua\'s flows are young', () => ub.ctx.stats.rejected.processFlowLimit === 1);
    await waitFor('ua\'s flows to be idle long enough to be evicted', () => {
      c3.send('c', pb, '127.0.0.1');
      return r3.n > 0;
    }, { intervalMs: 100 });
    assert.equal(ub.ctx.stats.evictions.process, 1);
    assert.equal((engine.frontend('ua') as UdpFrontend).flows.size, 1, 'one of ua\'s idle flows made room');
  });

  it('datagrams at the IPv4 maximum and over the loopback MTU (IPv6, fragmented) are carried whole; an oversized send fails at the sender only', async () => {
    const echo4 = await res.udpEcho();
    const echo6 = dgram.createSocket('udp6');
    echo6.on('message', (m, r) => echo6.send(m, r.port, r.address));
    await new Promise<void>((r) => echo6.bind(0, '::1', () => r()));
    res.add(() => new Promise<void>((r) => echo6.close(() => r())));
    const engine = res.engine();
    await engine.apply(model(
      [frontend('big4', { protocol: 'udp' }), frontend('big6', { protocol: 'udp', listen: { address: '::1', port: 0 } })],
      [backend('big4', [endpoint(echo4.port)]), backend('big6', [endpoint(echo6.address().port, { address: '::1' })])],
    ));
    const roundTrip = async (s: dgram.Socket, size: number, port: number, host: string): Promise<number> => {
      const got = new Promise<number>((resolve) => s.once('message', (m) => resolve(m.length)));
      s.send(Buffer.alloc(size, 0x62), port, host);
      return got;
    };
    const c4 = await socket('127.0.0.1');
    const c6 = await socket('::1', 'udp6');
    assert.equal(await roundTrip(c4, 65_000, engine.frontendPort('big4')!, '127.0.0.1'), 65_000);
    assert.equal(await roundTrip(c4, 65_507, engine.frontendPort('big4')!, '127.0.0.1'), 65_507, 'the largest IPv4 UDP payload');
    // lo's MTU is 65536: 65,500 bytes + 48 of headers is over it, so IPv6 fragments and reassembles it.
    assert.equal(await roundTrip(c6, 65_500, engine.frontendPort('big6')!, '::1'), 65_500);
    const oversize = await new Promise<string | undefined>((resolve) => c4.send(Buffer.alloc(65_508), engine.frontendPort('big4')!, '127.0.0.1', (err) => resolve((err as NodeJS.ErrnoException | null)?.code)));
    assert.equal(oversize, 'EMSGSIZE', 'the kernel refuses it at the sender; nothing reaches the proxy');
    assert.equal(await roundTrip(c4, 10, engine.frontendPort('big4')!, '127.0.0.1'), 10, 'the frontend serves on');
    console.log('      large datagrams: 65,000 and 65,507 B over IPv4, 65,500 B over IPv6 (fragmented on lo) answered whole; 65,508 B: EMSGSIZE at the sender');
  });
});
