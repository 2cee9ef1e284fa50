import type { V1ConfigMap } from '@kubernetes/client-node';
import { parseConfig } from './parse.js';
import type { Config } from './types.js';

/** The data key of the pool ConfigMap that holds the config (MetalLB's). */
export const CONFIG_DATA_KEY = 'config';

/**
 * The pool ConfigMap as the allocator and the speakers read it, pure: missing, the same
 * version as last read, invalid (every error), or a config. What to do with each (keep the last
 * good config, refuse a change that releases an address in use) is the reader's policy.
 */
export type ConfigMapRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'invalid'; readonly errors: readonly string[]; readonly resourceVersion: string }
  | { readonly kind: 'parsed'; readonly config: Config; readonly warnings: readonly string[]; readonly resourceVersion: string };

/** Reads `cm` (the cache's copy, or undefined); `lastResourceVersion` is the one read before, if any. */
export function readConfigMap(cm: V1ConfigMap | undefined, lastResourceVersion: string | undefined): ConfigMapRead {
  if (!cm) return { kind: 'missing' };
  const resourceVersion = cm.metadata?.resourceVersion ?? '';
  if (lastResourceVersion !== undefined && resourceVersion === lastResourceVersion) return { kind: 'unchanged' };
  const text = cm.data?.[CONFIG_DATA_KEY];
  if (text === undefined) return { kind: 'invalid', errors: [`data key "${CONFIG_DATA_KEY}" is missing`], resourceVersion };
  const parsed = parseConfig(text);
  if (!parsed.ok) return { kind: 'invalid', errors: parsed.errors, resourceVersion };
  return { kind: 'parsed', config: parsed.config, warnings: parsed.warnings, resourceVersion };
}
