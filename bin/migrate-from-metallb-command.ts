import { readFile } from 'node:fs/promises';
import { CustomObjectsApi, type V1Namespace, type V1Node, type V1Service } from '@kubernetes/client-node';
import { EXIT_FAILURE, EXIT_OK, parseCommandArgs, type Command } from '../src/command.js';
import { FulcrumError, UsageError } from '../src/errors.js';
import { classifyApiError, describeApiFailure } from '../src/k8s/api-error.js';
import { createApiClients, timeoutOptions } from '../src/k8s/client.js';
import { loadKubeConfig } from '../src/k8s/kubeconfig.js';
import { formatMigrationReport } from '../src/migrate/format.js';
import { migrationInput, migrationInputFromText, type MigrationInput } from '../src/migrate/input.js';
import { planMigration } from '../src/migrate/report.js';

const USAGE = `Usage: fulcrum migrate-from-metallb --file FILE|- [options]
       fulcrum migrate-from-metallb [--kubeconfig PATH] [-n NAMESPACE] [options]

Reads a MetalLB install and prints what Fulcrum will do with each pool and each LoadBalancer
Service, without writing anything: per pool its addresses, autoAssign, avoidBuggyIPs,
serviceAllocation, which L2Advertisements (nodes, interfaces) announce it, and its warnings;
per Service its current address (status.loadBalancer.ingress), the pool Fulcrum puts it in,
and whether it keeps its address, or why not. The answer is the allocator core's own: every
address is adopted as the allocator adopts it when it starts.

Input, either:
  --file FILE|-   a file (or stdin): "kubectl get ipaddresspools,l2advertisements,services -A
                  -o yaml", the manifests you apply, or MetalLB's legacy ConfigMap with the
                  Services; Namespaces and Nodes in it are used for label selectors;
  a cluster       (no --file) IPAddressPools and L2Advertisements of --namespace, else its
                  legacy ConfigMap "config"; every Service; Namespaces and Nodes when readable.

Options:
  --file FILE|-       read this file instead of a cluster
  --kubeconfig PATH   API access (default: $KUBECONFIG, else in-cluster)
  -n, --namespace NS  MetalLB's namespace (default: metallb-system)
  --lb-class CLASS    the --lb-class Fulcrum will run with (default: none, Services without a class)
  -o, --output FMT    text (default) or json
  -h, --help          this text

Exit codes: 0 the config is valid and every Service keeps its address; 1 otherwise (or the
input cannot be read); 2 usage error.
`;

// A dump of every Service of a large cluster is a few MB; far more is the wrong file.
const MAX_INPUT_BYTES = 64 * 1024 * 1024;
const METALLB_GROUP = 'metallb.io';
const METALLB_VERSION = 'v1beta1';
const REQUEST_TIMEOUT_MS = 15_000;

async function readText(path: string): Promise<string> {
  let data: Buffer;
  const input = path === '-' ? 'stdin' : `"${path}"`;
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
      data = Buffer.concat(chunks);
    } else {
      data = await readFile(path);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new FulcrumError('FUL_ERR_CONFIG_READ', { input, reason: why }, { cause: err });
  }
  if (data.length > MAX_INPUT_BYTES) throw new FulcrumError('FUL_ERR_CONFIG_READ', { input, reason: `it is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MB` });
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch (err) {
    throw new FulcrumError('FUL_ERR_CONFIG_READ', { input, reason: 'it is not UTF-8 text (a binary file?)' }, { cause: err });
  }
}

type Listed = { ok: true; items: unknown[] } | { ok: false; code: number | undefined; message: string };

async function listed(what: () => Promise<{ items?: unknown }>): Promise<Listed> {
  try {
    const r = await what();
    return { ok: true, items: Array.isArray(r.items) ? r.items : [] };
  } catch (err) {
    const f = classifyApiError(err);
    return { ok: false, code: f.kind === 'http' ? f.code : undefined, message: describeApiFailure(f) };
  }
}

function fail(what: string, r: Extract<Listed, { ok: false }>): never {
  throw new FulcrumError('FUL_ERR_CONFIG_READ', { input: what, reason: r.message });
}

/** Typed client-node objects carry no kind: give each its kind so the input can sort them. */
function withKind(kind: string, items: readonly unknown[]): unknown[] {
  return items.map((o) => ({ apiVersion: 'v1', ...(o as object), kind }));
}

/**
 * Lists what the report needs. The MetalLB kinds are custom resources: a 404 on their list means
 * the CRDs are not installed, and MetalLB's legacy ConfigMap is read instead. Namespaces and
 * Nodes only feed label selectors, so a refusal to list them is a note, not a failure.
 */
async function readCluster(kubeconfig: string | undefined, namespace: string, notes: string[]): Promise<MigrationInput> {
  const { kubeConfig } = loadKubeConfig(kubeconfig);
  const clients = createApiClients(kubeConfig, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const resources = (plural: string) =>
    listed(() => custom.listNamespacedCustomObject({ group: METALLB_GROUP, version: METALLB_VERSION, namespace, plural }, timeoutOptions(REQUEST_TIMEOUT_MS)) as Promise<{ items?: unknown }>);
  const [pools, ads, services, namespaces, nodes] = await Promise.all([
    resources('ipaddresspools'),
    resources('l2advertisements'),
    listed(() => clients.core.listServiceForAllNamespaces()),
    listed(() => clients.core.listNamespace()),
    listed(() => clients.core.listNode()),
  ]);
  if (!services.ok) fail('Services of every namespace', services);
  const objects: unknown[] = [...withKind('Service', services.items as V1Service[])];
  if (namespaces.ok) objects.push(...withKind('Namespace', namespaces.items as V1Namespace[]));
  else notes.push(`cannot list Namespaces (${namespaces.message}): serviceAllocation.namespaceSelectors see only each namespace's name label`);
  if (nodes.ok) objects.push(...withKind('Node', nodes.items as V1Node[]));
  else notes.push(`cannot list Nodes (${nodes.message}): the pools do not list the nodes that may announce them`);
  for (const [r, plural] of [[pools, 'ipaddresspools'], [ads, 'l2advertisements']] as const) {
    if (r.ok) objects.push(...r.items);
    else if (r.code === 404) notes.push(`the cluster has no ${plural}.${METALLB_GROUP} CRD: MetalLB's resources are not installed (MetalLB before v0.13?)`);
    else fail(`${plural}.${METALLB_GROUP} in namespace "${namespace}"`, r);
  }
  if (!pools.ok) {
    try {
      const cm = await clients.core.readNamespacedConfigMap({ namespace, name: 'config' });
      objects.push({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' });
    } catch (err) {
      const f = classifyApiError(err);
      if (f.kind === 'http' && f.code === 404) notes.push(`namespace "${namespace}" has no legacy ConfigMap "config" either`);
      else throw new FulcrumError('FUL_ERR_CONFIG_READ', { input: `ConfigMap "${namespace}/config"`, reason: describeApiFailure(f) }, { cause: err });
    }
  }
  return migrationInput(objects);
}

export const command: Command = {
  name: 'migrate-from-metallb',
  summary: 'print what Fulcrum will do with a MetalLB install (file or cluster): pools, and whether each Service keeps its address',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(argv, {
      file: { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'lb-class': { type: 'string' },
      output: { type: 'string', short: 'o' },
    }, true);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}": give the file with --file FILE`);
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError(`--output: "${output}" is not text or json`);
    if (values.file !== undefined && (values.kubeconfig !== undefined || values.namespace !== undefined)) {
      throw new UsageError(`--file "${values.file}" reads a file: --kubeconfig and --namespace are for reading a cluster`);
    }
    if (values.file === '') throw new UsageError('--file: "" is not a file (give a path, or - for stdin)');
    const lbClass = values['lb-class'];
    if (lbClass === '') throw new UsageError('--lb-class: "" is not a class (leave the flag out for Services without a class)');
    const notes: string[] = [];
    const input = values.file !== undefined ? migrationInputFromText(await readText(values.file)) : await readCluster(values.kubeconfig, values.namespace ?? 'metallb-system', notes);
    const report = planMigration(input, { lbClass });
    if (output === 'json') {
      process.stdout.write(JSON.stringify({ ...report, notes }, null, 2) + '\n');
    } else {
      process.stdout.write(formatMigrationReport(report));
      for (const n of notes) process.stderr.write(`note: ${n}\n`);
    }
    return report.ok ? EXIT_OK : EXIT_FAILURE;
  },
};
