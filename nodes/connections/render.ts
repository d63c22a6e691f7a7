import type { ConnectionView, MeshView } from '../../streams/connectionsView.js';

const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19);

/** 1234.5 → `1.2 kB/s` (decimal units, as iperf and ip -s print). */
export function rate(bytesPerSecond: number): string {
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let v = bytesPerSecond;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u] ?? ''}`;
}

/** A hop's rates: `client rx 1.2 kB/s tx 900 B/s · server rx …` from its `*_rx_bytes`/`*_tx_bytes`. */
function hopLine(hop: ConnectionView['hops'][number]): string {
  const sides = ['client', 'server']
    .map((side) => {
      const parts = ['rx', 'tx'].filter((d) => hop.rates[`${side}_${d}_bytes`] !== undefined).map((d) => `${d} ${rate(hop.rates[`${side}_${d}_bytes`] ?? 0)}`);
      return parts.length > 0 ? `${side} ${parts.join(' ')}` : '';
    })
    .filter((p) => p !== '');
  return `${hop.name.padEnd(16)} ${sides.join(' · ')}`;
}

function connectionLines(c: ConnectionView): string[] {
  return [
    `${c.state.padEnd(6)}${c.networkService}  ${c.id}`,
    `      ${c.path.join(' → ')}`,
    `      ${c.srcIps.join(',') || '-'} → ${c.dstIps.join(',') || '-'}${c.interfaces.length > 0 ? `   interfaces ${c.interfaces.join(', ')}` : ''}`,
    ...c.hops.map((h) => `      ${hopLine(h)}`),
    ...c.events.map((e) => `      ${clock(e.at)}  ${e.what}`),
  ];
}

/** The view as the terminal shows it, one screen. */
export function render(view: MeshView): string {
  const sources = view.sources.map((s) => `${s.url} (${s.up ? 'up' : `down${s.error ? `: ${s.error}` : ''}`})`).join(', ');
  const n = view.connections.length;
  return [`nsm-rx connections · ${clock(view.at)} · ${sources}`, `${n} connection${n === 1 ? '' : 's'}`, '', ...view.connections.flatMap((c) => [...connectionLines(c), ''])].join('\n');
}
