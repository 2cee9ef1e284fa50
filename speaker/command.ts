import { EXIT_FAILURE, type Command } from '../src/cli/command.js';

// Placeholder until its issue lands: listed so `fulcrum --help` shows the whole product.
export const command: Command = {
  name: 'speaker',
  summary: 'announce owned addresses (ARP/NDP) and proxy their traffic on this node',
  usage: 'Usage: fulcrum speaker [options]\n\nannounce owned addresses (ARP/NDP) and proxy their traffic on this node\n\n(not implemented yet)\n',
  async run(): Promise<number> {
    process.stderr.write('fulcrum speaker: not implemented yet\n');
    return EXIT_FAILURE;
  },
};
