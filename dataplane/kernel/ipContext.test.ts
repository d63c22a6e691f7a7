import { describe, expect, it } from 'vitest';
import { ConnectionContext } from '../../proto/gen/connectioncontext.js';
import { statusOf } from '../../operators/core/errors.js';
import { configLines, interfaceConfig } from './ipContext.js';

const ctx = (ip: object, MTU = 0) => ConnectionContext.fromPartial({ ipContext: ip, MTU });

describe('interface config from the ConnectionContext (upstream connectioncontextkernel)', () => {
  it('the client side owns src addresses and src routes; peers outside its prefixes get link routes; routes go via the peer, on-link', () => {
    const c = ctx({ srcIpAddrs: ['169.254.0.1/32'], dstIpAddrs: ['169.254.0.0/32'], srcRoutes: [{ prefix: '169.254.10.0/24' }, { prefix: '169.254.0.0/32' }], dstRoutes: [{ prefix: '169.254.20.0/24', nextHop: '169.254.0.1' }] }, 1450);
    expect(interfaceConfig(c, 'client', 'nsm-1')).toEqual({
      mtu: 1450,
      addresses: ['169.254.0.1/32'],
      routes: ['169.254.0.0/32 dev nsm-1 scope link', '169.254.10.0/24 via 169.254.0.0 dev nsm-1 onlink'],
      neighbours: [],
      rules: [],
    });
    expect(interfaceConfig(c, 'endpoint', 'e').routes).toEqual(['169.254.0.1/32 dev e scope link', '169.254.20.0/24 via 169.254.0.1 dev e onlink']);
    // vl3: the NSE's address is its prefix's first one; the prefix route still goes via it.
    const vl3 = ctx({ srcIpAddrs: ['10.0.0.2/32'], dstIpAddrs: ['10.0.0.0/32'], srcRoutes: [{ prefix: '10.0.0.0/32', nextHop: '10.0.0.0' }, { prefix: '10.0.0.0/24', nextHop: '10.0.0.0' }] });
    expect(interfaceConfig(vl3, 'client', 'n').routes).toEqual(['10.0.0.0/32 dev n scope link', '10.0.0.0/24 via 10.0.0.0 dev n onlink']);
    // A peer inside our own prefix needs no route of its own.
    expect(interfaceConfig(ctx({ srcIpAddrs: ['169.254.0.1/31'], dstIpAddrs: ['169.254.0.0/31'] }), 'client', 'n').routes).toEqual([]);
  });

  it('policy routes (client side): each policy gets its own table with its routes (a default route via the peer when none) and a rule with pref, from, proto and ports', () => {
    const c = ctx({
      srcIpAddrs: ['169.254.0.1/32'],
      dstIpAddrs: ['169.254.0.0/32'],
      policies: [{ from: '169.254.0.1/32', proto: 'tcp', dstPort: '80', routes: [{ prefix: '169.254.30.0/24', nextHop: '169.254.0.0' }] }, { from: '169.254.0.1/32' }],
    });
    const config = interfaceConfig(c, 'client', 'nsm-1', { table: 1000, pref: 500 });
    expect(config.routes).toEqual(['169.254.0.0/32 dev nsm-1 scope link', '169.254.30.0/24 via 169.254.0.0 dev nsm-1 table 1000 onlink', '0.0.0.0/0 via 169.254.0.0 dev nsm-1 table 1001 onlink']);
    expect(config.rules).toEqual(['pref 500 from 169.254.0.1/32 ipproto tcp dport 80 table 1000', 'pref 501 from 169.254.0.1/32 table 1001']);
    expect(interfaceConfig(c, 'endpoint', 'e').rules).toEqual([]);
    expect(configLines('nsm-1', config, config)).toEqual([]);
    expect(configLines('nsm-1', config).filter((l) => l.startsWith('rule'))).toEqual(['rule add pref 500 from 169.254.0.1/32 ipproto tcp dport 80 table 1000', 'rule add pref 501 from 169.254.0.1/32 table 1001']);
    const bad = () => interfaceConfig(ctx({ policies: [{ from: '169.254.0.1/32', proto: 'tcp', dstPort: 'http' }] }), 'client', 'n');
    expect(bad).toThrow(/policies.dst_port: "http" is not a port or a range a-b/);
  });

  it('refresh with the same config gives no commands; a changed one removes what went and re-applies the rest', () => {
    const a = interfaceConfig(ctx({ srcIpAddrs: ['169.254.0.1/32'], dstIpAddrs: ['169.254.0.0/32'] }), 'client', 'nsm-1');
    const b = interfaceConfig(ctx({ srcIpAddrs: ['169.254.0.3/32'], dstIpAddrs: ['169.254.0.0/32'] }), 'client', 'nsm-1');
    expect(configLines('nsm-1', a, a)).toEqual([]);
    expect(configLines('nsm-1', b, a)).toEqual([
      'addr del 169.254.0.1/32 dev nsm-1',
      'addr replace 169.254.0.3/32 dev nsm-1',
      'link set dev nsm-1 up',
      'route replace 169.254.0.0/32 dev nsm-1 scope link',
    ]);
  });

  it('malformed values are INVALID_ARGUMENT naming the field and value', () => {
    const bad: [object, RegExp][] = [
      [{ srcIpAddrs: ['169.254.0.1'] }, /src_ip_addrs: "169.254.0.1" is not a CIDR/],
      [{ dstIpAddrs: ['x/32'] }, /dst_ip_addrs: "x\/32"/],
      [{ srcRoutes: [{ prefix: '10.0.0.0/8', nextHop: 'nope' }] }, /src_routes.next_hop: "nope"/],
      [{ ipNeighbors: [{ ip: '169.254.0.1', hardwareAddress: 'zz' }] }, /"zz" is not a MAC/],
    ];
    for (const [ip, message] of bad) {
      let err: unknown;
      try {
        interfaceConfig(ctx(ip), 'client', 'n');
      } catch (e) {
        err = e;
      }
      expect(statusOf(err)).toBe(3);
      expect(String(err)).toMatch(message);
    }
    expect(() => interfaceConfig(ctx({}, 20), 'client', 'n')).toThrow(/MTU: 20 is out of range/);
  });
});
