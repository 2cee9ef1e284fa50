import assert from 'node:assert/strict';
import { loadProxyFile, parseListen, parseProxyFile, ProxyConfigError } from '../../speaker/proxy/file.js';

const OK = `
frontends:
  - name: echo
    listen: 127.0.0.1:8080
    protocol: tcp
    backend: echo
backends:
  - name: echo
    endpoints:
      - { address: 127.0.0.1, port: 9000 }
`;

describe('parseProxyFile: the standalone YAML file', () => {
  it('a minimal file gets every default filled in', () => {
    const r = parseProxyFile(OK);
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.deepEqual(r.model.frontends[0], {
      name: 'echo',
      listen: { address: '127.0.0.1', port: 8080 },
      protocol: 'tcp',
      routes: [{ match: { kind: 'any' }, backend: 'echo' }],
      sourceRanges: [],
      acceptProxyProtocolFrom: [],
      timeouts: { connectMs: 5000, idleMs: 300_000 },
    });
    assert.deepEqual(r.model.backends[0], {
      name: 'echo',
      balance: 'roundrobin',
      proxyProtocol: 'none',
      affinity: { clientIP: false, timeoutSeconds: 10800 },
      passiveEjection: { consecutiveFailures: 3, baseEjectMs: 5000, maxEjectMs: 60_000 },
      connectAttempts: 3,
      endpoints: [{ address: '127.0.0.1', port: 9000, ready: true, serving: true, terminating: false, weight: 1 }],
    });
    assert.equal(r.model.workers, 1);
  });

  type Row = { name: string; yaml: string; problems: string[] };
  const rows: Row[] = [
    { name: 'not YAML at all', yaml: 'frontends: [', problems: ['not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 13:'] },
    { name: 'a list at the top', yaml: '- 1', problems: ['the file: a list is not a mapping with frontends and backends'] },
    { name: 'an unknown top-level key is named', yaml: `${OK}\nworker: 2\n`, problems: ['worker: unknown key (expected one of workers, frontends, backends)'] },
    { name: 'a UDP frontend cannot accept PROXY headers', yaml: OK.replace('protocol: tcp', 'protocol: udp\n    acceptProxyProtocolFrom: [10.0.0.0/8]'), problems: ['frontends[0].acceptProxyProtocolFrom: "udp" frontends do not accept PROXY headers'] },
    { name: 'a UDP frontend cannot use a backend that sends PROXY headers', yaml: OK.replace('protocol: tcp', 'protocol: udp').replace('    endpoints:', '    proxyProtocol: v2\n    endpoints:'), problems: ['backends[0].proxyProtocol: "v2" is not supported behind udp frontend "echo"'] },
    { name: 'two frontends on one address and port clash', yaml: OK.replace('backends:', '  - { name: two, listen: 127.0.0.1:8080, backend: echo }\nbackends:'), problems: ['frontends[1].listen: "127.0.0.1:8080" is also the tcp listen address of frontend "echo"'] },
    { name: 'duplicate names are reported', yaml: OK.replace('backends:', '  - { name: echo, listen: 127.0.0.1:8081, backend: echo }\nbackends:'), problems: ['frontends[1].name: "echo" is used by an earlier frontend'] },
    { name: 'an IPv4 address in brackets is not a listen address', yaml: OK.replace('127.0.0.1:8080', '"[127.0.0.1]:8080"'), problems: ['frontends[0].listen: "[127.0.0.1]:8080" is not ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)'] },
    { name: 'weights and timeouts have bounds', yaml: OK.replace('port: 9000 }', 'port: 9000, weight: 1000 }').replace('backend: echo', 'backend: echo\n    timeouts: { connectMs: 0 }'), problems: ['frontends[0].timeouts.connectMs: 0 is not a whole number between 1 and 3600000', 'backends[0].endpoints[0].weight: 1000 is not a whole number between 0 and 256'] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const r = parseProxyFile(row.yaml);
      assert.deepEqual(r.kind === 'invalid' ? r.problems : [], row.problems, `parseProxyFile(${row.name})`);
    });
  }

  it('loadProxyFile throws one FulcrumError listing every problem', () => {
    assert.equal(loadProxyFile(OK).frontends.length, 1);
    assert.throws(() => loadProxyFile('workers: 0\nfrontends: 1\n'), (err: unknown) => {
      assert.ok(err instanceof ProxyConfigError);
      assert.equal(err.code, 'FUL_ERR_PROXY_CONFIG');
      assert.deepEqual(err.problems, ['workers: 0 is not a whole number between 1 and 64', 'frontends: 1 is not a list']);
      return true;
    });
  });

  it('parseListen reads IPv4, bracketed IPv6 and port 0', () => {
    assert.deepEqual(parseListen('0.0.0.0:53'), { address: '0.0.0.0', port: 53 });
    assert.deepEqual(parseListen('[2001:db8::1]:443'), { address: '2001:db8::1', port: 443 });
    assert.deepEqual(parseListen('127.0.0.1:0'), { address: '127.0.0.1', port: 0 });
    assert.equal(parseListen('2001:db8::1:443'), undefined, 'IPv6 needs brackets');
    assert.equal(parseListen('localhost:80'), undefined, 'names are not resolved');
  });
});
