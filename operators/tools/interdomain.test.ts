import { describe, expect, it } from 'vitest';
import { domainOf, interdomainProblem, isInterdomain, joinDomain, targetOf } from './interdomain.js';

describe('interdomain names', () => {
  it('splits name@domain at the @, and joins it back', () => {
    expect(isInterdomain('icmp-responder@cluster2')).toBe(true);
    expect(isInterdomain('icmp-responder')).toBe(false);
    expect(domainOf('icmp-responder@my.cluster2')).toBe('my.cluster2');
    expect(targetOf('icmp-responder@my.cluster2')).toBe('icmp-responder');
    expect(domainOf('local')).toBe('');
    expect(targetOf('local')).toBe('local');
    expect(joinDomain('nse-1', 'floating.domain')).toBe('nse-1@floating.domain');
    expect(joinDomain('nse-1', '')).toBe('nse-1');
  });

  it('names two @, or an empty part, as the problem', () => {
    expect(interdomainProblem('a@b@c')).toMatch(/has 2 "@"/);
    expect(interdomainProblem('@cluster2')).toMatch(/both parts/);
    expect(interdomainProblem('svc@')).toMatch(/both parts/);
    expect(interdomainProblem('svc@cluster2')).toBeUndefined();
    expect(interdomainProblem('svc')).toBeUndefined();
  });
});
