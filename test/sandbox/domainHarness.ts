import { afterEach, beforeEach, expect } from 'vitest';
import { Domain, DomainDns } from './domain.js';
import { leakedResources, resourceCounts, type ResourceCounts } from './leaks.js';

/**
 * What a test file of domains gets: a fresh DNS server per test, domains built on it, and after
 * each test the leak check of every domain, then of the process's timers and sockets.
 */
export function useDomains(): { readonly dns: DomainDns; domain(name: string, options?: { nodes?: number; proxies?: boolean }): Promise<Domain> } {
  let dns: DomainDns | undefined;
  let domains: Domain[] = [];
  let before: ResourceCounts;
  beforeEach(async () => {
    before = resourceCounts();
    dns = await DomainDns.start();
    domains = [];
  });
  afterEach(async () => {
    for (const d of domains) expect(d.sandbox.leftovers()).toEqual([]);
    for (const d of domains) await d.cleanup();
    await dns?.close();
    expect(await leakedResources(before)).toEqual([]);
  });
  return {
    get dns() {
      return dns as DomainDns;
    },
    async domain(name, options = {}) {
      const d = await Domain.build(name, dns as DomainDns, options);
      domains.push(d);
      return d;
    },
  };
}
