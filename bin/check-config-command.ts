import { readFile } from 'node:fs/promises';
import { EXIT_FAILURE, EXIT_OK, parseCommandArgs, type Command } from '../src/command.js';
import { FulcrumError, UsageError } from '../src/errors.js';
import { parseConfigInput } from '../src/config/parse.js';
import { summarizeConfig } from '../src/config/summary.js';

const USAGE = `Usage: fulcrum check-config FILE|-

Validates a Fulcrum pool config, from FILE or from stdin with "-", either of:
  - the ConfigMap: a manifest (data key "config") or the bare config YAML; MetalLB's legacy
    address-pools format is accepted;
  - MetalLB's resources (metallb.io/v1beta1 IPAddressPool and L2Advertisement): the manifests
    you apply, or "kubectl get ipaddresspools,l2advertisements -A -o yaml". BGP kinds and the
    fields Fulcrum cannot honour are reported as errors, ignored ones as warnings.
The input is read as MetalLB's when it holds any metallb.io object.

On success prints a summary (pools, sizes per family, warnings) on stdout and exits 0.
Otherwise prints every error, one per line, on stderr and exits 1.

Options:
  -h, --help   this text

Exit codes: 0 valid, 1 invalid or unreadable, 2 usage error.
`;

// A pool config is a few KB; anything this large is the wrong file, not a config.
const MAX_INPUT_BYTES = 16 * 1024 * 1024;

async function readInput(path: string): Promise<Buffer> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_INPUT_BYTES) throw new FulcrumError('FUL_ERR_CONFIG_READ', { input: 'stdin', reason: `it is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MB: not a pool config` });
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
  try {
    const data = await readFile(path);
    if (data.length > MAX_INPUT_BYTES) {
      throw new FulcrumError('FUL_ERR_CONFIG_READ', { input: `"${path}"`, reason: `it is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MB: not a pool config` });
    }
    return data;
  } catch (err) {
    if (err instanceof FulcrumError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new FulcrumError('FUL_ERR_CONFIG_READ', { input: `"${path}"`, reason: why }, { cause: err });
  }
}

function decode(data: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(data);
  } catch {
    return undefined;
  }
}

export const command: Command = {
  name: 'check-config',
  summary: 'validate a pool ConfigMap or MetalLB resources (file or -); print a summary or every error',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { positionals } = parseCommandArgs(argv, {}, true);
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'give one FILE, or - for stdin' : `give one FILE, not ${positionals.length}`);
    const path = positionals[0]!;
    const text = decode(await readInput(path));
    if (text === undefined) {
      process.stderr.write('input is not YAML: it is not UTF-8 text (a binary file?)\n');
      return EXIT_FAILURE;
    }
    const result = parseConfigInput(text);
    if (!result.ok) {
      const lines = [...result.errors, ...result.warnings.map((w) => `warning: ${w}`)];
      process.stderr.write(lines.join('\n') + '\n');
      return EXIT_FAILURE;
    }
    process.stdout.write(summarizeConfig(result.config, result.warnings, result.source));
    return EXIT_OK;
  },
};
