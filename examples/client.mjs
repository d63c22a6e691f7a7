// A client that requests a network service and reacts when the mesh heals its connection.
//   NSM_CONNECT_TO=unix:///var/lib/networkservicemesh/nsm.io.sock node client.mjs kernel://greeting/nsm-1
import { State } from 'nsm-rx';
import { connect } from 'nsm-rx/client';

const client = await connect({ connectTo: process.env.NSM_CONNECT_TO ?? 'unix:///var/lib/networkservicemesh/nsm.io.sock', name: process.env.NSM_NAME ?? 'app' });
const route = (conn) => conn.path.pathSegments.map((s) => s.name).join(' → ');
let last;
const subscription = client.request(process.argv[2] ?? 'kernel://greeting/nsm-1').subscribe({
  next: (conn) => {
    const state = State[conn.state] ?? conn.state;
    if (last === undefined) console.log(`connected ${conn.id} via ${route(conn)}; ${conn.context?.extraContext?.greeting ?? 'no greeting'}`);
    else if (route(conn) !== route(last)) console.log(`healed: now via ${route(conn)} (was ${route(last)})`);
    else console.log(`state ${state}`);
    last = conn;
  },
  error: (e) => console.error(`request failed: ${e.message}`),
});
process.once('SIGTERM', async () => {
  subscription.unsubscribe(); // Closes the connection
  await client.close();
  console.log('closed');
});
