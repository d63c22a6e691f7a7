import { ReplaySubject } from 'rxjs';
import { delayWhen, tap } from 'rxjs/operators';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { Mesh } from './mesh.js';
import type { Sandbox } from './sandbox.js';

/**
 * `holdAnswers` (in a forwarder, before its connect): keeps the answers of the hops below until
 * `release`. The NSE has set the connection up and its answer is on the way back — a caller who
 * cancels now is heard only by the hops above; the NSE keeps what it set up.
 */
export class AnswerHolder {
  private readonly released = new ReplaySubject<void>(1);
  private heard: () => void = () => undefined;
  /** Resolves when the first answer is held. */
  readonly held = new Promise<void>((resolve) => (this.heard = resolve));

  readonly element: NetworkServiceElement = {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        tap(() => this.heard()),
        delayWhen(() => this.released),
      ),
  };

  /** Lets every answer held go on, and every later one pass. */
  release(): void {
    this.released.next();
  }
}

/**
 * A one-node sandbox mesh whose forwarder holds the NSE's answers (`answers`), and whose NSE
 * records the client's id of every Close it gets (`closedAtNse`).
 */
export async function heldAnswersMesh(sandbox: Sandbox): Promise<{ mesh: Mesh; answers: AnswerHolder; nse: Awaited<ReturnType<Mesh['endpoint']>>; closedAtNse: string[] }> {
  const mesh = await Mesh.build(sandbox, { defaultForwarder: false });
  const answers = new AnswerHolder();
  await mesh.addForwarder(0, { additional: [answers.element] });
  const closedAtNse: string[] = [];
  const recordCloses: NetworkServiceElement = {
    close: (conn, ctx, next) => {
      closedAtNse.push(conn.path?.pathSegments[0]?.id ?? ''); // the client's own id
      return next.close(conn, ctx);
    },
  };
  const nse = await mesh.endpoint(0, 'nse', { additional: [recordCloses] });
  return { mesh, answers, nse, closedAtNse };
}
