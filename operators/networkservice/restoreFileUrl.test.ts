import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { sync } from '../../test/sync.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { restoreFileUrl } from './restoreFileUrl.js';

const inodes: Record<string, string> = { 'file:///proc/42/ns/net': 'inode://4/100', 'file:///run/netns/other': 'inode://4/200' };
/** An upstream peer: its sendfd answers the first KERNEL preference with the inode URL of its file URL. */
const upstreamPeer = (answer?: string): NetworkServiceHandler => ({
  request: (r) => {
    const sent = r.mechanismPreferences[0]?.parameters['inodeURL'] ?? '';
    return of(Connection.fromPartial({ ...r.connection, mechanism: { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1', inodeURL: answer ?? inodes[sent] ?? sent } } }));
  },
  close: () => of(undefined),
});
const request = (inodeURL: string) => NetworkServiceRequest.fromPartial({ connection: { id: 'c' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL, name: 'nsm-1' } }] });
const answered = (peer: NetworkServiceHandler, inodeURL: string) => sync(chain([restoreFileUrl((u) => inodes[u])], peer).request(request(inodeURL), Context.background)).mechanism?.parameters;

describe('restoreFileUrl (the way back of upstream sendfd, without the fd)', () => {
  it('an inode:// answer for the namespace of a file:// URL we sent becomes that file URL again (so refresh and Close never make a recvfd wait)', () => {
    expect(answered(upstreamPeer(), 'file:///proc/42/ns/net')).toEqual({ name: 'nsm-1', inodeURL: 'file:///proc/42/ns/net' });
  });

  it('an inode:// answer for another namespace, an inode URL we sent ourselves, and file answers stay as they are', () => {
    expect(answered(upstreamPeer('inode://4/999'), 'file:///proc/42/ns/net')?.['inodeURL']).toBe('inode://4/999');
    expect(answered(upstreamPeer(), 'inode://4/100')?.['inodeURL']).toBe('inode://4/100');
    expect(answered(upstreamPeer('file:///proc/7/ns/net'), 'file:///proc/42/ns/net')?.['inodeURL']).toBe('file:///proc/7/ns/net');
  });

  it('a later Request or Close carrying the answered inode URL (a monitor update, say) goes out with the file URL; Close forgets it', () => {
    const seen: (string | undefined)[] = [];
    const peer = upstreamPeer();
    const c = chain([restoreFileUrl((u) => inodes[u])], {
      request: (r, ctx) => (seen.push(r.connection?.mechanism?.parameters['inodeURL']), peer.request(r, ctx)),
      close: (conn) => (seen.push(conn.mechanism?.parameters['inodeURL']), of(undefined)),
    });
    sync(c.request(request('file:///proc/42/ns/net'), Context.background));
    const fromMonitor = Connection.fromPartial({ id: 'c', mechanism: { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1', inodeURL: 'inode://4/100' } } });
    sync(c.request(NetworkServiceRequest.fromPartial({ ...request('file:///proc/42/ns/net'), connection: Connection.fromPartial(fromMonitor) }), Context.background));
    sync(c.close(Connection.fromPartial(fromMonitor), Context.background));
    sync(c.close(Connection.fromPartial(fromMonitor), Context.background));
    expect(seen).toEqual([undefined, 'file:///proc/42/ns/net', 'file:///proc/42/ns/net', 'inode://4/100']);
  });

  it('a file URL that can no longer be opened is not matched', () => {
    expect(answered(upstreamPeer('inode://4/100'), 'file:///proc/43/ns/net')?.['inodeURL']).toBe('inode://4/100');
  });
});
