import { rename } from 'node:fs/promises';
import { applyLogLevelFlag, EXIT_OK, intFlag, listenFlag, parseCommandArgs, type Command } from '../../src/command.js';
import { UsageError } from '../../src/errors.js';

const usage = `Usage: fulcrum apiserver [--listen HOST:PORT] [--kubeconfig-out FILE] [--kubeconfig-scheme https|http] [--event-window N]

Runs Fulcrum's in-memory Kubernetes API emulator: an emulator for the lab and the tests, NOT a
production API server (no etcd, no admission webhooks, no protobuf; everything is lost
when it stops).

Options:
  --listen HOST:PORT      address to listen on (default 127.0.0.1:0; port 0 picks a free one)
  --kubeconfig-out FILE   write a cluster-admin kubeconfig there once the server accepts requests
  --kubeconfig-scheme S   https (default; kubectl sends tokens only over TLS) or http (no TLS
                          handshake per request: faster for client-node, unusable by kubectl)
  --event-window N        watch history kept, in changes (default 10000)
  --log-level LEVEL       trace, debug, info, warn, error, fatal or silent

SIGTERM or SIGINT stops it. kubectl create/apply/replace work with their default validation:
the emulator serves OpenAPI v3 with the fieldValidation parameter and rejects unknown fields
itself (--validate=warn warns, --validate=false drops them). Writes without the parameter warn;
FULCRUM_APISERVER_FIELD_VALIDATION=Strict|Warn|Ignore changes that default.
`;

export const command: Command = {
  name: 'apiserver',
  summary: 'in-memory Kubernetes API emulator for the lab and the tests (not for production)',
  usage,
  async run(argv: string[]): Promise<number> {
    const { values } = parseCommandArgs(argv, {
      listen: { type: 'string' },
      'kubeconfig-out': { type: 'string' },
      'kubeconfig-scheme': { type: 'string' },
      'event-window': { type: 'string' },
      'log-level': { type: 'string' },
    });
    const { host, port } = listenFlag('listen', values.listen, { host: '127.0.0.1', port: 0 });
    const scheme = values['kubeconfig-scheme'] ?? 'https';
    if (scheme !== 'https' && scheme !== 'http') throw new UsageError(`--kubeconfig-scheme: "${scheme}" is not https or http`);
    const eventWindow = intFlag('event-window', values['event-window'], 10_000, 1);
    applyLogLevelFlag(values['log-level']);
    const { startApiServer } = await import('./index.js');
    const server = await startApiServer({ host, port, eventWindow });
    process.stderr.write(`fulcrum apiserver: Kubernetes API emulator for the lab and tests, not a production API server; listening on ${server.url}\n`);
    const out = values['kubeconfig-out'];
    if (out) {
      // written whole then renamed, so a script waiting for the file never reads half of it
      await server.writeKubeconfig(`${out}.tmp`, { scheme });
      await rename(`${out}.tmp`, out);
      process.stderr.write(`fulcrum apiserver: kubeconfig written to ${out}\n`);
    }
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await server.stop();
    process.stderr.write(`fulcrum apiserver: stopped (served ${server.requestCount()} requests)\n`);
    return EXIT_OK;
  },
};
