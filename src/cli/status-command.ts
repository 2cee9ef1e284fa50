import { EXIT_FAILURE, type Command } from './command.js';

// Placeholder until its issue lands: listed so `fulcrum --help` shows the whole product.
export const command: Command = {
  name: 'status',
  summary: 'show addresses, owners and endpoints of LoadBalancer Services',
  usage: 'Usage: fulcrum status [options]\n\nshow addresses, owners and endpoints of LoadBalancer Services\n\n(not implemented yet)\n',
  async run(): Promise<number> {
    process.stderr.write('fulcrum status: not implemented yet\n');
    return EXIT_FAILURE;
  },
};
