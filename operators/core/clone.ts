import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';

/** Deep copies (Go's proto.Clone): elements that keep a connection must not share it with the caller. */
export const cloneConnection = (c: Connection): Connection => Connection.fromPartial(c);
export const cloneRequest = (r: NetworkServiceRequest): NetworkServiceRequest => NetworkServiceRequest.fromPartial(r);
