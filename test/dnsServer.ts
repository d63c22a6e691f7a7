import dns2 from 'dns2';

/**
 * A real DNS server for tests (dns2, UDP on 127.0.0.1, any free port) answering A queries
 * from `records` (name without the trailing dot → address); other names get NXDOMAIN.
 */
export async function startDnsServer(records: Readonly<Record<string, string>>): Promise<{ port: number; close(): Promise<void> }> {
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = dns2.Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      const address = question && records[question.name.replace(/\.$/, '')];
      if (question && address) response.answers.push(dns2.Packet.createResourceFromQuestion(question, { type: dns2.Packet.TYPE.A, class: dns2.Packet.CLASS.IN, ttl: 60, address }));
      else response.header.rcode = 3; // NXDOMAIN
      void send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return { port: addresses.udp?.port ?? 0, close: () => server.close() };
}
