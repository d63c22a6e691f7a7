import { throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { State, type Connection } from '../../proto/gen/connection.js';
import { unavailable } from '../../operators/core/errors.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { AnswerHolder, heldAnswersMesh } from '../../test/sandbox/holdAnswers.js';
import { useSandbox } from '../../test/sandbox/harness.js';
import { Mesh } from '../../test/sandbox/mesh.js';
import { connect } from './client.js';
import { startEndpoint } from './endpoint.js';

describe('the library surface in a sandbox (NSM_INSECURE, no-op datapath)', () => {
  const h = useSandbox({ secure: false });

  it('connect: request is an Observable of the connection; close() Closes what is still requested and releases everything', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const nse = await mesh.endpoint(0, 'nse');
    const client = await connect({ connectTo: mesh.nodes[0]!.nsmgr.url.href, insecure: true, name: 'app' });
    const events: string[] = [];
    const watching = client.monitor().subscribe((e) => events.push(...Object.values(e.connections).map((c) => c.path?.pathSegments.map((s) => s.name).join('>') ?? '')));
    // One subscription, one Request (each subscription requests anew).
    const first = await new Promise<Connection>((resolve) => client.request('kernel://ns/nsm-1').subscribe((c) => c.state === State.UP && resolve(c)));
    expect([first.id, ...(first.path?.pathSegments.map((s) => s.name) ?? [])]).toEqual(['app-0', 'app', 'nsmgr-0', 'forwarder-0-0', 'nse']);
    expect(nse.leftovers()).not.toEqual([]); // the NSE holds the connection
    watching.unsubscribe();
    await client.close(); // the subscriptions above were left open: close() ends them, each Closing
    expect(nse.leftovers()).toEqual([]);
    expect(events.some((p) => p === 'app>nsmgr-0>forwarder-0-0>nse')).toBe(true);
  });

  it('connect: unsubscribing while the Request is in flight Closes the connection once the hops have finished it', async () => {
    const { mesh, answers, nse, closedAtNse } = await heldAnswersMesh(h.sandbox);
    const client = await connect({ connectTo: mesh.nodes[0]!.nsmgr.url.href, insecure: true, name: 'app' });
    const seen: Connection[] = [];
    const subscription = client.request('kernel://ns/nsm-1').subscribe((c) => seen.push(c));
    await answers.held;
    expect(nse.leftovers()).not.toEqual([]); // the NSE has it; nobody upstream has heard yet
    subscription.unsubscribe();
    answers.release();
    await client.close(); // awaits the Close of the connection the Request made after all
    expect(seen).toEqual([]);
    expect(closedAtNse).toEqual(['app-0']);
    expect(nse.counter.closes).toBe(1);
    expect(nse.leftovers()).toEqual([]);
  });

  it('connect: close() while a Request is in flight waits for it and Closes what it made', async () => {
    const mesh = await Mesh.build(h.sandbox, { defaultForwarder: false });
    const answers = new AnswerHolder();
    await mesh.addForwarder(0, { additional: [answers.element] });
    const nse = await mesh.endpoint(0, 'nse');
    const client = await connect({ connectTo: mesh.nodes[0]!.nsmgr.url.href, insecure: true, name: 'app' });
    client.request('kernel://ns/nsm-1').subscribe();
    await answers.held;
    let closed = false;
    const closing = client.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false); // the answer is still held: nothing to Close yet
    answers.release();
    await closing;
    expect(nse.counter.closes).toBe(1);
    expect(nse.leftovers()).toEqual([]);
  });

  it('connect: unsubscribing while its tries fail (the NSE refuses) Closes nothing and leaves nothing', async () => {
    const mesh = await Mesh.build(h.sandbox);
    let refusedOnce = () => {};
    const refused = new Promise<void>((resolve) => (refusedOnce = resolve));
    const refuse: NetworkServiceElement = {
      request: () => {
        refusedOnce();
        return throwError(() => unavailable('not today'));
      },
    };
    const nse = await mesh.endpoint(0, 'nse', { additional: [refuse] });
    const client = await connect({ connectTo: mesh.nodes[0]!.nsmgr.url.href, insecure: true, name: 'app' });
    const subscription = client.request('kernel://ns/nsm-1').subscribe();
    await refused;
    subscription.unsubscribe();
    await client.close();
    expect(nse.counter.closes).toBe(0);
    expect(nse.leftovers()).toEqual([]);
  });

  it('bad input is refused before anything starts, naming what is wrong', async () => {
    await expect(startEndpoint({ name: 'x', connectTo: 'nonsense://x', serviceNames: ['s'], insecure: true })).rejects.toThrow(/unsupported scheme "nonsense"/);
    await expect(startEndpoint({ name: 'x', connectTo: 'unix:///x.sock', serviceNames: ['s'], cidrPrefix: '10.0.0.0/99', insecure: true })).rejects.toThrow(/"10\.0\.0\.0\/99" is not a CIDR/);
    await expect(connect({ connectTo: 'nonsense://x', insecure: true })).rejects.toThrow(/unsupported scheme "nonsense"/);
  });
});
