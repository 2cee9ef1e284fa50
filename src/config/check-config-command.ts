import { EXIT_FAILURE, type Command } from '../cli/command.js';

// Placeholder until its issue lands: listed so `fulcrum --help` shows the whole product.
export const command: Command = {
  name: 'check-config',
  summary: 'validate a pool ConfigMap (file or -) and print a summary or every error',
  usage: 'Usage: fulcrum check-config [options]\n\nvalidate a pool ConfigMap (file or -) and print a summary or every error\n\n(not implemented yet)\n',
  async run(): Promise<number> {
    process.stderr.write('fulcrum check-config: not implemented yet\n');
    return EXIT_FAILURE;
  },
};
