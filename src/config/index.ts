// The config core: parse and validate the ConfigMap, and match pools to nodes. Pure.
export { parseConfig } from './parse.js';
export { poolSelectsNode, selectorMatches, expressionMatches } from './node-selector.js';
export * from './types.js';
export { summarizeConfig, poolSize, formatSize } from './summary.js';
export { isLabelKey, isLabelValue } from './selector.js';
