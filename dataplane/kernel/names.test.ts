import { status } from '../../operators/core/status.js';
import { describe, expect, it } from 'vitest';
import { statusOf } from '../../operators/core/errors.js';
import { aliasFor, interfaceNameFor, randomInterfaceName, staleLinks } from './names.js';

describe('interface names', () => {
  it('the forwarder proposes <service[:10]>-<hash in upstream\'s alphabet>, 15 chars, the same for the same connection', () => {
    const name = interfaceNameFor('icmp-responder', 'nsc-1-7');
    expect(name).toMatch(/^icmp-respo-[0-9A-Za-z]{4}$/);
    expect(interfaceNameFor('icmp-responder', 'nsc-1-7')).toBe(name);
    expect(interfaceNameFor('ns', 'a')).toMatch(/^ns-[0-9A-Za-z]{12}$/);
    expect(interfaceNameFor('a/b: c', 'a')).toMatch(/^abc-[0-9A-Za-z]{11}$/);
  });

  it('1,000 connections of a long service name share a name about as often as 62⁴ allows (hex digits: 16⁴, 7 pairs)', () => {
    const names = new Set(Array.from({ length: 1000 }, (_, i) => interfaceNameFor('icmp-responder', `nsc-${i}`)));
    // Expected pairs: 1000²/2/62⁴ ≈ 0.03; with 16⁴ names ≈ 7.6.
    expect(names.size).toBeGreaterThanOrEqual(999);
  });

  it('a name held by another connection is passed over for the next hash of the id, the same every time', () => {
    const first = interfaceNameFor('icmp-responder', 'nsc-1-7');
    const next = interfaceNameFor('icmp-responder', 'nsc-1-7', [first, undefined]);
    expect(next).toMatch(/^icmp-respo-[0-9A-Za-z]{4}$/);
    expect(next).not.toBe(first);
    expect(interfaceNameFor('icmp-responder', 'nsc-1-7', [undefined, first])).toBe(next);
    expect(interfaceNameFor('icmp-responder', 'nsc-1-7', ['other'])).toBe(first);
  });

  it('an interface nobody named gets upstream\'s random name', () => {
    expect(randomInterfaceName('icmp-responder')).toMatch(/^icmp-respo-[0-9A-Za-z]{4}$/);
    expect(randomInterfaceName('')).toMatch(/^nsm-[0-9A-Za-z]{11}$/);
  });
});

describe('staleLinks', () => {
  const mine = aliasFor('endpoint', 'nsc-1-7');
  const theirs = aliasFor('endpoint', 'nsc-6-2');

  it('takes this connection side\'s own interfaces, whatever their name (a crashed forwarder\'s, an old name)', () => {
    const present = [{ ifname: 'lo' }, { ifname: 'old-name', ifalias: mine }, { ifname: 'other', ifalias: theirs }];
    expect(staleLinks(present, 'icmp-respo-a1B2', mine)).toEqual(['old-name']);
  });

  it('never takes the name from another connection\'s interface: ALREADY_EXISTS, and it stays', () => {
    const present = [{ ifname: 'icmp-respo-a1B2', ifalias: theirs }];
    let error: unknown;
    try {
      staleLinks(present, 'icmp-respo-a1B2', mine);
    } catch (e) {
      error = e;
    }
    expect(statusOf(error)).toBe(status.ALREADY_EXISTS);
    expect(String(error)).toContain('nsc-6-2');
  });

  it('an interface nsm-rx did not make with that name is INVALID_ARGUMENT', () => {
    expect(() => staleLinks([{ ifname: 'eth0' }], 'eth0', mine)).toThrow(/was not made by nsm-rx/);
  });
});
