import assert from 'node:assert/strict';
import { parseProxyHeader, type ParsedProxyHeader } from '../../speaker/proxy/proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(verCmd: number, family: number, addr: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addr.length);
  return Buffer.concat([SIG, Buffer.from([verCmd, family]), len, addr]);
}

const v4Block = Buffer.from([198, 51, 100, 7, 192, 0, 2, 64, 0x30, 0x39, 0x00, 0x50]); // 198.51.100.7:12345 → 192.0.2.64:80
const v6Block = Buffer.concat([
  Buffer.from('20010db8000000000000000000000002', 'hex'),
  Buffer.from('20010db8000000000000000000000100', 'hex'),
  Buffer.from([0xd4, 0x31, 0x01, 0xbb]), // 54321 → 443
]);

describe('PROXY header parser (the proxy\'s trusted frontends and the lab\'s pods)', () => {
  const rows: { name: string; input: Buffer; want: ParsedProxyHeader | { kind: 'invalid' } }[] = [
    { name: 'no bytes yet is incomplete', input: Buffer.alloc(0), want: { kind: 'incomplete' } },
    { name: 'an HTTP request is not a PROXY header', input: Buffer.from('GET / HTTP/1.1\r\n'), want: { kind: 'none' } },
    { name: 'a partial v1 prefix is incomplete', input: Buffer.from('PRO'), want: { kind: 'incomplete' } },
    {
      name: 'v1 TCP4 gives source and destination and the header length',
      input: Buffer.from('PROXY TCP4 198.51.100.7 192.0.2.64 12345 80\r\nGET /'),
      want: { kind: 'proxy', version: 1, length: 45, source: { address: '198.51.100.7', port: 12345 }, destination: { address: '192.0.2.64', port: 80 } },
    },
    {
      name: 'v1 TCP6',
      input: Buffer.from('PROXY TCP6 2001:db8::2 2001:db8::100 54321 443\r\n'),
      want: { kind: 'proxy', version: 1, length: 48, source: { address: '2001:db8::2', port: 54321 }, destination: { address: '2001:db8::100', port: 443 } },
    },
    { name: 'v1 UNKNOWN has no addresses', input: Buffer.from('PROXY UNKNOWN\r\n'), want: { kind: 'local', version: 1, length: 15 } },
    { name: 'v1 without CRLF yet is incomplete', input: Buffer.from('PROXY TCP4 198.51.100.7'), want: { kind: 'incomplete' } },
    { name: 'v1 with a bad port is invalid', input: Buffer.from('PROXY TCP4 198.51.100.7 192.0.2.64 99999 80\r\n'), want: { kind: 'invalid' } },
    {
      name: 'v2 PROXY TCP over IPv4',
      input: Buffer.concat([v2(0x21, 0x11, v4Block), Buffer.from('GET')]),
      want: { kind: 'proxy', version: 2, length: 28, source: { address: '198.51.100.7', port: 12345 }, destination: { address: '192.0.2.64', port: 80 } },
    },
    {
      name: 'v2 PROXY TCP over IPv6, addresses in RFC 5952 form',
      input: v2(0x21, 0x21, v6Block),
      want: { kind: 'proxy', version: 2, length: 52, source: { address: '2001:db8::2', port: 54321 }, destination: { address: '2001:db8::100', port: 443 } },
    },
    { name: 'v2 LOCAL has no addresses', input: v2(0x20, 0x00, Buffer.alloc(0)), want: { kind: 'local', version: 2, length: 16 } },
    { name: 'v2 with its address block still coming is incomplete', input: v2(0x21, 0x11, v4Block).subarray(0, 20), want: { kind: 'incomplete' } },
    { name: 'v2 with version 3 is invalid', input: v2(0x31, 0x11, v4Block), want: { kind: 'invalid' } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = Buffer.from(row.input);
      const got = parseProxyHeader(row.input);
      const shown = `parseProxyHeader(${JSON.stringify(row.input.toString('latin1'))})`;
      if (row.want.kind === 'invalid') {
        assert.equal(got.kind, 'invalid', shown);
        assert.ok(got.kind === 'invalid' && got.reason.length > 0, `${shown}: a reason`);
      } else {
        assert.deepEqual(got, row.want, shown);
      }
      assert.ok(row.input.equals(before), 'the input was not mutated');
    });
  }
});
