import { defer, lastValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection, type Mechanism } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { mechanismPriority, prioritizeMechanisms } from './mechanismPriority.js';

const m = (cls: string, type: string, tag = ''): Mechanism => ({ cls, type, parameters: tag ? { tag } : {} });
/** Upstream's test preferences. */
const PREFS = () => [m('REMOTE', 'SRV6'), m('REMOTE', 'VXLAN'), m('REMOTE', 'WIREGUARD'), m('LOCAL', 'KERNEL'), m('LOCAL', 'MEMIF')];
const types = (l: Mechanism[]) => l.map((x) => x.type);

describe('prioritizeMechanisms (upstream samples)', () => {
  it.each([
    ['no priority', [], ['SRV6', 'VXLAN', 'WIREGUARD', 'KERNEL', 'MEMIF']],
    ['one priority', ['VXLAN'], ['VXLAN', 'SRV6', 'WIREGUARD', 'KERNEL', 'MEMIF']],
    ['multi priorities', ['KERNEL', 'WIREGUARD', 'SRV6'], ['KERNEL', 'WIREGUARD', 'SRV6', 'VXLAN', 'MEMIF']],
    ['not supported type in the list', ['NOT_SUPPORTED', 'VXLAN'], ['VXLAN', 'SRV6', 'WIREGUARD', 'KERNEL', 'MEMIF']],
    ['list compared upper-case', ['kernel', 'vxlan'], ['KERNEL', 'VXLAN', 'SRV6', 'WIREGUARD', 'MEMIF']],
  ])('%s', (_name, priorities, expected) => {
    expect(types(prioritizeMechanisms(PREFS(), priorities))).toEqual(expected);
  });

  it('empty preferences stay empty', () => {
    expect(prioritizeMechanisms([], ['KERNEL'])).toEqual([]);
  });

  it('stable on both sides: equal types keep their order, unlisted ones keep theirs', () => {
    const prefs = [m('LOCAL', 'MEMIF', '1'), m('LOCAL', 'KERNEL', '1'), m('REMOTE', 'VXLAN', '1'), m('LOCAL', 'KERNEL', '2'), m('LOCAL', 'MEMIF', '2')];
    const out = prioritizeMechanisms(prefs, ['KERNEL']);
    expect(out.map((x) => `${x.type}${x.parameters['tag']}`)).toEqual(['KERNEL1', 'KERNEL2', 'MEMIF1', 'VXLAN1', 'MEMIF2']);
  });

  it('the preference type is compared as it is: a lower-case type is not prioritised (upstream)', () => {
    expect(types(prioritizeMechanisms([m('LOCAL', 'MEMIF'), m('LOCAL', 'kernel')], ['KERNEL']))).toEqual(['MEMIF', 'kernel']);
  });

  it('a type listed twice takes its last position', () => {
    expect(types(prioritizeMechanisms(PREFS(), ['KERNEL', 'VXLAN', 'KERNEL']))).toEqual(['VXLAN', 'KERNEL', 'SRV6', 'WIREGUARD', 'MEMIF']);
  });
});

describe('mechanismPriority element', () => {
  it('reorders the preferences before next sees them', async () => {
    const seen: string[][] = [];
    const next: NetworkServiceHandler = {
      request: (r) => defer(() => (seen.push(types(r.mechanismPreferences)), of(Connection.fromPartial(r.connection as Connection)))),
      close: () => of(undefined),
    };
    const request = NetworkServiceRequest.fromPartial({ connection: { id: 'c' }, mechanismPreferences: PREFS() });
    await lastValueFrom(chain([mechanismPriority('wireguard', 'vxlan')], next).request(request, Context.background));
    expect(seen).toEqual([['WIREGUARD', 'VXLAN', 'SRV6', 'KERNEL', 'MEMIF']]);
  });
});
