import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ask, nextMessage } from '../childMessages.js';
import type { CollectorCommand, CollectorMessage } from './collector.js';

/** A collector process as a bench drives it. */
export interface CollectorProcess {
  /** How many spans and metric points it has received so far. */
  count(): Promise<{ spans: number; points: number }>;
  stop(): Promise<void>;
}

/**
 * An OTLP/gRPC collector on `address` in a process of its own, as it is deployed: decoding
 * what the daemons export must not take the event loop of the client being measured.
 */
export async function startCollectorProcess(address: string): Promise<CollectorProcess> {
  const child = fork(fileURLToPath(new URL('./collector.js', import.meta.url)), [address], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await nextMessage<CollectorMessage>(child, 'OTLP collector');
  const tell = (command: CollectorCommand) => ask<CollectorCommand, CollectorMessage>(child, command, 'OTLP collector');
  return {
    count: async () => {
      const m = await tell('count');
      return 'spans' in m ? m : { spans: 0, points: 0 };
    },
    stop: async () => {
      if (child.connected) await tell('stop');
    },
  };
}
