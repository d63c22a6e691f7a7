// The soak's churn, run inside its own netns (`ip netns exec <ns> node churnWorker.js`): SOAK_LOOPS
// loops, each Requesting `kernel://icmp-responder/ch<k>` from NSM_CONNECT_TO through the library
// client, holding the connection SOAK_HOLD_MS, then Closing it and waiting for the nsmgr to report
// it gone, over and over. Prints a JSON line per cycle ({"event":"cycle","ms":…} or
// {"event":"failed","error":…}); on SIGTERM each loop ends its cycle (Closing what it holds), then it exits.
import { filter, firstValueFrom, ReplaySubject, share, timeout, type Observable } from 'rxjs';
import { ConnectionEventType, type Connection, type ConnectionEvent } from '../../proto/gen/connection.js';
import { connect, type NsmClient } from '../../nodes/lib/client.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`churnWorker needs ${name}`);
  return value;
};

const say = (event: object): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One Request, held for `holdMs`, then Closed: resolves once `events` (the nsmgr's monitor,
 * watched all along so that no deletion can slip past) reports the connection deleted.
 */
async function cycle(client: NsmClient, events: Observable<ConnectionEvent>, service: string, holdMs: number): Promise<void> {
  const connection = new ReplaySubject<Connection>(1);
  const held = client.request(service).subscribe(connection); // unsubscribing Closes it
  try {
    const id = (await firstValueFrom(connection.pipe(timeout(30_000)))).path?.pathSegments[0]?.id;
    await sleep(holdMs);
    const gone = firstValueFrom(
      events.pipe(
        filter((e) => e.type === ConnectionEventType.DELETE && Object.values(e.connections).some((c) => c.path?.pathSegments[0]?.id === id)),
        timeout(30_000),
      ),
    );
    held.unsubscribe();
    await gone;
  } finally {
    held.unsubscribe();
  }
}

async function main(): Promise<void> {
  const client = await connect({ connectTo: env('NSM_CONNECT_TO'), name: env('NSM_NAME') });
  const loops = Number(env('SOAK_LOOPS'));
  const holdMs = Number(env('SOAK_HOLD_MS'));
  const events = client.monitor().pipe(share());
  const watching = events.subscribe();
  let stopping = false;
  process.once('SIGTERM', () => (stopping = true));
  await Promise.all(
    Array.from({ length: loops }, async (_, k) => {
      while (!stopping) {
        const started = performance.now();
        await cycle(client, events, `kernel://icmp-responder/ch${k}`, holdMs).then(
          () => say({ event: 'cycle', loop: k, ms: Math.round(performance.now() - started) }),
          (e: unknown) => say({ event: 'failed', loop: k, error: String(e) }),
        );
      }
    }),
  );
  watching.unsubscribe();
  await client.close();
  process.exit(0);
}

await main();
