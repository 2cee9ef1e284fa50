import { EXIT_FAILURE, type Command } from '../src/cli/command.js';

// Placeholder until its issue lands: listed so `fulcrum --help` shows the whole product.
export const command: Command = {
  name: 'lab',
  summary: 'run the whole system on this machine in network namespaces (root)',
  usage: 'Usage: fulcrum lab [options]\n\nrun the whole system on this machine in network namespaces (root)\n\n(not implemented yet)\n',
  async run(): Promise<number> {
    process.stderr.write('fulcrum lab: not implemented yet\n');
    return EXIT_FAILURE;
  },
};
