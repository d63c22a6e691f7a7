import { BehaviorSubject, type Observable } from 'rxjs';
import { distinctUntilChanged, filter } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import { DNSConfig } from '../../proto/gen/connectioncontext.js';
import type { DnsTemplate } from './dnsTemplate.js';

const fqdn = (name: string): string => `${name.toLowerCase().replace(/\.$/, '')}.`;

/**
 * What a vl3 NSE's DNS knows (upstream vl3dns's shared maps): the names of the network's
 * clients it serves (from the DNS templates) with their addresses, the DNS servers of the other
 * vl3 NSEs (learned from their connections, per connection), and its own DNS server address.
 */
export class Vl3Dns {
  private readonly records = new Map<string, readonly string[]>();
  private readonly peerConfigs = new Map<string, readonly DNSConfig[]>();
  private readonly peers = new BehaviorSubject<readonly DNSConfig[]>([]);
  private readonly server = new BehaviorSubject<string | undefined>(undefined);

  constructor(readonly templates: readonly DnsTemplate[]) {}

  /** The connection's names under every template. */
  namesOf(conn: Connection): string[] {
    return this.templates.map((t) => fqdn(t.render(conn)));
  }

  store(names: readonly string[], addresses: readonly string[]): void {
    for (const name of names) this.records.set(fqdn(name), [...addresses]);
  }

  forget(names: readonly string[]): void {
    for (const name of names) this.records.delete(fqdn(name));
  }

  lookup(name: string): readonly string[] | undefined {
    return this.records.get(fqdn(name));
  }

  get size(): number {
    return this.records.size;
  }

  /** The peers' DNS configs one connection brought (`key` names the connection). */
  setPeers(key: string, configs: readonly DNSConfig[]): void {
    if (configs.length === 0) this.peerConfigs.delete(key);
    else this.peerConfigs.set(key, configs.map((c) => DNSConfig.fromPartial(c)));
    this.peers.next([...this.peerConfigs.values()].flat());
  }

  /** Every peer's DNS config, as they change: whom the DNS server asks for names it does not know. */
  readonly peers$: Observable<readonly DNSConfig[]> = this.peers.asObservable();

  get peerCount(): number {
    return this.peerConfigs.size;
  }

  /** This NSE's own DNS server address (its vl3 address), once it has one. */
  serverIp(): string | undefined {
    return this.server.value;
  }

  setServerIp(ip: string): void {
    this.server.next(ip);
  }

  /** The DNS server address as it becomes known and changes. */
  readonly serverIp$: Observable<string> = this.server.pipe(
    filter((ip): ip is string => ip !== undefined),
    distinctUntilChanged(),
  );
}
