import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CollectorCommand, CollectorMessage } from './collector.js';

/** A collector process as a bench drives it. */
export interface CollectorProcess {
  /** How many spans and metric points it has received so far. */
  count(): Promise<{ spans: number; points: number }>;
  stop(): Promise<void>;
}

/** The next message from `child`, or a failure if it exits first. */
const next = (child: ChildProcess): Promise<CollectorMessage> =>
  new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`OTLP collector exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (m: CollectorMessage) => {
      child.off('exit', onExit);
      resolve(m);
    });
  });

/**
 * An OTLP/gRPC collector on `address` in a process of its own, as it is deployed: decoding
 * what the daemons export must not take the event loop of the client being measured.
 */
export async function startCollectorProcess(address: string): Promise<CollectorProcess> {
  const child = fork(fileURLToPath(new URL('./collector.js', import.meta.url)), [address], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await next(child);
  const ask = (command: CollectorCommand) => {
    const answer = next(child);
    child.send(command);
    return answer;
  };
  return {
    count: async () => {
      const m = await ask('count');
      return 'spans' in m ? m : { spans: 0, points: 0 };
    },
    stop: async () => {
      if (child.connected) await ask('stop');
    },
  };
}
