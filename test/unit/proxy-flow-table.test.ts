import assert from 'node:assert/strict';
import { FlowTable, type UdpFlow } from '../../speaker/proxy/udp-frontend.js';

/** Only the client's address and port matter to the table. */
const flow = (clientAddress: string, clientPort: number): UdpFlow => ({ clientAddress, clientPort }) as UdpFlow;

describe('FlowTable: UDP flows by client address and port', () => {
  it('finds each flow by its client address and port, and counts them', () => {
    const t = new FlowTable();
    const a = flow('192.0.2.2', 5000);
    const b = flow('192.0.2.2', 5001);
    const c = flow('2001:db8::2', 5000);
    for (const f of [a, b, c]) t.add(f);
    assert.equal(t.size, 3);
    assert.equal(t.get('192.0.2.2', 5001), b);
    assert.equal(t.get('2001:db8::2', 5000), c);
    assert.equal(t.get('192.0.2.3', 5000), undefined);
    assert.deepEqual(new Set(t.values()), new Set([a, b, c]));
  });

  it('deletes a flow only if it is the one held for its client (a replaced flow is not removed twice)', () => {
    const t = new FlowTable();
    const old = flow('192.0.2.2', 5000);
    const current = flow('192.0.2.2', 5000);
    t.add(old);
    t.add(current);
    assert.equal(t.size, 1, 'the same client replaces its flow');
    assert.equal(t.delete(old), false);
    assert.equal(t.delete(current), true);
    assert.equal(t.size, 0);
    assert.deepEqual([...t.values()], []);
  });

  it('deleting while iterating visits the rest and leaves an empty table', () => {
    const t = new FlowTable();
    for (let p = 1; p <= 5; p++) t.add(flow(`192.0.2.${p % 2}`, p));
    let seen = 0;
    for (const f of t.values()) {
      seen++;
      t.delete(f);
    }
    assert.equal(seen, 5);
    assert.equal(t.size, 0);
  });
});
