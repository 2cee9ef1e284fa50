import { EXIT_FAILURE, type Command } from '../../src/cli/command.js';

// Placeholder until its issue lands: listed so `fulcrum --help` shows the whole product.
export const command: Command = {
  name: 'apiserver',
  summary: 'in-memory Kubernetes API emulator for the lab and the tests (not for production)',
  usage: 'Usage: fulcrum apiserver [options]\n\nin-memory Kubernetes API emulator for the lab and the tests (not for production)\n\n(not implemented yet)\n',
  async run(): Promise<number> {
    process.stderr.write('fulcrum apiserver: not implemented yet\n');
    return EXIT_FAILURE;
  },
};
