import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
import { beginClient, type BeginElement } from '../networkservice/begin/begin.js';
import type { ReselectFunc } from '../networkservice/begin/eventFactory.js';
import { clientUrl } from '../networkservice/clientUrl.js';
import { grpcClient } from '../networkservice/grpcClient.js';
import { dial } from '../networkservice/dial.js';
import { metadata, type MetadataElement } from '../networkservice/metadata.js';
import { refresh } from '../networkservice/refresh.js';
import { restoreFileUrl } from '../networkservice/restoreFileUrl.js';
import { trimPathClient } from '../networkservice/trimPath.js';
import { updatePath } from '../networkservice/updatePath.js';
import { authorizeClient } from '../authorize/authorizeClient.js';
import type { TokenGenerator } from '../tools/token.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { NsmUrl } from '../tools/nsmUrl.js';

export interface ClientOptions {
  /** Path segment name: the client's own name, or its server's name when it is a hop's client. */
  name: string;
  pool: ChannelPool;
  /** Fixed next hop; leave out when an element before this chain picks one (discover, …). */
  url?: NsmUrl;
  /** Dial timeout in ms (upstream sandbox: 2 s; nsmgr: 15 s). */
  dialTimeout?: number;
  /** Only the NSC refreshes (default on); hops' inner clients rely on the NSC's refresh. */
  refresh?: boolean;
  /** Heal element (the control plane issue adds it); placed where upstream places heal. */
  heal?: NetworkServiceElement;
  reselect?: ReselectFunc;
  additional?: readonly NetworkServiceElement[];
  /** This client's token for each call (sent as gRPC metadata). */
  token?: TokenGenerator;
  /** Policy files checked on every returned connection (authorizeClient); none by default, as upstream. */
  policies?: readonly string[];
  /**
   * A netns file URL as `inode://dev/ino` (undefined when it cannot be opened), for
   * restoreFileUrl: the node injects the datapath's helper (dataplane/kernel inodeUrlOfFile).
   */
  inodeUrlOf: (fileUrl: string) => string | undefined;
  scheduler?: SchedulerLike;
}

export interface Client {
  readonly handler: NetworkServiceHandler;
  readonly state: { readonly begin: BeginElement; readonly metadata: MetadataElement };
}

/**
 * The client chain (upstream chains/client), in upstream order: updatePath → begin → metadata
 * → refresh → clientUrl → heal → dial → additional → authorize → trimPath → restoreFileUrl
 * (where upstream's sendfd sits) → gRPC call.
 */
export function client(options: ClientOptions): Client {
  const scheduler = options.scheduler ?? asyncScheduler;
  const begin = beginClient({ scheduler, ...(options.reselect ? { reselect: options.reselect } : {}) });
  const meta = metadata();
  const handler = chain([
    updatePath(options.name),
    begin,
    meta,
    ...(options.refresh === false ? [] : [refresh({ scheduler })]),
    ...(options.url ? [clientUrl(options.url)] : []),
    ...(options.heal ? [options.heal] : []),
    dial({ pool: options.pool, timeout: options.dialTimeout ?? 2000 }),
    ...(options.additional ?? []),
    ...(options.policies?.length ? [authorizeClient({ policies: options.policies, scheduler })] : []),
    trimPathClient(),
    restoreFileUrl(options.inodeUrlOf),
    grpcClient({ scheduler, ...(options.token ? { token: options.token } : {}) }),
  ]);
  return { handler, state: { begin, metadata: meta } };
}
