/**
 * The CLI frame, two ways: the real binary (bin/nsm-rx.js → dist/, so `npm run build` must have
 * run — `npm test` does that) for argument handling and exit codes, and `main` in-process with a
 * test registry for configuration errors, start-up and shutdown.
 */
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defineComponent } from './component.js';
import type { Registry } from './components.js';
import { duration, str, urlList } from './config.js';
import { type CliIo, main } from './main.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nsmRx = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['bin/nsm-rx.js', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });

describe('bin/nsm-rx.js', () => {
  it('--help lists the components and exits 0', () => {
    const r = nsmRx(['--help']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: nsm-rx <component> [--help]');
    expect(r.stdout).toContain('Components:');
  });

  it('an unknown component exits 2 naming the valid ones', () => {
    const r = nsmRx(['nosuch']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('unknown component "nosuch"; valid components:');
  });

  it('no component prints the usage on stderr and exits 2', () => {
    const r = nsmRx([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Usage: nsm-rx');
  });

  it('a stray flag exits 2', () => {
    const r = nsmRx(['--listen-on', 'x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unexpected argument "--listen-on"');
  });
});

class FakeProcess extends EventEmitter {
  readonly exits: number[] = [];
  exit(code = 0): void {
    this.exits.push(code);
  }
}

interface Harness {
  readonly io: CliIo;
  readonly proc: FakeProcess;
  readonly out: string[];
  readonly err: string[];
  readonly logs: () => Record<string, unknown>[];
}

function harness(argv: string[], env: Record<string, string> = {}): Harness {
  const proc = new FakeProcess();
  const out: string[] = [];
  const err: string[] = [];
  const logLines: string[] = [];
  const io: CliIo = {
    argv,
    env,
    proc,
    out: (s) => void out.push(s),
    err: (s) => void err.push(s),
    logWrite: (l) => void logLines.push(l),
    shutdownTimeoutMs: 1000,
  };
  return { io, proc, out, err, logs: () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** A daemon-shaped test component: starts, registers cleanup, stops when the signal aborts. */
function testRegistry(behaviour: 'daemon' | 'job' | 'fail' = 'daemon') {
  const calls: { config: unknown; events: string[] } = { config: undefined, events: [] };
  const component = defineComponent({
    name: 'echo',
    summary: 'test daemon',
    spec: {
      name: str('NSM_NAME', 'echo', 'Name'),
      listenOn: urlList('NSM_LISTEN_ON', 'unix:///tmp/echo.sock', 'Listen URLs'),
      dialTimeout: duration('NSM_DIAL_TIMEOUT', '750ms', 'Dial timeout'),
    },
    async run(config, ctx) {
      calls.config = config;
      calls.events.push(`run ${config.name} ${config.dialTimeout}ms`);
      ctx.lifecycle.onShutdown('close', () => void calls.events.push('cleanup'));
      if (behaviour === 'fail') throw new Error('cannot bind');
      if (behaviour === 'job') return;
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      calls.events.push('stopped');
    },
  });
  const registry: Registry = { echo: { summary: component.summary, load: () => Promise.resolve(component) } };
  return { registry, calls };
}

describe('main (in-process)', () => {
  it('refuses to start on bad values, listing all of them, exit 2', async () => {
    const { registry, calls } = testRegistry();
    const h = harness(['echo'], { NSM_DIAL_TIMEOUT: 'abc', NSM_LOG_LEVEL: 'loud', NSM_LISTEN_ON: 'nope' });
    await expect(main(h.io, registry)).resolves.toBe(2);
    const text = h.err.join('');
    expect(text).toContain('nsm-rx echo: invalid configuration, not starting:');
    expect(text).toContain('NSM_DIAL_TIMEOUT="abc": expected a Go duration such as 750ms, 15s or 1m');
    expect(text).toContain('NSM_LOG_LEVEL="loud"');
    expect(text).toContain('NSM_LISTEN_ON="nope"');
    expect(calls.events).toEqual([]);
    expect(h.proc.exits).toEqual([]);
    expect(h.logs()).toEqual([]);
  });

  it('tells the process once the component is loaded, before the component runs (cli turns young-generation growth back on there)', async () => {
    const { registry, calls } = testRegistry('job');
    const h = harness(['echo'], {});
    const order: string[] = [];
    const loaded = () => void order.push(`loaded, ${calls.events.length} events`);
    await expect(main({ ...h.io, loaded }, registry)).resolves.toBe(0);
    expect(order).toEqual(['loaded, 0 events']);
    expect(calls.events).toEqual(['run echo 750ms', 'cleanup']);
  });

  it('runs a daemon until SIGTERM, then runs cleanup and exits 0', async () => {
    const { registry, calls } = testRegistry();
    const h = harness(['echo'], { NSM_DIAL_TIMEOUT: '2s', NSM_LOG_LEVEL: 'debug', NSM_LISTEN_ONN: 'typo' });
    const done = main(h.io, registry);
    await new Promise((r) => setTimeout(r, 10));
    expect(calls.events).toEqual(['run echo 2000ms']);
    expect(calls.config).toMatchObject({ listenOn: [{ scheme: 'unix', path: '/tmp/echo.sock' }] });
    h.proc.emit('SIGTERM', 'SIGTERM');
    await expect(done).resolves.toBe(0);
    expect(calls.events).toEqual(['run echo 2000ms', 'stopped', 'cleanup']);
    expect(h.proc.exits).toEqual([0]);
    const logs = h.logs();
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warning', variable: 'NSM_LISTEN_ONN' }));
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'starting', component: 'echo' }));
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'shutting down', reason: 'signal SIGTERM' }));
    expect(h.proc.listenerCount('SIGTERM')).toBe(0);
  });

  it('a job that finishes exits 0 after cleanup', async () => {
    const { registry, calls } = testRegistry('job');
    const h = harness(['echo']);
    await expect(main(h.io, registry)).resolves.toBe(0);
    expect(calls.events).toEqual(['run echo 750ms', 'cleanup']);
    expect(h.proc.exits).toEqual([0]);
  });

  it('a failing component logs FATAL, cleans up and exits 1', async () => {
    const { registry, calls } = testRegistry('fail');
    const h = harness(['echo']);
    await expect(main(h.io, registry)).resolves.toBe(1);
    expect(calls.events).toEqual(['run echo 750ms', 'cleanup']);
    expect(h.logs()).toContainEqual(expect.objectContaining({ level: 'fatal', error: expect.objectContaining({ message: 'cannot bind' }) }));
    expect(h.proc.exits).toEqual([1]);
  });

  it('<component> --help shows its variables and the common ones without starting', async () => {
    const { registry, calls } = testRegistry();
    const h = harness(['echo', '--help'], { NSM_DIAL_TIMEOUT: 'abc' });
    await expect(main(h.io, registry)).resolves.toBe(0);
    const text = h.out.join('');
    expect(text).toContain('nsm-rx echo: test daemon');
    for (const v of ['NSM_NAME', 'NSM_LISTEN_ON', 'NSM_DIAL_TIMEOUT', 'NSM_LOG_LEVEL', 'NSM_PPROF_LISTEN_ON']) expect(text).toContain(v);
    expect(calls.events).toEqual([]);
  });

  it('--help lists registry entries; unknown names list the valid ones', async () => {
    const { registry } = testRegistry();
    const h = harness(['--help']);
    await expect(main(h.io, registry)).resolves.toBe(0);
    expect(h.out.join('')).toMatch(/ {2}echo {2}test daemon/);
    const u = harness(['constructor']);
    await expect(main(u.io, registry)).resolves.toBe(2);
    expect(u.err.join('')).toContain('unknown component "constructor"; valid components: echo');
  });
});
