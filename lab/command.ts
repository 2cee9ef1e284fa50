import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { durationFlag, EXIT_FAILURE, EXIT_OK, intFlag, parseCommandArgs, type Command } from '../src/command.js';
import { errorMessage, UsageError } from '../src/errors.js';
import { parseLogLevel, setLogLevel } from '../src/log.js';
import { DEFAULT_PREFIX, MAX_NODES, validatePrefix } from './addressing.js';
import { API_SERVER_KINDS, type ApiServerKind } from './control-plane.js';
import { BUILD_COMMAND, realControlPlaneBinDir } from './real-control-plane-binaries.js';
import { formatTable, ownerSeenByClient, type TableRow } from './check.js';
import { NFT_ENV, nftSetting, onPath } from './host-link.js';
import { startLab, type Lab, type LabService } from './lab.js';
import { BLOG_HOST, CONFIG_SOURCES, HTTPS_HOST, SHOP_HOST, type ConfigSource } from './samples.js';
import { delay } from './netns.js';
import { runFailoverDemo } from './failover-demo.js';
import { formatFailoverTable } from './failover-measure.js';

const USAGE = `Usage: fulcrum lab [options]

Runs the whole system on this machine, as root, in network namespaces: a switch, N nodes, a
client, backend pods, a control plane on 192.0.2.254 (the API emulator in this process, or with
--apiserver real the real etcd, kube-apiserver and kube-controller-manager), the allocator and one
speaker per node. Applies the example pool ConfigMap (192.0.2.64/26, 2001:db8::100-1ff; or
with --config-from metallb-crds the same addresses as MetalLB resources) and
sample Services, waits for their addresses, checks each one from the client namespace with real
connections, prints a table, and stays up until Ctrl-C, then removes everything it made.
State for scripts: .lab/state.json. Topology and addresses: lab/README.md.

Needs root, iproute2 (ip) and procps (sysctl). With nftables (nft) several labs can run at
once; without it, or with FULCRUM_LAB_NFT=0, one lab at a time (a source-address rule).
--apiserver real also needs openssl and the binaries built by \`${BUILD_COMMAND}\` (Go >= 1.26,
about 11 min the first time) or FULCRUM_K8S_BIN naming their directory.

Options:
  --nodes N              node namespaces, 1-${MAX_NODES} (default 3)
  --prefix P             name prefix of every namespace and link (default ${DEFAULT_PREFIX})
  --apiserver KIND       emulator (default: in this process, no Go needed) or real (built from
                         source; the controller-manager makes the EndpointSlices from the pods)
  --config-from SOURCE   configmap (default: the pool ConfigMap) or metallb-crds (MetalLB's
                         IPAddressPool and L2Advertisement resources from the CRDs in config/:
                         pools lab and lab-edge, announced by different nodes; echo-udp is in
                         lab-edge, served by the last node)
  --no-wait              build, check, print, clean up and exit (0 if every check passed)
  --no-restart           leave a component that dies down (default: restarted like a pod,
                         after 1s, doubling to 30s for one that keeps dying; see lab/README.md)
  --failover-demo        after the checks, take the TCP echo address's owner down three ways
                         (link down, speaker SIGKILL, speaker SIGTERM) while a client connects
                         every 10 ms; print each gap and the new owner; restore the node each time
  --address-timeout D    how long to wait for Service addresses (default 30s)
  --log-level LEVEL      the lab's own logs on stderr (default warn; programs log to .lab/logs/)
  -h, --help
`;

const REFRESH_MS = 2000;
/** The speaker's default --metrics port (speaker/command.ts): /metrics, /stats, /stats.json. */
const SPEAKER_METRICS_PORT = 7473;
/** The speakers hear each other within a second; this much allows for a busy machine. */
const SPEAKERS_READY_TIMEOUT_MS = 10_000;
const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url));
const FULCRUM_BIN = fileURLToPath(new URL('../../bin/fulcrum', import.meta.url));
/**
 * What the lab runs, by the package that has it: `ip` builds everything, and the topology and
 * the speaker set sysctls with `sysctl` (procps, present on any full Debian/Ubuntu/Fedora
 * install). nftables is optional (see lab/host-link.ts); node is running this.
 */
const REQUIRED_TOOLS: Readonly<Record<string, string>> = { ip: 'iproute2', sysctl: 'procps' };

function configFromFlag(value: string | undefined): ConfigSource {
  if (value === undefined) return 'configmap';
  const source = CONFIG_SOURCES.find((k) => k === value);
  if (!source) throw new UsageError(`--config-from "${value}": expected ${CONFIG_SOURCES.join(' or ')}`);
  return source;
}

function apiServerFlag(value: string | undefined): ApiServerKind {
  if (value === undefined) return 'emulator';
  const kind = API_SERVER_KINDS.find((k) => k === value);
  if (!kind) throw new UsageError(`--apiserver "${value}": expected ${API_SERVER_KINDS.join(' or ')}`);
  return kind;
}

/** Why the real control plane cannot start here (before anything is built), or undefined. */
async function realControlPlaneProblem(): Promise<string | undefined> {
  if (!onPath('openssl')) return 'openssl not found on PATH (it makes the control plane\'s certificates); install openssl (e.g. apt-get install -y openssl)';
  try {
    await realControlPlaneBinDir();
    return undefined;
  } catch (err) {
    return errorMessage(err);
  }
}

/** What the hand-try lines may use, found on this machine. */
export interface HandTryContext {
  readonly clientNamespace: string;
  readonly nodeNamespace: string;
  readonly kubeconfig: string;
  readonly stateDir: string;
  readonly statePath: string;
  /** `node`, or Node's full path when PATH would not find this one. */
  readonly node: string;
  readonly probe: string;
  readonly curl: boolean;
  readonly kubectl: boolean;
  /** bin/fulcrum: a `fulcrum status` line when given. */
  readonly fulcrum?: string;
  /** The speaker of the TCP echo address's owner: a line to kill it by hand when given. */
  readonly ownerSpeaker?: { readonly node: string; readonly pid: number; readonly restart: boolean };
  /** A line saying how to measure failover (when the demo did not run). */
  readonly failoverDemoHint?: boolean;
}

/** A word the shell reads back unchanged: as is when plain, else in single quotes. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * "Try it by hand": commands a user can paste as root, using only what this machine has (ip and
 * node always; curl and kubectl only when found). Pure.
 */
export function handTryLines(ctx: HandTryContext, services: readonly LabService[]): string {
  const address = (name: string, family: 4 | 6 = 4) => services.find((s) => s.name === name)?.addresses.find((a) => a.includes(':') === (family === 6));
  const inClient = (cmd: string) => `ip netns exec ${ctx.clientNamespace} ${cmd}`;
  const probe = (args: string) => inClient(`${shellWord(ctx.node)} ${shellWord(ctx.probe)} ${args}`);
  const http = (addr: string | undefined, what: string): [string, string] | undefined => {
    if (!addr) return undefined;
    const url = addr.includes(':') ? `'http://[${addr}]/'` : `http://${addr}/`;
    return [ctx.curl ? inClient(`curl -s ${url}`) : probe(`http ${addr} 80`), what];
  };
  const tcp = address('echo-tcp');
  const udp = address('echo-udp');
  const tls = address('web-tls');
  const shared = address('shop');
  const ca = join(ctx.stateDir, 'lab-ca.crt');
  const named = (addr: string | undefined, host: string, scheme: 'http' | 'https', what: string): [string, string] | undefined => {
    if (!addr) return undefined;
    const port = scheme === 'https' ? 443 : 80;
    if (!ctx.curl) return [probe(`${scheme} ${addr} ${port} --host ${host}${scheme === 'https' ? ` --ca ${shellWord(ca)}` : ''}`), what];
    return [inClient(`curl -s ${scheme === 'https' ? `--cacert ${shellWord(ca)} ` : ''}--resolve ${host}:${port}:${addr} ${scheme}://${host}/`), what];
  };
  const rows: ([string, string] | undefined)[] = [
    ctx.kubectl ? [`kubectl --kubeconfig ${shellWord(ctx.kubeconfig)} get svc -o wide`, 'the Services and their addresses'] : undefined,
    http(address('web'), 'which pod answered, and the address it saw (the proxy node)'),
    http(address('web-local'), 'externalTrafficPolicy Local + PROXY header: it saw the client'),
    http(address('web-dual', 6), 'the same over IPv6'),
    named(tls, HTTPS_HOST, 'https', 'TLS ended by the proxy (the lab CA signed it); X-Forwarded-For shows the client'),
    named(shared, SHOP_HOST, 'http', 'two Services on one address, told apart by Host:'),
    named(shared, BLOG_HOST, 'http', '  the other one (its pods are the other shard)'),
    tcp ? [probe(`tcp ${tcp} 5678 hello`), 'TCP echo: {"ok":true,…,"reply":"hello"}'] : undefined,
    udp ? [probe(`udp ${udp} 5678 hello`), 'UDP echo'] : undefined,
    [inClient('ip neigh'), "the owner node's MAC for each address"],
    ctx.fulcrum ? [`${shellWord(ctx.node)} ${shellWord(ctx.fulcrum)} status --kubeconfig ${shellWord(ctx.kubeconfig)}`, 'addresses, pools, owners and ready endpoints as Fulcrum sees them; its Pods and their restarts'] : undefined,
    ctx.ownerSpeaker ? [`kill -KILL ${ctx.ownerSpeaker.pid}`, `the speaker of ${ctx.ownerSpeaker.node}, echo-tcp's owner: another node takes over; ${ctx.ownerSpeaker.restart ? 'the lab restarts it after 1s (state.json counts restarts)' : 'it stays down (--no-restart)'}`] : undefined,
    [`ip netns exec ${ctx.nodeNamespace} ip addr`, `a node (its pods: ${ctx.nodeNamespace}-p1, …)`],
    ctx.curl ? [`ip netns exec ${ctx.nodeNamespace} curl -s http://127.0.0.1:${SPEAKER_METRICS_PORT}/stats.json`, `its speaker's stats (/stats is the HTML page, /metrics Prometheus)`] : undefined,
  ];
  const present = rows.filter((r): r is [string, string] => r !== undefined);
  const width = Math.max(...present.map(([cmd]) => cmd.length));
  return [
    'Try it by hand (as root, in another terminal):',
    ...present.map(([cmd, what]) => `  ${cmd.padEnd(width)}  # ${what}`),
    `  logs: ${ctx.stateDir}/logs/    state: ${ctx.statePath}`,
    ...(ctx.failoverDemoHint ? ['  failover, measured: stop this lab, then `sudo npm run lab -- --failover-demo` (link down, SIGKILL, SIGTERM of an owner)'] : []),
  ].join('\n');
}

/** `node` when PATH finds this very binary, else its full path (sudo's PATH often lacks it). */
function nodeCommand(): string {
  try {
    const self = realpathSync(process.execPath);
    const found = (process.env.PATH ?? '').split(':').find((dir) => dir && existsSync(join(dir, 'node')) && realpathSync(join(dir, 'node')) === self);
    return found ? 'node' : process.execPath;
  } catch {
    return process.execPath;
  }
}

async function howTo(lab: Lab, services: readonly LabService[], demoRan: boolean): Promise<string> {
  const echo = services.find((s) => s.name === 'echo-tcp')?.addresses.find((a) => !a.includes(':'));
  const ownerNode = echo ? await ownerSeenByClient(lab.topology, echo).catch(() => undefined) : undefined;
  const speaker = ownerNode ? lab.speakers.get(ownerNode) : undefined;
  return handTryLines({
    clientNamespace: lab.topology.client.namespace,
    nodeNamespace: lab.topology.node(1).namespace,
    kubeconfig: lab.kubeconfigs.admin,
    stateDir: lab.stateDir,
    statePath: lab.statePath,
    node: nodeCommand(),
    probe: PROBE,
    curl: onPath('curl'),
    kubectl: onPath('kubectl'),
    fulcrum: FULCRUM_BIN,
    ...(ownerNode && speaker?.running ? { ownerSpeaker: { node: ownerNode, pid: speaker.pid, restart: lab.supervisor.enabled } } : {}),
    failoverDemoHint: !demoRan,
  }, services);
}

/** Runs the failover demo, printing its lines and table; false (said) when it could not finish. */
async function failoverDemo(lab: Lab, step: (message: string) => void): Promise<boolean> {
  step('failover demo: taking the owner of the TCP echo address down three ways');
  try {
    const rows = await runFailoverDemo(lab, { onLine: step });
    process.stdout.write(`\n${formatFailoverTable(rows)}\n\n`);
    return true;
  } catch (err) {
    step(`failover demo failed: ${errorMessage(err)}`);
    return false;
  }
}

export const command: Command = {
  name: 'lab',
  summary: 'run the whole system on this machine in network namespaces (root)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values } = parseCommandArgs(argv, {
      nodes: { type: 'string' },
      prefix: { type: 'string' },
      'no-wait': { type: 'boolean' },
      'address-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      apiserver: { type: 'string' },
      'config-from': { type: 'string' },
      'no-restart': { type: 'boolean' },
      'failover-demo': { type: 'boolean' },
    });
    const nodes = intFlag('nodes', values.nodes, 3, 1, MAX_NODES);
    const prefix = validatePrefix(values.prefix ?? DEFAULT_PREFIX);
    const addressTimeoutMs = durationFlag('address-timeout', values['address-timeout'], 30_000);
    const apiserver = apiServerFlag(values.apiserver);
    const configFrom = configFromFlag(values['config-from']);
    setLogLevel(parseLogLevel(values['log-level'] ?? process.env.FULCRUM_LOG_LEVEL ?? 'warn'));

    if (process.getuid?.() !== 0) {
      process.stderr.write('fulcrum lab: needs root (it creates network namespaces, veth links, a bridge and routing rules); run it with sudo\n');
      return EXIT_FAILURE;
    }
    const missing = Object.keys(REQUIRED_TOOLS).filter((t) => !onPath(t));
    if (missing.length > 0) {
      const packages = missing.map((t) => REQUIRED_TOOLS[t]!);
      process.stderr.write(`fulcrum lab: ${missing.join(', ')} not found on PATH; install ${packages.join(' and ')} (e.g. apt-get install -y ${packages.join(' ')})\n`);
      return EXIT_FAILURE;
    }
    nftSetting(process.env[NFT_ENV]); // a typo in FULCRUM_LAB_NFT fails here, before anything is built
    if (apiserver === 'real') {
      const missingReal = await realControlPlaneProblem();
      if (missingReal) {
        process.stderr.write(`fulcrum lab --apiserver real: ${missingReal}\n`);
        return EXIT_FAILURE;
      }
    }

    const t0 = Date.now();
    const step = (message: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
    let lab: Lab | undefined;
    let signalled: NodeJS.Signals | undefined;
    let wake: (() => void) | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) {
        // a second Ctrl-C: stop waiting; the exit handler still removes the topology
        process.stdout.write(`\n${sig} again: removing the topology and exiting now\n`);
        process.exit(130);
      }
      signalled = sig;
      process.stdout.write(`\n${sig}: stopping the lab\n`);
      wake?.();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      lab = await startLab({ prefix, nodes, apiserver, configFrom, onProgress: step, restart: !values['no-restart'] });
      if (signalled) return EXIT_FAILURE;
      step(`waiting up to ${addressTimeoutMs / 1000}s for Service addresses`);
      await lab.waitForAddresses(addressTimeoutMs);
      step('waiting for the speakers to be ready (every peer heard from)');
      const notReady = await lab.waitForSpeakers(SPEAKERS_READY_TIMEOUT_MS);
      for (const problem of notReady) step(`  not ready after ${SPEAKERS_READY_TIMEOUT_MS / 1000}s: ${problem}`);
      step('checking every address from the client namespace');
      const rows: TableRow[] = await lab.check();
      await lab.writeState('ready');
      process.stdout.write(`\n${formatTable(rows)}\n\n`);
      const failed = rows.filter((r) => !r.result.startsWith('ok')).length;
      process.stdout.write(failed === 0 ? `All ${rows.length} checks passed.\n\n` : `${failed} of ${rows.length} checks failed.\n\n`);
      const demoOk = values['failover-demo'] ? await failoverDemo(lab, step) : true;
      if (values['no-wait']) {
        step('--no-wait: stopping');
        return failed === 0 && demoOk ? EXIT_OK : EXIT_FAILURE;
      }
      process.stdout.write(`${await howTo(lab, await lab.services(), values['failover-demo'] === true)}\n\nThe lab is up. Ctrl-C to stop and remove everything.\n`);
      while (!signalled) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          void delay(REFRESH_MS).then(resolve);
        });
        if (signalled) break;
        await lab.refresh().catch((err: unknown) => process.stderr.write(`fulcrum lab: refreshing state: ${errorMessage(err)}\n`));
      }
      return EXIT_OK;
    } finally {
      if (lab) {
        step('stopping the programs (each speaker first hands its addresses over) and removing every namespace, link and rule');
        await lab.stop();
        step('done');
      }
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
