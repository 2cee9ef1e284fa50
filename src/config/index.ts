// The config core: parse and validate the ConfigMap or MetalLB's resources, and match pools to nodes. Pure.
export { parseConfig, parseConfigInput } from './parse.js';
export { parseMetalLBResources, isMetalLBObject, METALLB_API_VERSION } from './metallb.js';
export { poolSelectsNode, poolInterfacesOn, selectorMatches, anySelectorMatches, expressionMatches, selectorText } from './node-selector.js';
export * from './types.js';
export { summarizeConfig, poolSize, formatSize } from './summary.js';
export { isLabelKey, isLabelValue } from './selector.js';
export { readConfigSource, type ConfigSourceInput, type ConfigSourceRead, type Complaint, type SourceObject, type SourceObjectRef } from './source.js';
