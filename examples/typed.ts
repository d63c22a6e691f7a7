// The greeting element and a client in TypeScript: what the package's type declarations give
// (CI checks this file with tsc --strict against the packed package).
import { type NetworkServiceElement } from 'nsm-rx';
import { connect, type NsmClient } from 'nsm-rx/client';

export const greeting = (from: string): NetworkServiceElement => ({
  request: (request, ctx, next) => {
    const connection = request.connection;
    if (connection?.context) connection.context.extraContext['greeting'] = `hello from ${from}`;
    return next.request(request, ctx);
  },
});

export async function firstPath(connectTo: string): Promise<string[]> {
  const client: NsmClient = await connect({ connectTo, insecure: true });
  for await (const event of client.events()) {
    const first = Object.values(event.connections)[0];
    if (first) return first.path?.pathSegments.map((s) => s.name) ?? [];
  }
  return [];
}
