import { State, type Connection } from '../../proto/gen/connection.js';

/** One box: its lines, drawn inside a frame as wide as the longest. */
function frame(lines: readonly string[]): string[] {
  const width = Math.max(...lines.map((l) => l.length));
  return [`┌${'─'.repeat(width + 2)}┐`, ...lines.map((l) => `│ ${l.padEnd(width)} │`), `└${'─'.repeat(width + 2)}┘`];
}

/**
 * A connection as people read it: a box per hop of its path, joined by arrows, the client's
 * box with its interface and address, the endpoint's with the interface the forwarder made for
 * it and its address.
 *
 * ```
 * nsc-0 UP
 * ┌────────────────┐   ┌───────┐   ┌───────────┐   ┌─────────────────┐
 * │ nsc            │──▶│ nsmgr │──▶│ forwarder │──▶│ icmp-responder  │
 * │ nsm-1          │   └───────┘   └───────────┘   │ icmp-respo-1a2b │
 * │ 169.254.0.1/32 │                               │ 169.254.0.0/32  │
 * └────────────────┘                               └─────────────────┘
 * ```
 */
export function connectionDiagram(conn: Connection): string {
  const segments = conn.path?.pathSegments ?? [];
  const metrics = segments.reduce<Record<string, string>>((all, s) => ({ ...all, ...s.metrics }), {});
  const ip = conn.context?.ipContext;
  const details = (i: number): string[] =>
    i === 0
      ? [conn.mechanism?.parameters['name'], ...(ip?.srcIpAddrs ?? [])].filter((x): x is string => !!x)
      : i === segments.length - 1
        ? [metrics['client_interface'], ...(ip?.dstIpAddrs ?? [])].filter((x): x is string => !!x)
        : [];
  const boxes = segments.map((s, i) => frame([s.name, ...details(i)]));
  const height = Math.max(0, ...boxes.map((b) => b.length));
  const rows = Array.from({ length: height }, (_, r) =>
    boxes
      .map((box, i) => {
        const cell = box[r] ?? ' '.repeat(box[0]?.length ?? 0);
        return i === 0 ? cell : `${r === 1 ? '──▶' : '   '}${cell}`;
      })
      .join('')
      .trimEnd(),
  );
  return [`${conn.id} ${State[conn.state] ?? conn.state}`, ...rows].join('\n');
}
