import { errorMessage, UsageError } from '../src/errors.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type Command } from '../src/command.js';
import { heapProbeOnSignal } from '../src/heap-probe.js';

/**
 * Every program of Fulcrum is a subcommand of `bin/fulcrum`. Each is loaded only when asked
 * for, so `fulcrum check-config` does not pay for the Kubernetes client or the proxy.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  'check-config': { summary: 'validate a pool ConfigMap (file or -); print a summary or every error', load: async () => (await import('./check-config-command.js')).command },
  'migrate-from-metallb': {
    summary: 'print what Fulcrum will do with a MetalLB install (file or cluster): each pool, and whether each Service keeps its address',
    load: async () => (await import('./migrate-from-metallb-command.js')).command,
  },
  apiserver: { summary: 'in-memory Kubernetes API emulator for the lab and tests (not for production)', load: async () => (await import('../lab/apiserver/command.js')).command },
  allocator: { summary: 'assign addresses to LoadBalancer Services (leader-elected)', load: async () => (await import('../allocator/command.js')).command },
  speaker: { summary: 'own, announce (ARP/NDP) and proxy Service addresses on this node', load: async () => (await import('../speaker/command.js')).command },
  proxy: { summary: 'run the data plane standalone from a declarative YAML file', load: async () => (await import('../speaker/proxy/command.js')).command },
  lab: { summary: 'run the whole system on this machine in network namespaces (root)', load: async () => (await import('../lab/command.js')).command },
  status: { summary: 'show addresses, owners and endpoints of LoadBalancer Services, and the restarts of Fulcrum\'s Pods', load: async () => (await import('./status-command.js')).command },
};

function topUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: fulcrum <command> [options]',
    '',
    'Fulcrum: bare-metal LoadBalancer Services for Kubernetes.',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `fulcrum <command> --help` for the options of one command.',
    'Exit codes: 0 success, 1 failure, 2 usage error.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const out = topUsage() + '\n';
    if (name === undefined) {
      process.stderr.write(out);
      return EXIT_USAGE;
    }
    process.stdout.write(out);
    return EXIT_OK;
  }
  if (name === '--version' || name === 'version') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    process.stdout.write(`fulcrum ${pkg.version}\n`);
    return EXIT_OK;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`fulcrum: unknown command "${name}"\n\n${topUsage()}\n`);
    return EXIT_USAGE;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage.trimEnd() + '\n');
    return EXIT_OK;
  }
  heapProbeOnSignal(); // only with --expose-gc: the soak's measurement (src/heap-probe.ts)
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fulcrum ${name}: ${err.message}\n\n${command.usage.trimEnd()}\n`);
      return EXIT_USAGE;
    }
    const code = (err as { code?: unknown }).code;
    process.stderr.write(`fulcrum ${name}: ${errorMessage(err)}${typeof code === 'string' && code.startsWith('FUL_') ? ` (${code})` : ''}\n`);
    if (process.env.FULCRUM_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return EXIT_FAILURE;
  }
}
