/**
 * `nsm-rx`: NSM's chains and elements as rxjs operators, for endpoints and clients of your own.
 * An element is `{ request?, close? }`, each taking the call, its Context and `next` (the rest of
 * the chain) and returning an Observable; `chain()` composes them in order. `startEndpoint` runs
 * an endpoint with your elements; `nsm-rx/client` requests services; `nsm-rx/testing` tests them.
 */
export { chain, tail, asElement, type NetworkServiceElement, type NetworkServiceHandler } from '../../operators/core/networkservice.js';
export { Context, ContextKey } from '../../operators/core/context.js';
export { NsmError, invalidArgument, notFound, unavailable, permissionDenied, deadlineExceeded, internal } from '../../operators/core/errors.js';
export { endpoint, type EndpointOptions as EndpointChainOptions, type Endpoint } from '../../operators/chains/endpoint.js';
export { client, type ClientOptions, type Client } from '../../operators/chains/client.js';
export { Connection, ConnectionEvent, ConnectionEventType, State, type PathSegment, type Path } from '../../proto/gen/connection.js';
export { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
export { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
export { startEndpoint, type EndpointOptions, type RunningEndpoint } from './endpoint.js';
export type { IdentityOptions } from './identity.js';
export type { LogOptions } from './embedded.js';
