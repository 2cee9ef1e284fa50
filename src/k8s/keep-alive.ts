import type http from 'node:http';
import type https from 'node:https';
import type { Cluster, KubeConfig } from '@kubernetes/client-node';

type CreateAgent = (cluster: Cluster | null, agentOptions: https.AgentOptions) => http.Agent;

/**
 * client-node 1.4 builds a new http(s).Agent for every request (its private
 * `KubeConfig.createAgent` is called from `applySecurityAuthentication`), so every API call
 * pays a TCP and a TLS handshake: measured against the emulator, TLS set-up was more than half
 * of the allocator's CPU. This makes one KubeConfig hand out one keep-alive agent per distinct
 * set of TLS options instead. Credentials travel in headers, not in the agent, so token
 * rotation is unaffected. The method is private in the typings, hence the cast: if a release
 * renames it, nothing breaks — requests just go back to one connection each.
 */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createAgent?: CreateAgent };
  const original = target.createAgent?.bind(kc);
  if (!original) return kc;
  const agents = new Map<string, http.Agent>();
  target.createAgent = (cluster, agentOptions) => {
    if (cluster?.proxyUrl) return original(cluster, agentOptions);
    const key = JSON.stringify([cluster?.server, cluster?.skipTLSVerify, agentOptions]);
    let agent = agents.get(key);
    if (!agent) {
      agent = original(cluster, { ...agentOptions, keepAlive: true });
      agents.set(key, agent);
    }
    return agent;
  };
  return kc;
}
