import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';

const kubeconfig = (server: string, ctx = 'c') => `apiVersion: v1
kind: Config
clusters: [{ name: k, cluster: { server: "${server}" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: ${ctx}, context: { cluster: k, user: u } }]
current-context: ${ctx}
`;

describe('loadKubeConfig', () => {
  let dir: string;
  let flagFile: string;
  let envFile: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-kc-'));
    flagFile = join(dir, 'flag');
    envFile = join(dir, 'env');
    writeFileSync(flagFile, kubeconfig('http://127.0.0.1:1111'));
    writeFileSync(envFile, kubeconfig('https://192.0.2.1:6443'));
    writeFileSync(join(dir, 'broken'), 'clusters: [ not yaml');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rows: { name: string; path?: string; env: NodeJS.ProcessEnv; source?: string; server?: string; error?: RegExp }[] = [
    { name: '--kubeconfig wins over KUBECONFIG', path: 'flag', env: { KUBECONFIG: 'env' }, source: 'flag', server: 'http://127.0.0.1:1111' },
    { name: 'KUBECONFIG is used without the flag (first path of a list)', env: { KUBECONFIG: 'env:flag' }, source: 'env', server: 'https://192.0.2.1:6443' },
    { name: 'nothing configured outside a pod is an error naming the three ways', env: {}, error: /--kubeconfig PATH, set KUBECONFIG, or run in a pod/ },
    { name: 'a missing file is an error naming the file', path: 'missing', env: {}, error: /kubeconfig ".*missing"/ },
    { name: 'a broken file is an error naming the file', path: 'broken', env: {}, error: /kubeconfig ".*broken"/ },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const abs = (p: string) => p.split(':').map((x) => join(dir, x)).join(':');
      const env = row.env.KUBECONFIG ? { KUBECONFIG: abs(row.env.KUBECONFIG) } : {};
      const run = () => loadKubeConfig(row.path ? abs(row.path) : undefined, env);
      if (row.error) {
        assert.throws(run, (err: { code?: string; message: string }) => err.code === 'FUL_ERR_KUBECONFIG' && (row.error as RegExp).test(err.message));
        return;
      }
      const { kubeConfig, source } = run();
      assert.equal(source.kind, row.source);
      assert.equal(kubeConfig.getCurrentCluster()?.server, row.server);
    });
  }

  it('a plain-http cluster is marked skipTLSVerify so client-node accepts it; https is untouched', () => {
    assert.equal(loadKubeConfig(flagFile, {}).kubeConfig.getCurrentCluster()?.skipTLSVerify, true);
    assert.equal(loadKubeConfig(envFile, {}).kubeConfig.getCurrentCluster()?.skipTLSVerify ?? false, false);
  });
});
