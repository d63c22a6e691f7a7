import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';

/** An IPv4/IPv6 address as the 16 bytes Go's net.IP.To16 compares (v4 as ::ffff:a.b.c.d). */
function bytes16(ip: string): Uint8Array | undefined {
  const family = isIP(ip);
  if (family === 4) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...ip.split('.').map(Number)]);
  if (family !== 6) return undefined;
  const [head = '', tail = ''] = ip.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return Uint8Array.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

/**
 * Upstream EvenVNI: the side whose address sorts first picks even VNIs, the other odd ones,
 * so two forwarders never pick the same VNI for opposite directions. An unparsable src gives
 * even, an unparsable dst odd (as upstream).
 */
export function evenVni(srcIp: string, dstIp: string): boolean {
  const src = bytes16(srcIp);
  if (src === undefined) return true;
  const dst = bytes16(dstIp);
  if (dst === undefined) return false;
  for (let i = 0; i < 16; i++) if (src[i] !== dst[i]) return (src[i] as number) < (dst[i] as number);
  return true;
}

/**
 * Picks a VNI for a connection from `srcIp` to `dstIp` not in `used`: random, 24 bits,
 * never 0, with upstream's parity rule.
 */
export function allocateVni(srcIp: string, dstIp: string, used: ReadonlySet<number>): number {
  const parity = evenVni(srcIp, dstIp) ? 0 : 1;
  for (;;) {
    const vni = ((randomInt(0, 1 << 23) << 1) | parity) & 0xffffff;
    if (vni !== 0 && !used.has(vni)) return vni;
  }
}
