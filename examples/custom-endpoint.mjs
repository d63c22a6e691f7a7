// A network service endpoint with a chain element of its own: every client it serves is told,
// in the connection's extra context, which endpoint greeted it.
//   NSM_CONNECT_TO=unix:///var/lib/networkservicemesh/nsm.io.sock node custom-endpoint.mjs
import { fileURLToPath } from 'node:url';
import { startEndpoint } from 'nsm-rx';

/** The element: a Request passes on with the greeting in its context; a Close passes through (no `close`). */
export const greeting = (from) => ({
  request: (request, ctx, next) => {
    const context = request.connection.context ?? { extraContext: {} };
    request.connection.context = { ...context, extraContext: { ...context.extraContext, greeting: `hello from ${from}` } };
    return next.request(request, ctx);
  },
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const name = process.env.NSM_NAME ?? 'greeter';
  const nse = await startEndpoint({
    name,
    connectTo: process.env.NSM_CONNECT_TO ?? 'unix:///var/lib/networkservicemesh/nsm.io.sock',
    serviceNames: [process.env.NSM_SERVICE_NAMES ?? 'greeting'],
    cidrPrefix: process.env.NSM_CIDR_PREFIX ?? '169.254.2.0/24',
    elements: [greeting(name)],
  });
  console.log(`registered ${nse.registration.name} for ${nse.registration.networkServiceNames.join(', ')}`);
  process.once('SIGTERM', async () => {
    await nse.stop();
    console.log('unregistered');
  });
}
