import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../operators/tools/log.js';
import { createLifecycle, installLevelSignals } from './lifecycle.js';

/** A process stand-in: signals are emitted by the test, exits are recorded. */
class FakeProcess extends EventEmitter {
  readonly exits: number[] = [];
  exit(code = 0): void {
    this.exits.push(code);
  }
  kill(sig: NodeJS.Signals): void {
    this.emit(sig, sig);
  }
}

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('createLifecycle', () => {
  it('on SIGTERM runs hooks in reverse order, aborts the signal, then exits 0', async () => {
    const proc = new FakeProcess();
    const lc = createLifecycle({ proc });
    const order: string[] = [];
    lc.onShutdown('sockets', () => void order.push('remove sockets'));
    lc.onShutdown('registry', async () => {
      await tick(5);
      order.push('unregister');
    });
    lc.onShutdown('conns', () => void order.push('close connections'));
    expect(lc.stopping).toBe(false);

    proc.kill('SIGTERM');
    expect(lc.signal.aborted).toBe(true);
    expect(lc.signal.reason).toBe('signal SIGTERM');
    expect(lc.stopping).toBe(true);
    expect(proc.exits).toEqual([]);
    await expect(lc.shutdown('again')).resolves.toBe(0);
    expect(order).toEqual(['close connections', 'unregister', 'remove sockets']);
    expect(proc.exits).toEqual([0]);
    lc.dispose();
  });

  it('keeps going when a hook fails', async () => {
    const proc = new FakeProcess();
    const lines: string[] = [];
    const lc = createLifecycle({ proc, log: createLogger('t', 'INFO', { write: (l) => lines.push(l) }) });
    const order: string[] = [];
    lc.onShutdown('a', () => void order.push('a'));
    lc.onShutdown('b', () => {
      throw new Error('b broke');
    });
    await lc.shutdown('test', 3);
    expect(order).toEqual(['a']);
    expect(proc.exits).toEqual([3]);
    expect(lines.join('')).toContain('b broke');
    lc.dispose();
  });

  it('bounds the hooks by the timeout and still exits', async () => {
    const proc = new FakeProcess();
    const lc = createLifecycle({ proc, timeoutMs: 20 });
    const ran: string[] = [];
    lc.onShutdown('never reached', () => void ran.push('first registered'));
    lc.onShutdown('stuck', () => new Promise<void>(() => {}));
    const started = Date.now();
    await expect(lc.shutdown('test')).resolves.toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(ran).toEqual([]);
    expect(proc.exits).toEqual([0]);
    lc.dispose();
  });

  it('exits at once on a second signal, with 128+signo', async () => {
    const proc = new FakeProcess();
    const lc = createLifecycle({ proc });
    lc.onShutdown('stuck', () => new Promise<void>(() => {}));
    proc.kill('SIGINT');
    await tick();
    expect(proc.exits).toEqual([]);
    proc.kill('SIGINT');
    expect(proc.exits).toEqual([130]);
    lc.dispose();
  });

  it('unregistered hooks do not run; dispose removes the listeners', async () => {
    const proc = new FakeProcess();
    const lc = createLifecycle({ proc, signals: ['SIGTERM'] });
    const ran: string[] = [];
    const off = lc.onShutdown('x', () => void ran.push('x'));
    off();
    expect(proc.listenerCount('SIGTERM')).toBe(1);
    lc.dispose();
    expect(proc.listenerCount('SIGTERM')).toBe(0);
    await lc.shutdown('test');
    expect(ran).toEqual([]);
  });
});

describe('installLevelSignals', () => {
  it('SIGUSR1 sets TRACE, SIGUSR2 restores the configured level', () => {
    const proc = new FakeProcess();
    const log = createLogger('t', 'WARN', { write: () => {} });
    const uninstall = installLevelSignals(proc, log);
    proc.kill('SIGUSR1');
    expect(log.getLevel()).toBe('TRACE');
    proc.kill('SIGUSR2');
    expect(log.getLevel()).toBe('WARN');
    uninstall();
    expect(proc.listenerCount('SIGUSR1')).toBe(0);
  });
});
