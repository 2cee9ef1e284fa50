import type { BalanceAlgorithm } from '../model.js';
import { Least } from './least.js';
import { PowerOfTwo } from './random.js';
import { RoundRobin } from './roundrobin.js';
import { SourceHash } from './source.js';
import type { Balancer, RandomSource } from './types.js';

export type { BalancedEndpoint, Balancer, RandomSource } from './types.js';

export function createBalancer(algorithm: BalanceAlgorithm, random: RandomSource = Math.random): Balancer {
  switch (algorithm) {
    case 'roundrobin':
      return new RoundRobin();
    case 'leastconn':
    case 'sed':
    case 'nq':
      return new Least(algorithm);
    case 'random':
      return new PowerOfTwo(random);
    case 'source':
      return new SourceHash();
  }
}
