import type { InterfaceCounters } from './kernel/iproute.js';

/** One interface's counters in upstream's metric keys (`prefix`: `server_` or `client_`). */
export function segmentMetrics(prefix: string, name: string, c: InterfaceCounters): Record<string, string> {
  return {
    [`${prefix}interface`]: name,
    [`${prefix}rx_bytes`]: String(c.rx.bytes),
    [`${prefix}tx_bytes`]: String(c.tx.bytes),
    [`${prefix}rx_packets`]: String(c.rx.packets),
    [`${prefix}tx_packets`]: String(c.tx.packets),
    [`${prefix}drops`]: String(c.rx.dropped + c.tx.dropped),
  };
}

