import { of } from 'rxjs';
import type { Mechanism } from '../proto/gen/connection.js';
import type { CrossConnect, Datapath } from './datapath.js';

/**
 * A datapath that programs nothing: the forwarder's control plane alone (sandbox, benchmarks).
 * It accepts KERNEL (local) or VXLAN (remote) from the previous hop and offers the same onwards,
 * and records what it was asked to program, so tests can check cross-connects are made and
 * removed.
 */
export class NoopDatapath implements Datapath {
  readonly name = 'noop';
  /** Connection id → the cross-connect currently programmed. */
  readonly programmed = new Map<string, CrossConnect>();

  incomingMechanisms(preferences: readonly Mechanism[]): Mechanism[] {
    return preferences.filter((m) => m.type === 'KERNEL' || m.type === 'VXLAN');
  }

  outgoingPreferences(remote: boolean): Mechanism[] {
    return [remote ? { cls: 'REMOTE', type: 'VXLAN', parameters: {} } : { cls: 'LOCAL', type: 'KERNEL', parameters: {} }];
  }

  program(x: CrossConnect) {
    this.programmed.set(x.incoming.id, x);
    return of(x.incoming.mechanism as Mechanism);
  }

  unprogram(x: CrossConnect) {
    this.programmed.delete(x.incoming.id);
    return of(undefined);
  }
}
