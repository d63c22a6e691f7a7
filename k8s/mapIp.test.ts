import { describe, expect, it } from 'vitest';
import { marbles } from '../test/marbles.js';
import { configMapEntries, mapIpText, nodeAddressMap } from './mapIp.js';
import type { KubeObject } from './resource.js';

const node = (name: string, ...addresses: [type: string, address: string][]): KubeObject => ({ metadata: { name }, status: { addresses: addresses.map(([type, address]) => ({ type, address })) } });

describe('map-ip', () => {
  it('InternalIP → ExternalIP (else itself), ExternalIP → itself, this pod’s IP → its node’s external (else internal) address', () => {
    const nodes = [node('n1', ['InternalIP', '10.0.0.5'], ['Hostname', 'n1'], ['ExternalIP', '34.1.2.3']), node('n2', ['InternalIP', 'fd00::6']), node('n3')];
    expect(nodeAddressMap(nodes, { nodeName: 'n1', podIp: '10.244.1.7' })).toEqual({ '10.0.0.5': '34.1.2.3', '34.1.2.3': '34.1.2.3', 'fd00::6': 'fd00::6', '10.244.1.7': '34.1.2.3' });
    expect(nodeAddressMap(nodes, { nodeName: 'n2', podIp: 'fd00:244::7' })).toEqual({ '10.0.0.5': '34.1.2.3', '34.1.2.3': '34.1.2.3', 'fd00::6': 'fd00::6', 'fd00:244::7': 'fd00::6' });
    expect(nodeAddressMap(nodes, { nodeName: 'elsewhere', podIp: '10.244.1.7' })).not.toHaveProperty('10.244.1.7');
  });

  it('the extra ConfigMap: every data value a YAML map; one that is not is skipped with a warning', () => {
    const warnings: string[] = [];
    const cm = { metadata: { name: 'extra', namespace: 'nsm' }, data: { 'a.yaml': '192.168.1.1: 1.1.1.1\n', 'b.yaml': '- a list', 'c.yaml': '192.168.1.2: 2.2.2.2' } };
    expect(configMapEntries(cm, (msg, f) => warnings.push(`${msg} ${JSON.stringify(f)}`))).toEqual({ '192.168.1.1': '1.1.1.1', '192.168.1.2': '2.2.2.2' });
    expect(warnings.join()).toMatch(/not a YAML map.*nsm\/extra.*b\.yaml/);
    expect(configMapEntries(undefined, () => undefined)).toEqual({});
  });

  it('the file’s text: nothing until Nodes and extras are known, then only when it changes; the extras win', () =>
    marbles(({ cold, expectObservable }) => {
      const a = { '10.0.0.5': '34.1.2.3' };
      const nodes = cold('-a---b--c-', { a, b: { ...a, '10.0.0.6': '10.0.0.6' }, c: { ...a, '10.0.0.6': '10.0.0.6' } });
      const extra = cold<Readonly<Record<string, string>>>('e--------f', { e: {}, f: { '10.0.0.5': '1.1.1.1' } });
      expectObservable(mapIpText(nodes, extra)).toBe('-t---u---v', {
        t: '10.0.0.5: 34.1.2.3\n',
        u: '10.0.0.5: 34.1.2.3\n10.0.0.6: 10.0.0.6\n',
        v: '10.0.0.5: 1.1.1.1\n10.0.0.6: 10.0.0.6\n',
      });
    }));
});
