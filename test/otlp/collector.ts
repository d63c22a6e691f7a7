// An OTLP/gRPC collector in a process of its own (see collectorProcess.ts): started on argv[2],
// it says `ready`, answers `count` with how many spans and points it has received, and stops on `stop`.
import { startOtlpReceiver } from './receiver.js';

export type CollectorCommand = 'count' | 'stop';
export type CollectorMessage = { ready: true } | { spans: number; points: number } | { stopped: true };

const receiver = await startOtlpReceiver(process.argv[2] ?? '');
const send = (m: CollectorMessage) => process.send?.(m);
process.on('message', (command: CollectorCommand) => {
  if (command === 'count') send({ spans: receiver.spans.length, points: receiver.points.length });
  else
    void receiver.stop().then(() => {
      send({ stopped: true });
      process.disconnect();
    });
});
send({ ready: true });
