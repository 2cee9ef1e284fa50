// The allocator core: address ranges as bigints, Service → request, and the Allocator. Pure.
export * from '../address.js';
export * from './types.js';
export { holdingRequest, serviceRequest, type ServiceLike, type ServiceRequestResult, type ServiceRequestOptions } from './request.js';
export { Allocator } from './allocator.js';
export { canShare, canShareWith, type Sharer, type SharingVerdict } from './sharing.js';
export { poolServes, autoAssignPools, scopeOf, namespaceOf, type ServiceScope, type AutoAssignPools } from './service-allocation.js';
