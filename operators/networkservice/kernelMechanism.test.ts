import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { sync } from '../../test/sync.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { kernelMechanismClient } from './kernelMechanismClient.js';
import { kernelMechanismServer } from './kernelMechanismServer.js';

const seen: NetworkServiceRequest[] = [];
const last: NetworkServiceHandler = {
  request: (r) => (seen.push(r), of(Connection.fromPartial(r.connection as Connection))),
  close: () => of(undefined),
};

describe('kernel mechanism (NSC offers its netns and interface name; NSE fills its own)', () => {
  it('the client offers KERNEL with its netns and name once; an offered KERNEL is left alone', () => {
    const c = chain([kernelMechanismClient({ netnsUrl: () => 'inode://4/100', interfaceName: 'nsm-1' })], last);
    sync(c.request(NetworkServiceRequest.fromPartial({ connection: { id: 'a' } }), Context.background));
    expect(seen.at(-1)?.mechanismPreferences).toEqual([{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: 'inode://4/100', name: 'nsm-1' } }]);
    sync(c.request(NetworkServiceRequest.fromPartial({ connection: { id: 'a' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'x' } }] }), Context.background));
    expect(seen.at(-1)?.mechanismPreferences).toEqual([{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'x' } }]);
  });

  it('the endpoint sets its netns on a KERNEL mechanism only, and a name unless it has one: upstream\'s <service[:10]>-<random>, 15 chars', () => {
    const s = chain([kernelMechanismServer(() => 'inode://4/200')], last);
    const named = () => seen.at(-1)?.connection?.mechanism?.parameters['name'];
    const request = (mechanism: object) => sync(s.request(NetworkServiceRequest.fromPartial({ connection: { id: '0123456789abcdef', networkService: 'icmp-responder', mechanism } }), Context.background));
    request({ cls: 'LOCAL', type: 'KERNEL' });
    expect(seen.at(-1)?.connection?.mechanism?.parameters['inodeURL']).toBe('inode://4/200');
    expect(named()).toMatch(/^icmp-respo-[0-9A-Za-z]{4}$/);
    const names = new Set(Array.from({ length: 50 }, () => (request({ cls: 'LOCAL', type: 'KERNEL' }), named())));
    expect(names.size).toBeGreaterThan(45); // 62⁴ names: 50 draws almost never repeat
    request({ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'icmp-respo-a1B2' } });
    expect(seen.at(-1)?.connection?.mechanism?.parameters).toEqual({ inodeURL: 'inode://4/200', name: 'icmp-respo-a1B2' });
    sync(s.request(NetworkServiceRequest.fromPartial({ connection: { id: 'x', mechanism: { cls: 'REMOTE', type: 'VXLAN' } } }), Context.background));
    expect(seen.at(-1)?.connection?.mechanism?.parameters).toEqual({});
  });
});
