import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ask, nextMessage } from '../childMessages.js';
import { quantile, type BenchResult } from './stats.js';
import type { TurnCommand, TurnMessage, TurnVariant } from './turnWorker.js';

const answer = (child: ChildProcess): Promise<TurnMessage> => nextMessage(child, 'bench worker');
const command = (child: ChildProcess, c: TurnCommand): Promise<TurnMessage> => ask(child, c, 'bench worker');

/**
 * Local secure Request+Close, one process per variant, taking turns: each turn every process in
 * order runs `perTurn` Request+Closes while the others wait; `warmup` of them unrecorded, then
 * `iterations`. A slow spell of the machine lands on all variants alike, and each keeps its own
 * heap: the ratios of their p50s are steady where back-to-back runs are not.
 */
export async function takingTurns(variants: readonly TurnVariant[], otlpEndpoint: string, iterations: number, warmup: number, perTurn = 50): Promise<BenchResult[]> {
  const worker = fileURLToPath(new URL('./turnWorker.js', import.meta.url));
  const children = variants.map((v) => fork(worker, [v, otlpEndpoint], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    const names = (await Promise.all(children.map(answer))).map((m) => ('ready' in m ? m.ready : ''));
    for (const child of children) await command(child, { go: warmup });
    const samples: number[][] = variants.map(() => []);
    const cpuMs = variants.map(() => 0);
    for (let done = 0; done < iterations; done += perTurn)
      for (const [k, child] of children.entries()) {
        const m = await command(child, { go: Math.min(perTurn, iterations - done) });
        if ('ms' in m) {
          samples[k]?.push(...m.ms);
          cpuMs[k] = (cpuMs[k] ?? 0) + m.cpuMs;
        }
      }
    return samples.map((ms, k) => {
      const total = ms.reduce((a, b) => a + b, 0);
      const s = Float64Array.from(ms).sort();
      const extra = { cpuMsPerOp: Number(((cpuMs[k] ?? 0) / iterations).toFixed(3)) };
      return { name: `${names[k]} (turn by turn)`, iterations, opsPerSec: (iterations / total) * 1000, p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99), extra };
    });
  } finally {
    await Promise.all(
      children.map(async (child) => {
        if (!child.connected) return;
        await command(child, 'stop').catch(() => undefined);
      }),
    );
  }
}
