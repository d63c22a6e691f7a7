import { createRequire } from 'node:module';
import dns2, { type DnsHandler } from 'dns2';

/** What a name has: an IPv4 address (an A record), or A, AAAA and an SRV port (target: the name itself). */
export type DnsEntry = string | { readonly a?: readonly string[]; readonly aaaa?: readonly string[]; readonly srvPort?: number };

/** Names (without the trailing dot) and their records; read on every query, so a test may add names later. */
export type DnsRecords = Readonly<Record<string, DnsEntry>>;

/**
 * The answers: the records of the name asked (A, AAAA or SRV), NOERROR without answers for a type
 * the name lacks, NXDOMAIN for other names. Self-contained (dns2 comes in as `d`): its source also
 * runs in another process.
 */
function answering(d: typeof dns2, records: DnsRecords): DnsHandler {
  return (request, send) => {
    const response = d.Packet.createResponseFromRequest(request);
    const question = request.questions[0];
    const name = question?.name.replace(/\.$/, '') ?? '';
    const entry = question ? records[name] : undefined;
    if (question && entry !== undefined) {
      const { a = [], aaaa = [], srvPort } = typeof entry === 'string' ? { a: [entry] } : entry;
      const add = (record: Record<string, unknown>) => response.answers.push(d.Packet.createResourceFromQuestion(question, { class: d.Packet.CLASS.IN, ttl: 60, ...record }));
      if (question.type === d.Packet.TYPE.A) for (const address of a) add({ type: d.Packet.TYPE.A, address });
      if (question.type === d.Packet.TYPE.AAAA) for (const address of aaaa) add({ type: d.Packet.TYPE.AAAA, address });
      if (question.type === d.Packet.TYPE.SRV && srvPort !== undefined) add({ type: d.Packet.TYPE.SRV, priority: 0, weight: 0, port: srvPort, target: name });
    } else response.header.rcode = 3; // NXDOMAIN
    void send(response);
  };
}

/**
 * A real DNS server for tests (dns2, UDP on 127.0.0.1, any free port) answering `records` (see
 * answering), after `delayMs` if given; `queries` counts what it was asked.
 */
export async function startDnsServer(records: DnsRecords, delayMs = 0): Promise<{ port: number; queries(): number; close(): Promise<void> }> {
  const answer = answering(dns2, records);
  let queries = 0;
  const handle: DnsHandler = (...args) => {
    queries++;
    if (delayMs > 0) setTimeout(() => answer(...args), delayMs);
    else answer(...args);
  };
  const server = dns2.createServer({ udp: true, handle });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return { port: addresses.udp?.port ?? 0, queries: () => queries, close: () => server.close() };
}

/**
 * The same server as a program (`node -e …`) on UDP `address`:53, for a network namespace this
 * process cannot enter (start it there with `ip netns exec`).
 */
export function dnsServerCommand(records: DnsRecords, address = '0.0.0.0'): string[] {
  const module = createRequire(import.meta.url).resolve('dns2');
  const source = [
    `const d = require(${JSON.stringify(module)});`,
    `const handle = (${answering.toString()})(d, ${JSON.stringify(records)});`,
    `d.createServer({ udp: true, handle }).listen({ udp: { port: 53, address: ${JSON.stringify(address)} } });`,
  ].join('\n');
  return [process.execPath, '-e', source];
}
