import { Subject, type Observable } from 'rxjs';
import { bitsOf, cidrNetwork, formatAddress, formatCidr, hostCidr, IpPool, parseCidr, tryParseCidr, type Cidr } from './cidr.js';

interface State {
  readonly self: Cidr;
  readonly free: IpPool;
  /** Client addresses handed out, as host CIDRs. */
  readonly taken: Set<string>;
}

/**
 * A vl3 NSE's addresses (upstream vl3.IPAM): the prefix it holds from ipam-vl3, its own address
 * (the prefix's first, as a host CIDR), the clients' host addresses pulled from the rest, and the
 * vl3 network's "global" prefix (half the address length). `reset` takes a new prefix (the prefix
 * server's answer); `resets$` tells the connections that must then Request again.
 */
export class Vl3Ipam {
  private state: State | undefined;
  private readonly resetSubject = new Subject<void>();
  /** Each reset, after it happened. */
  readonly resets$: Observable<void> = this.resetSubject.asObservable();

  constructor(prefix?: string, excluded: readonly string[] = []) {
    if (prefix !== undefined) this.reset(prefix, excluded);
  }

  /** Whether a prefix has been set (until then there is nothing to hand out). */
  get initialized(): boolean {
    return this.state !== undefined;
  }

  /** Takes `prefix` (its network) with `excluded` left out; a new prefix forgets what was handed out, the same one keeps it. Throws on a value that is not a CIDR. */
  reset(prefix: string, excluded: readonly string[] = []): void {
    const self = cidrNetwork(parseCidr(prefix));
    const free = IpPool.of(self.family, [self]);
    const own = hostCidr({ family: self.family, value: self.address });
    free.exclude(own);
    for (const e of excluded) {
      const c = tryParseCidr(e);
      if (c?.family === self.family) free.exclude(c);
    }
    // The same prefix again (the prefix stream reconnected): its clients keep their addresses.
    const kept = this.state !== undefined && formatCidr(this.state.self) === formatCidr(self) ? this.state.taken : new Set<string>();
    for (const address of kept) free.exclude(address);
    this.state = { self, free, taken: kept };
    this.resetSubject.next();
  }

  private get current(): State {
    if (this.state === undefined) throw new Error('vl3 prefix pool is initializing');
    return this.state;
  }

  /** The NSE's own address as a host CIDR (`10.0.0.0/32`). */
  selfAddress(): string {
    const { self } = this.current;
    return formatCidr(hostCidr({ family: self.family, value: self.address }));
  }

  /** The NSE's own address alone (`10.0.0.0`), the next hop of its routes. */
  selfIp(): string {
    const { self } = this.current;
    return formatAddress(self.family, self.address);
  }

  /** The prefix this NSE holds (`10.0.0.0/24`). */
  selfPrefix(): string {
    return formatCidr(this.current.self);
  }

  /** The whole vl3 network as upstream routes it: half the address length (`10.0.0.0/16`, a /64 for IPv6), as a network the kernel takes. */
  globalPrefix(): string {
    const { self } = this.current;
    return formatCidr(cidrNetwork({ ...self, prefixLength: bitsOf(self.family) / 2 }));
  }

  /** The lowest free host address (`10.0.0.1/32`), or undefined when the prefix is used up. */
  allocate(): string | undefined {
    const { free, taken } = this.current;
    const ip = free.pull();
    if (ip === undefined) return undefined;
    const address = formatCidr(hostCidr(ip));
    taken.add(address);
    return address;
  }

  /** Gives back an address this pool handed out (anything else is left alone). */
  freeIfAllocated(address: string): void {
    const state = this.state;
    const c = tryParseCidr(address);
    if (state === undefined || c === undefined || !state.taken.delete(address)) return;
    state.free.add(c);
  }
}
