import { execFileSync } from 'node:child_process';
import { durationFlag, EXIT_FAILURE, EXIT_OK, intFlag, parseCommandArgs, type Command } from '../src/cli/command.js';
import { errorMessage } from '../src/errors.js';
import { parseLogLevel, setLogLevel } from '../src/log.js';
import { DEFAULT_PREFIX, MAX_NODES, validatePrefix } from './addressing.js';
import { formatTable, type TableRow } from './check.js';
import { startLab, type Lab, type LabService } from './lab.js';
import { delay } from './netns.js';

const USAGE = `Usage: fulcrum lab [options]

Runs the whole system on this machine, as root, in network namespaces: a switch, N nodes, a
client, backend pods, the API emulator (in this process, on 192.0.2.254), the allocator and one
speaker per node. Applies the example pool ConfigMap (192.0.2.64/26, 2001:db8::100-1ff) and
sample Services, waits for their addresses, checks each one from the client namespace with real
connections, prints a table, and stays up until Ctrl-C, then removes everything it made.
State for scripts: .lab/state.json. Topology and addresses: lab/README.md.

Options:
  --nodes N              node namespaces, 1-${MAX_NODES} (default 3)
  --prefix P             name prefix of every namespace and link (default ${DEFAULT_PREFIX})
  --no-wait              build, check, print, clean up and exit (0 if every check passed)
  --address-timeout D    how long to wait for Service addresses (default 30s)
  --log-level LEVEL      the lab's own logs on stderr (default warn; programs log to .lab/logs/)
  -h, --help
`;

const REFRESH_MS = 2000;
const REQUIRED_TOOLS = ['ip', 'nft', 'socat'];

function missingTools(): string[] {
  return REQUIRED_TOOLS.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

function howTo(lab: Lab, services: readonly LabService[]): string {
  const cl = lab.topology.client.namespace;
  const first = (name: string, fallback: string) => {
    const a = services.find((s) => s.name === name)?.addresses[0];
    return a ? (a.includes(':') ? `[${a}]` : a) : fallback;
  };
  return [
    'Try it by hand (as root):',
    `  kubectl --kubeconfig ${lab.kubeconfigs.admin} get svc -o wide`,
    `  ip netns exec ${cl} curl -s http://${first('web', '<web address>')}/        # which pod answered, which client it saw`,
    `  ip netns exec ${cl} curl -s http://${first('web-local', '<web-local address>')}/  # externalTrafficPolicy Local`,
    `  echo hi | ip netns exec ${cl} socat - TCP:${first('echo-tcp', '<echo-tcp address>')}:5678`,
    `  ip netns exec ${cl} ip neigh        # the owner node's MAC for each address`,
    `  ip netns exec ${lab.topology.node(1).namespace} ip addr   # a node (its pods: ${lab.topology.node(1).namespace}-p1, …)`,
    `  logs: ${lab.stateDir}/logs/    state: ${lab.statePath}`,
  ].join('\n');
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
    });
    const nodes = intFlag('nodes', values.nodes, 3, 1, MAX_NODES);
    const prefix = validatePrefix(values.prefix ?? DEFAULT_PREFIX);
    const addressTimeoutMs = durationFlag('address-timeout', values['address-timeout'], 30_000);
    setLogLevel(parseLogLevel(values['log-level'] ?? process.env.FULCRUM_LOG_LEVEL ?? 'warn'));

    if (process.getuid?.() !== 0) {
      process.stderr.write('fulcrum lab: needs root (it creates network namespaces, veth links, a bridge and nftables rules); run it with sudo\n');
      return EXIT_FAILURE;
    }
    const missing = missingTools();
    if (missing.length > 0) {
      process.stderr.write(`fulcrum lab: missing ${missing.join(', ')}; install iproute2, nftables and socat (e.g. apt-get install -y ${missing.join(' ')})\n`);
      return EXIT_FAILURE;
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
      lab = await startLab({ prefix, nodes, onProgress: step });
      if (signalled) return EXIT_FAILURE;
      step(`waiting up to ${addressTimeoutMs / 1000}s for Service addresses`);
      await lab.waitForAddresses(addressTimeoutMs);
      step('checking every address from the client namespace');
      const rows: TableRow[] = await lab.check();
      await lab.writeState('ready');
      process.stdout.write(`\n${formatTable(rows)}\n\n`);
      const failed = rows.filter((r) => !r.result.startsWith('ok')).length;
      process.stdout.write(failed === 0 ? `All ${rows.length} checks passed.\n\n` : `${failed} of ${rows.length} checks failed.\n\n`);
      if (values['no-wait']) {
        step('--no-wait: stopping');
        return failed === 0 ? EXIT_OK : EXIT_FAILURE;
      }
      process.stdout.write(`${howTo(lab, await lab.services())}\n\nThe lab is up. Ctrl-C to stop and remove everything.\n`);
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
        step('stopping the programs and removing every namespace, link and rule');
        await lab.stop();
        step('done');
      }
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
