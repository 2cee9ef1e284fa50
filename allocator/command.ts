import { EXIT_FAILURE, type Command } from '../src/cli/command.js';

// Placeholder until its issue lands: listed so `fulcrum --help` shows the whole product.
export const command: Command = {
  name: 'allocator',
  summary: 'assign addresses to LoadBalancer Services (one active replica by leader election)',
  usage: 'Usage: fulcrum allocator [options]\n\nassign addresses to LoadBalancer Services (one active replica by leader election)\n\n(not implemented yet)\n',
  async run(): Promise<number> {
    process.stderr.write('fulcrum allocator: not implemented yet\n');
    return EXIT_FAILURE;
  },
};
