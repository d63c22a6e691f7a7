// One variant of the observability comparison in its own process (see turns.ts): builds its
// mesh, then runs the Request+Closes each turn asks for and answers with their durations.
import { Metrics } from '../../operators/tools/metrics.js';
import { otlpTracing } from '../../nodes/cli/observability.js';
import { requestCloseLoop } from './controlPlane.bench.js';

export type TurnVariant = 'off' | 'metrics' | 'both';
export type TurnCommand = { go: number } | 'stop';
/** A turn's answer: each Request+Close's duration, and the CPU time (user + system, all threads) the turn took. */
export type TurnMessage = { ready: string } | { ms: number[]; cpuMs: number } | { stopped: true };

const [variant, otlpEndpoint] = process.argv.slice(2) as [TurnVariant, string];
const send = (m: TurnMessage) => process.send?.(m);
const otlp = variant === 'both' ? await otlpTracing(otlpEndpoint, 'bench') : undefined;
const loop = await requestCloseLoop(false, true, {
  ...(variant === 'off' ? {} : { metrics: new Metrics() }),
  ...(otlp ? { tracing: otlp.tracing } : {}),
});
process.on('message', (command: TurnCommand) => {
  if (command !== 'stop')
    void (async () => {
      const ms: number[] = [];
      const cpu = process.cpuUsage();
      for (let i = 0; i < command.go; i++) {
        const t0 = process.hrtime.bigint();
        await loop.op();
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const { user, system } = process.cpuUsage(cpu);
      send({ ms, cpuMs: (user + system) / 1000 });
    })();
  else
    void (async () => {
      await loop.cleanup();
      await otlp?.shutdown();
      send({ stopped: true });
      process.disconnect();
    })();
});
send({ ready: loop.name });
