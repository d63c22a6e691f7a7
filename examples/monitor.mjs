// Prints every connection event of a running mesh's nsmgr, pulled with for await.
//   NSM_CONNECT_TO=unix:///var/lib/networkservicemesh/nsm.io.sock node monitor.mjs
import { ConnectionEventType, State } from 'nsm-rx';
import { connect } from 'nsm-rx/client';

const client = await connect({ connectTo: process.env.NSM_CONNECT_TO ?? 'unix:///var/lib/networkservicemesh/nsm.io.sock', name: 'monitor' });
process.once('SIGTERM', () => client.close().then(() => process.exit(0)));
for await (const event of client.events()) {
  for (const conn of Object.values(event.connections)) {
    console.log(`${ConnectionEventType[event.type]} ${conn.path.pathSegments[0]?.id} ${State[conn.state]} ${conn.path.pathSegments.map((s) => s.name).join(' → ')}`);
  }
}
