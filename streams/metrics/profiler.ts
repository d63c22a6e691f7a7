import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Session } from 'node:inspector/promises';
import { getHeapStatistics } from 'node:v8';
import { lastValueFrom, timer } from 'rxjs';
import { hostPortOf, parseListenOn } from './prometheusServer.js';

export interface ProfilerServer {
  /** e.g. `http://127.0.0.1:6060/debug/pprof/` */
  readonly url: string;
  close(): Promise<void>;
}

/** The longest CPU profile one request may ask for, s (Go's pprof takes what it is given; a bound keeps a typo from holding the profiler for hours). */
const MAX_SECONDS = 300;

const INDEX = `nsm-rx profiling (NSM_PPROF_ENABLED), from Node's inspector:
/debug/pprof/profile?seconds=30   CPU profile (.cpuprofile: Chrome DevTools → Performance, or speedscope)
/debug/pprof/heap                 heap snapshot (.heapsnapshot: Chrome DevTools → Memory)
/debug/pprof/heap?debug=1         V8's heap statistics as text (gc=1: after a full collection, so used_heap_size is what is live)
`;

/** A CPU profile of this process over `seconds`, as V8 gives it (the .cpuprofile JSON). */
async function cpuProfile(session: Session, seconds: number): Promise<string> {
  await session.post('Profiler.enable');
  try {
    await session.post('Profiler.start');
    await lastValueFrom(timer(seconds * 1000));
    const { profile } = await session.post('Profiler.stop');
    return JSON.stringify(profile);
  } finally {
    await session.post('Profiler.disable');
  }
}

/** A heap snapshot of this process, streamed out in V8's chunks (a snapshot can be large). */
async function heapSnapshot(session: Session, res: ServerResponse): Promise<void> {
  const write = (m: { params: { chunk: string } }) => res.write(m.params.chunk);
  session.on('HeapProfiler.addHeapSnapshotChunk', write);
  try {
    await session.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  } finally {
    session.off('HeapProfiler.addHeapSnapshotChunk', write);
  }
}

/**
 * V8's heap statistics as `name value` lines; with `collect`, after a full collection (Go's
 * `gc=1`), so that `used_heap_size` is the live heap: what a leak hunt follows, without the
 * download of a snapshot or the sawtooth of garbage between collections.
 */
async function heapStatistics(session: Session, collect: boolean): Promise<string> {
  if (collect) await session.post('HeapProfiler.collectGarbage');
  const lines = Object.entries(getHeapStatistics()).map(([name, value]) => `${name} ${String(value)}`);
  return `# V8 heap statistics${collect ? ', after a full collection' : ''}\n${lines.join('\n')}\n`;
}

/**
 * Profiling on NSM_PPROF_LISTEN_ON (upstream's pprofutils serves Go's net/http/pprof there), from
 * Node's inspector: CPU profiles at `/debug/pprof/profile?seconds=N` and heap snapshots at
 * `/debug/pprof/heap` (`?debug=1`: V8's heap statistics as text, `gc=1` after a full collection),
 * in V8's formats; one profile at a time (the inspector has one profiler).
 * Plain HTTP, as upstream: keep it on localhost.
 */
export async function serveProfiler(listenOn: string): Promise<ProfilerServer> {
  const [host, port] = parseListenOn(listenOn, 'NSM_PPROF_LISTEN_ON');
  const session = new Session();
  session.connect();
  let busy = false;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://profiler');
    if (url.pathname === '/debug/pprof/' || url.pathname === '/debug/pprof') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(INDEX);
    if (url.pathname !== '/debug/pprof/profile' && url.pathname !== '/debug/pprof/heap') return void res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found\n${INDEX}`);
    const seconds = Number(url.searchParams.get('seconds') ?? '30');
    if (url.pathname === '/debug/pprof/profile' && !(seconds > 0 && seconds <= MAX_SECONDS)) {
      return void res.writeHead(400, { 'content-type': 'text/plain' }).end(`seconds=${url.searchParams.get('seconds') ?? ''}: expected a number of seconds in (0, ${MAX_SECONDS}]\n`);
    }
    if (busy) return void res.writeHead(409, { 'content-type': 'text/plain' }).end('a profile is being taken; try again when it is done\n');
    busy = true;
    try {
      if (url.pathname === '/debug/pprof/heap' && url.searchParams.get('debug') === '1') {
        const text = await heapStatistics(session, url.searchParams.get('gc') === '1');
        res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
      } else if (url.pathname === '/debug/pprof/heap') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-disposition': 'attachment; filename="nsm-rx.heapsnapshot"' });
        await heapSnapshot(session, res);
        res.end();
      } else {
        const profile = await cpuProfile(session, seconds);
        res.writeHead(200, { 'content-type': 'application/json', 'content-disposition': 'attachment; filename="nsm-rx.cpuprofile"' }).end(profile);
      }
    } finally {
      busy = false;
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => (res.headersSent ? res.destroy() : res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`profiler cannot listen on ${listenOn}: ${e.message}`)));
    server.listen(port, host, () => resolve());
  });
  return {
    url: `http://${hostPortOf(server)}/debug/pprof/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          session.disconnect();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
