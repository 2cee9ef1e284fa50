import assert from 'node:assert/strict';
import { encodeProxyV1, encodeProxyV2, parseProxyHeader, type ParsedProxyHeader } from '../../speaker/proxy/proxy-protocol.js';

// Bytes from haproxy's doc/proxy-protocol.txt: §2.2 signature, then ver_cmd, fam, len, addresses.
const SIG = '0d0a0d0a000d0a515549540a';

describe('PROXY protocol encoder: exact bytes of the specification', () => {
  type Row = { name: string; got: () => Buffer; hex?: string; text?: string };
  const rows: Row[] = [
    { name: 'v1 TCP4 is one text line with CRLF (§2.1 example)', got: () => encodeProxyV1({ address: '192.0.2.1', port: 56324 }, { address: '192.0.2.100', port: 443 }), text: 'PROXY TCP4 192.0.2.1 192.0.2.100 56324 443\r\n' },
    { name: 'v1 TCP6 keeps the compressed addresses', got: () => encodeProxyV1({ address: '2001:db8::1', port: 1 }, { address: '2001:db8::100', port: 80 }), text: 'PROXY TCP6 2001:db8::1 2001:db8::100 1 80\r\n' },
    { name: 'v1 with an IPv4-mapped client on an IPv4 listener unmaps it', got: () => encodeProxyV1({ address: '::ffff:192.0.2.7', port: 5 }, { address: '192.0.2.100', port: 80 }), text: 'PROXY TCP4 192.0.2.7 192.0.2.100 5 80\r\n' },
    { name: 'v1 with an IPv4 client on an IPv6 listener maps the client', got: () => encodeProxyV1({ address: '192.0.2.7', port: 5 }, { address: '2001:db8::100', port: 80 }), text: 'PROXY TCP6 ::ffff:192.0.2.7 2001:db8::100 5 80\r\n' },
    {
      name: 'v2 TCP4: 0x21 PROXY, 0x11 AF_INET+STREAM, length 12, src, dst, sport, dport',
      got: () => encodeProxyV2({ address: '198.51.100.7', port: 12345 }, { address: '192.0.2.64', port: 80 }),
      hex: `${SIG}2111000c` + 'c6336407' + 'c0000240' + '3039' + '0050',
    },
    {
      name: 'v2 TCP6: 0x21 family, length 36',
      got: () => encodeProxyV2({ address: '2001:db8::2', port: 54321 }, { address: '2001:db8::100', port: 443 }),
      hex: `${SIG}2121` + '0024' + '20010db8000000000000000000000002' + '20010db8000000000000000000000100' + 'd431' + '01bb',
    },
    { name: 'v2 UDP4 uses 0x12 (AF_INET+DGRAM)', got: () => encodeProxyV2({ address: '192.0.2.1', port: 53 }, { address: '192.0.2.2', port: 53 }, 'udp'), hex: `${SIG}2112000c` + 'c0000201' + 'c0000202' + '0035' + '0035' },
    {
      name: 'v2 with a mapped dotted-quad IPv6 address writes the last two groups from the quad',
      got: () => encodeProxyV2({ address: '192.0.2.7', port: 1 }, { address: '2001:db8::100', port: 2 }),
      hex: `${SIG}21210024` + '00000000000000000000ffffc0000207' + '20010db8000000000000000000000100' + '0001' + '0002',
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const got = row.got();
      if (row.text !== undefined) assert.equal(got.toString('latin1'), row.text);
      if (row.hex !== undefined) assert.equal(got.toString('hex'), row.hex);
    });
  }
});

describe('PROXY protocol parser', () => {
  type Row = { name: string; input: Buffer; want: ParsedProxyHeader };
  const v2v4 = encodeProxyV2({ address: '198.51.100.7', port: 12345 }, { address: '192.0.2.64', port: 80 });
  const v2v6 = encodeProxyV2({ address: '2001:db8::2', port: 54321 }, { address: '2001:db8::100', port: 443 });
  const rows: Row[] = [
    { name: 'no bytes yet is incomplete', input: Buffer.alloc(0), want: { kind: 'incomplete' } },
    { name: 'an HTTP request is not a PROXY header', input: Buffer.from('GET / HTTP/1.1\r\n'), want: { kind: 'none' } },
    { name: 'a PUT is not a PROXY header either, though it starts with P', input: Buffer.from('PUT / HTTP/1.1\r\n'), want: { kind: 'none' } },
    { name: 'a partial v1 prefix is incomplete', input: Buffer.from('PROX'), want: { kind: 'incomplete' } },
    {
      name: 'v1 TCP4 gives both ends and the header length, leaving the payload',
      input: Buffer.from('PROXY TCP4 198.51.100.7 192.0.2.64 12345 80\r\nGET /'),
      want: { kind: 'proxy', version: 1, length: 45, source: { address: '198.51.100.7', port: 12345 }, destination: { address: '192.0.2.64', port: 80 } },
    },
    { name: 'v1 UNKNOWN keeps the real peer', input: Buffer.from('PROXY UNKNOWN\r\n'), want: { kind: 'local', version: 1, length: 15 } },
    { name: 'v1 without CRLF within 107 bytes is invalid', input: Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), want: { kind: 'invalid', reason: 'v1 line longer than 107 bytes' } },
    { name: 'v1 with a port above 65535 is invalid', input: Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 70000 80\r\n'), want: { kind: 'invalid', reason: 'v1 ports "70000" "80" are not 0-65535' } },
    { name: 'v1 TCP4 with IPv6 addresses is invalid', input: Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'), want: { kind: 'invalid', reason: 'v1 addresses "::1" "::1" are not TCP4' } },
    { name: 'v2 TCP4 round-trips', input: Buffer.concat([v2v4, Buffer.from('x')]), want: { kind: 'proxy', version: 2, length: 28, source: { address: '198.51.100.7', port: 12345 }, destination: { address: '192.0.2.64', port: 80 } } },
    { name: 'v2 TCP6 round-trips with canonical addresses', input: v2v6, want: { kind: 'proxy', version: 2, length: 52, source: { address: '2001:db8::2', port: 54321 }, destination: { address: '2001:db8::100', port: 443 } } },
    { name: 'v2 cut inside the address block is incomplete', input: v2v6.subarray(0, 30), want: { kind: 'incomplete' } },
    { name: 'v2 LOCAL (a health check) keeps the real peer', input: Buffer.from(`${SIG}20000000`, 'hex'), want: { kind: 'local', version: 2, length: 16 } },
    { name: 'v2 with version 1 in the high nibble is invalid', input: Buffer.from(`${SIG}11110000`, 'hex'), want: { kind: 'invalid', reason: 'v2 version 1 is not 2' } },
    { name: 'v2 AF_UNSPEC is accepted as local', input: Buffer.from(`${SIG}21000000`, 'hex'), want: { kind: 'local', version: 2, length: 16 } },
  ];
  for (const row of rows) {
    it(row.name, () => assert.deepEqual(parseProxyHeader(row.input), row.want));
  }
});
