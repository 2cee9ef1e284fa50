import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { UdpFrontend } from '../../speaker/proxy/udp-frontend.js';
import { waitFor } from '../helpers/wait.js';
import { backend, endpoint, frontend, model, Resources } from './proxy-harness.js';

describe('proxy UDP frontend (flows on loopback)', () => {
  const res = new Resources();
  afterEach(() => res.closeAll());

  async function client(localAddress = '127.0.0.1'): Promise<{ socket: dgram.Socket; replies: { msg: string; from: string }[] }> {
    const socket = dgram.createSocket('udp4');
    const replies: { msg: string; from: string }[] = [];
    socket.on('message', (m, r) => replies.push({ msg: m.toString(), from: `${r.address}:${r.port}` }));
    await new Promise<void>((r) => socket.bind(0, localAddress, () => r()));
    res.add(() => new Promise<void>((r) => socket.close(() => r())));
    return { socket, replies };
  }

  it('replies come back from the frontend address, and one client keeps one flow and endpoint', async () => {
    const [a, b] = [await res.udpEcho('a:'), await res.udpEcho('b:')];
    const engine = res.engine();
    await engine.apply(model([frontend('dns', { protocol: 'udp' })], [backend('dns', [endpoint(a.port), endpoint(b.port)])]));
    const port = engine.frontendPort('dns')!;
    const c = await client();
    for (let i = 0; i < 3; i++) c.socket.send(`q${i}`, port, '127.0.0.1');
    await waitFor('three replies', () => c.replies.length === 3);
    assert.deepEqual(new Set(c.replies.map((r) => r.from)), new Set([`127.0.0.1:${port}`]), 'replies come from the VIP');
    const prefixes = new Set(c.replies.map((r) => r.msg.slice(0, 2)));
    assert.equal(prefixes.size, 1, 'one flow, one endpoint');
    const c2 = await client();
    c2.socket.send('other', port, '127.0.0.1');
    await waitFor('a reply to the second client', () => c2.replies.length === 1);
    assert.notEqual(c2.replies[0]!.msg.slice(0, 2), [...prefixes][0], 'a new flow gets the next endpoint');
    const fe = engine.frontend('dns') as UdpFrontend;
    assert.equal(fe.flows.size, 2);
    assert.deepEqual([fe.ctx.stats.connectionsTotal, fe.ctx.stats.bytesIn], [2, 3 * 2 + 5]);
  });

  it('an idle flow expires and its upstream socket closes', async () => {
    const echo = await res.udpEcho();
    const engine = res.engine();
    await engine.apply(model([frontend('u', { protocol: 'udp', timeouts: { connectMs: 1000, idleMs: 300 } })], [backend('u', [endpoint(echo.port)])]));
    const c = await client();
    c.socket.send('hi', engine.frontendPort('u')!, '127.0.0.1');
    await waitFor('a reply', () => c.replies.length === 1);
    const fe = engine.frontend('u') as UdpFrontend;
    assert.equal(fe.flows.size, 1);
    await waitFor('the flow to expire', () => fe.flows.size === 0, { timeoutMs: 3000 });
    assert.equal(fe.ctx.stats.connectionsCurrent, 0);
    assert.equal(engine.pool('u')!.endpoints[0]!.activeConnections, 0);
  });

  it('the flow table is bounded: a client beyond the bound is dropped and counted', async () => {
    const echo = await res.udpEcho();
    const engine = res.engine({ maxUdpFlows: 1 });
    await engine.apply(model([frontend('b', { protocol: 'udp' })], [backend('b', [endpoint(echo.port)])]));
    const port = engine.frontendPort('b')!;
    const [first, second] = [await client(), await client()];
    first.socket.send('1', port, '127.0.0.1');
    await waitFor('the first client to get a reply', () => first.replies.length === 1);
    second.socket.send('2', port, '127.0.0.1');
    await waitFor('the second datagram to be counted as dropped', () => engine.frontend('b')!.ctx.stats.rejected.flowTableFull === 1);
    first.socket.send('3', port, '127.0.0.1');
    await waitFor('the first client to be served still', () => first.replies.length === 2);
    assert.equal(second.replies.length, 0);
  });

  it('source ranges are checked on every datagram', async () => {
    const echo = await res.udpEcho();
    const engine = res.engine();
    await engine.apply(model([frontend('acl', { protocol: 'udp', sourceRanges: ['127.0.0.2/32'] })], [backend('acl', [endpoint(echo.port)])]));
    const port = engine.frontendPort('acl')!;
    const [outside, inside] = [await client('127.0.0.1'), await client('127.0.0.2')];
    outside.socket.send('no', port, '127.0.0.1');
    outside.socket.send('no', port, '127.0.0.1');
    inside.socket.send('yes', port, '127.0.0.1');
    await waitFor('the allowed client to get its reply', () => inside.replies.length === 1);
    await waitFor('both datagrams from outside to be counted', () => engine.frontend('acl')!.ctx.stats.rejected.sourceRange === 2);
    assert.equal(outside.replies.length, 0);
  });

  it('with no endpoint, datagrams are dropped and counted, and no flow is made', async () => {
    const engine = res.engine();
    await engine.apply(model([frontend('none', { protocol: 'udp' })], [backend('none', [])]));
    const c = await client();
    c.socket.send('x', engine.frontendPort('none')!, '127.0.0.1');
    await waitFor('the drop to be counted', () => engine.frontend('none')!.ctx.stats.rejected.noEndpoint === 1);
    assert.equal((engine.frontend('none') as UdpFrontend).flows.size, 0);
  });

  it('a new UDP frontend on the address of a draining one takes the socket over at once', async () => {
    const [a, b] = [await res.udpEcho('a:'), await res.udpEcho('b:')];
    const engine = res.engine({ drainTimeoutMs: 60_000 });
    const port = await res.deadPort();
    const listen = { address: '127.0.0.1', port };
    await engine.apply(model([frontend('old', { protocol: 'udp', listen })], [backend('old', [endpoint(a.port)])]));
    const c = await client();
    c.socket.send('1', port, '127.0.0.1');
    await waitFor('a reply from the old frontend', () => c.replies.length === 1);
    const r = await engine.apply(model([frontend('new', { protocol: 'udp', listen })], [backend('new', [endpoint(b.port)])]));
    assert.deepEqual(r.kind === 'applied' && r.failed, [], 'the bind did not fail');
    c.socket.send('2', port, '127.0.0.1');
    await waitFor('a reply from the new frontend', () => c.replies.length === 2);
    assert.deepEqual(c.replies.map((x) => x.msg), ['a:1', 'b:2']);
    await waitFor('the old frontend to be gone', () => engine.drainingCount === 0);
  });
});
