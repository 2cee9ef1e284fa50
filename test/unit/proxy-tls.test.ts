import assert from 'node:assert/strict';
import { alpnFor, handshakeResultOf, MOZILLA_INTERMEDIATE_CIPHERS, SERVER_CIPHERS, TLS13_CIPHERSUITES, type HandshakeResult } from '../../speaker/proxy/tls.js';

describe('handshakeResultOf: why a handshake failed, from the OpenSSL reason', () => {
  const err = (code: string | undefined): Error => Object.assign(new Error('x'), code === undefined ? {} : { code });
  const rows: { name: string; error: unknown; want: HandshakeResult }[] = [
    { name: 'a TLS 1.1 ClientHello is protocolVersion', error: err('ERR_SSL_UNSUPPORTED_PROTOCOL'), want: 'protocolVersion' },
    { name: 'an SSLv2 ClientHello is protocolVersion', error: err('ERR_SSL_UNKNOWN_PROTOCOL'), want: 'protocolVersion' },
    { name: 'no cipher in common is noCipher', error: err('ERR_SSL_NO_SHARED_CIPHER'), want: 'noCipher' },
    { name: 'no key-exchange group in common is noCipher', error: err('ERR_SSL_NO_SUITABLE_KEY_SHARE'), want: 'noCipher' },
    { name: 'an ALPN list with nothing we speak is noApplicationProtocol', error: err('ERR_SSL_NO_APPLICATION_PROTOCOL'), want: 'noApplicationProtocol' },
    { name: "the client's unknown_ca alert is unknownCa", error: err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), want: 'unknownCa' },
    { name: "the client's certificate_unknown alert is badCertificate", error: err('ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN'), want: 'badCertificate' },
    { name: "the client's certificate_expired alert is badCertificate", error: err('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED'), want: 'badCertificate' },
    { name: 'the same alerts as OpenSSL 3.2+ names them', error: err('ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_UNKNOWN'), want: 'badCertificate' },
    { name: 'a handshake_failure alert as OpenSSL 3.2+ names it is noCipher', error: err('ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE'), want: 'noCipher' },
    { name: 'plain HTTP on a TLS port is notTls', error: err('ERR_SSL_HTTP_REQUEST'), want: 'notTls' },
    { name: "an HTTP proxy's CONNECT is notTls", error: err('ERR_SSL_HTTPS_PROXY_REQUEST'), want: 'notTls' },
    { name: 'bytes that are no TLS record are notTls', error: err('ERR_SSL_WRONG_VERSION_NUMBER'), want: 'notTls' },
    { name: 'a reset is closed', error: err('ECONNRESET'), want: 'closed' },
    { name: 'an unknown code is other', error: err('ERR_SSL_UNEXPECTED_MESSAGE'), want: 'other' },
    { name: 'an error without a code is other', error: err(undefined), want: 'other' },
    { name: 'something that is not an error is other', error: null, want: 'other' },
  ];
  for (const row of rows) {
    it(row.name, () => assert.equal(handshakeResultOf(row.error), row.want, `handshakeResultOf(${JSON.stringify((row.error as { code?: string } | null)?.code)})`));
  }
});

describe('the TLS profile: Mozilla intermediate', () => {
  it('offers only ECDHE key exchange and AEAD ciphers for TLS 1.2, in Mozilla order', () => {
    const list = MOZILLA_INTERMEDIATE_CIPHERS.split(':');
    assert.deepEqual(list, ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305']);
    for (const c of list) assert.match(c, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  });
  it('lists the three TLS 1.3 suites first in the same cipher string', () => {
    assert.ok(SERVER_CIPHERS.startsWith(`${TLS13_CIPHERSUITES}:`));
    assert.equal(TLS13_CIPHERSUITES.split(':').length, 3);
  });
  it('offers ALPN http/1.1 on http frontends and nothing on tcp ones', () => {
    assert.deepEqual(alpnFor('http'), ['http/1.1']);
    assert.deepEqual(alpnFor('tcp'), []);
  });
});
