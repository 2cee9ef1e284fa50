import assert from 'node:assert/strict';
import net from 'node:net';
import { encodeProxyV1, encodeProxyV2 } from '../../speaker/proxy/proxy-protocol.js';
import { waitFor } from '../helpers/wait.js';
import { backend, collect, endpoint, frontend, model, Resources } from './proxy-harness.js';

const SIG = '0d0a0d0a000d0a515549540a';

describe('proxy PROXY protocol on real connections', () => {
  const res = new Resources();
  afterEach(() => res.closeAll());

  /** A backend that records the first bytes of every connection (header + payload). */
  async function recorder(): Promise<{ port: number; seen: Buffer[] }> {
    const seen: Buffer[] = [];
    const srv = await res.server((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => {
        seen.push(Buffer.concat(chunks));
        s.end();
      });
    });
    return { port: srv.port, seen };
  }

  it('v1: the backend reads "PROXY TCP4 client frontend cport fport\\r\\n" before the payload', async () => {
    const rec = await recorder();
    const engine = res.engine();
    await engine.apply(model([frontend('v1')], [backend('v1', [endpoint(rec.port)], { proxyProtocol: 'v1' })]));
    const fport = engine.frontendPort('v1')!;
    const c = await res.connect(fport, { localAddress: '127.0.0.9' });
    const cport = c.localPort!;
    const done = collect(c);
    c.end('payload');
    await done;
    await waitFor('the backend to record the connection', () => rec.seen.length === 1);
    assert.equal(rec.seen[0]!.toString('latin1'), `PROXY TCP4 127.0.0.9 127.0.0.1 ${cport} ${fport}\r\npayload`);
  });

  it('v2: the backend reads the binary header with the client address, byte for byte', async () => {
    const rec = await recorder();
    const engine = res.engine();
    await engine.apply(model([frontend('v2')], [backend('v2', [endpoint(rec.port)], { proxyProtocol: 'v2' })]));
    const fport = engine.frontendPort('v2')!;
    const c = await res.connect(fport, { localAddress: '127.0.0.9' });
    const cport = c.localPort!;
    const done = collect(c);
    c.end('x');
    await done;
    await waitFor('the backend to record the connection', () => rec.seen.length === 1);
    const port2 = (p: number): string => p.toString(16).padStart(4, '0');
    // 0x21 = v2 PROXY, 0x11 = TCP over IPv4, 0x000c = 12 bytes: 127.0.0.9, 127.0.0.1, ports.
    assert.equal(rec.seen[0]!.toString('hex'), `${SIG}2111000c7f0000097f000001${port2(cport)}${port2(fport)}78`);
  });

  it('v2 over IPv6 carries the IPv6 client', async () => {
    const rec = await recorder();
    const engine = res.engine();
    await engine.apply(model([frontend('v6', { listen: { address: '::1', port: 0 } })], [backend('v6', [endpoint(rec.port)], { proxyProtocol: 'v2' })]));
    const c = await res.connect(engine.frontendPort('v6')!, { host: '::1' });
    const done = collect(c);
    c.end();
    await done;
    await waitFor('the backend to record the connection', () => rec.seen.length === 1);
    assert.equal(rec.seen[0]!.subarray(12, 16).toString('hex'), '21210024');
    assert.equal(rec.seen[0]!.subarray(16, 32).toString('hex'), '00000000000000000000000000000001');
  });

  for (const [version, encode] of [['v1', encodeProxyV1], ['v2', encodeProxyV2]] as const) {
    it(`accepts a ${version} header from a trusted peer and passes the real client on`, async () => {
      const rec = await recorder();
      const engine = res.engine();
      await engine.apply(model([frontend('in', { acceptProxyProtocolFrom: ['127.0.0.0/8'] })], [backend('in', [endpoint(rec.port)], { proxyProtocol: 'v1' })]));
      const c = await res.connect(engine.frontendPort('in')!);
      const done = collect(c);
      // An upstream load balancer tells us the client is 198.51.100.7:4242, who called 192.0.2.10:443.
      c.write(encode({ address: '198.51.100.7', port: 4242 }, { address: '192.0.2.10', port: 443 }));
      c.end('hello');
      await done;
      await waitFor('the backend to record the connection', () => rec.seen.length === 1);
      assert.equal(rec.seen[0]!.toString('latin1'), 'PROXY TCP4 198.51.100.7 192.0.2.10 4242 443\r\nhello');
    });
  }

  it('a trusted peer without a header is refused; the source ranges apply to the client it names', async () => {
    const rec = await recorder();
    const engine = res.engine();
    await engine.apply(model([frontend('t', { acceptProxyProtocolFrom: ['127.0.0.0/8'], sourceRanges: ['198.51.100.0/24'] })], [backend('t', [endpoint(rec.port)])]));
    const port = engine.frontendPort('t')!;
    const plain = await res.connect(port);
    const r1 = collect(plain);
    plain.write('GET / HTTP/1.1\r\n\r\n');
    assert.equal((await r1).error, 'ECONNRESET');
    const outside = await res.connect(port);
    const r2 = collect(outside);
    outside.write(encodeProxyV1({ address: '203.0.113.5', port: 1 }, { address: '192.0.2.10', port: 443 }));
    assert.equal((await r2).error, 'ECONNRESET');
    const stats = engine.frontend('t')!.ctx.stats;
    assert.deepEqual([stats.rejected.proxyHeaderInvalid, stats.rejected.sourceRange, rec.seen.length], [1, 1, 0]);
  });

  it('an untrusted peer cannot spoof a client with a header: its bytes go through as data', async () => {
    const rec = await recorder();
    const engine = res.engine();
    await engine.apply(model([frontend('u', { acceptProxyProtocolFrom: ['192.0.2.0/24'] })], [backend('u', [endpoint(rec.port)], { proxyProtocol: 'v1' })]));
    const c = net.connect({ port: engine.frontendPort('u')!, host: '127.0.0.1', localAddress: '127.0.0.3' });
    const done = collect(c);
    c.end(encodeProxyV1({ address: '198.51.100.7', port: 4242 }, { address: '192.0.2.10', port: 443 }));
    await done;
    await waitFor('the backend to record the connection', () => rec.seen.length === 1);
    const text = rec.seen[0]!.toString('latin1');
    assert.ok(text.startsWith('PROXY TCP4 127.0.0.3 127.0.0.1 '), `the proxy's own header names the real peer: ${JSON.stringify(text)}`);
    assert.ok(text.endsWith('PROXY TCP4 198.51.100.7 192.0.2.10 4242 443\r\n'), 'the spoofed header is just payload');
  });
});
