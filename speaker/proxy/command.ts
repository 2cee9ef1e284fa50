import { EXIT_FAILURE, type Command } from '../../src/cli/command.js';

// Placeholder until its issue lands: listed so `fulcrum --help` shows the whole product.
export const command: Command = {
  name: 'proxy',
  summary: 'run the data plane standalone from a declarative YAML file',
  usage: 'Usage: fulcrum proxy [options]\n\nrun the data plane standalone from a declarative YAML file\n\n(not implemented yet)\n',
  async run(): Promise<number> {
    process.stderr.write('fulcrum proxy: not implemented yet\n');
    return EXIT_FAILURE;
  },
};
