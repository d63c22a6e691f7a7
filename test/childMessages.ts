import type { ChildProcess, Serializable } from 'node:child_process';

/** The next IPC message from `child` (a process forked by a test or bench); a failure naming `who` if it exits first. */
export const nextMessage = <M>(child: ChildProcess, who: string): Promise<M> =>
  new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${who} exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (m: M) => {
      child.off('exit', onExit);
      resolve(m);
    });
  });

/** Sends `command` to `child` and waits for its answer. */
export const ask = <C extends Serializable, M>(child: ChildProcess, command: C, who: string): Promise<M> => {
  const reply = nextMessage<M>(child, who);
  child.send(command);
  return reply;
};
