import { readFile } from 'node:fs/promises';
import type { SchedulerLike } from 'rxjs';
import { dnsResolver, parseResolvConf, type DnsResolver } from './resolver.js';

/** The system's resolver configuration (what Go's resolver reads). */
export const RESOLV_CONF = '/etc/resolv.conf';

/** A resolver asking the name servers of a resolv.conf file, with its timeout and attempts. */
export async function resolverFromFile(path: string, scheduler?: SchedulerLike): Promise<{ resolver: DnsResolver; servers: string[] }> {
  const text = await readFile(path, 'utf8').catch((e: unknown) => {
    throw new Error(`cannot read the resolver configuration ${path} (NSM_RESOLV_CONF): ${e instanceof Error ? e.message : String(e)}`);
  });
  const conf = parseResolvConf(text);
  if (conf.servers.length === 0) throw new Error(`${path} (NSM_RESOLV_CONF) names no nameserver`);
  return { resolver: dnsResolver({ ...conf, ...(scheduler ? { scheduler } : {}) }), servers: conf.servers.map((s) => s.address) };
}
