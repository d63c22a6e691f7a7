import { describe, expect, it } from 'vitest';
import { createLogger, parseLevel, silentLogger } from './log.js';

const capture = (level = 'INFO') => {
  const lines: string[] = [];
  const log = createLogger('nsmgr', level, { write: (l) => lines.push(l), now: () => new Date(0) });
  const records = (): Record<string, unknown>[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines, records };
};

describe('parseLevel', () => {
  it('accepts logrus names in any case', () => {
    expect(parseLevel('info')).toBe('INFO');
    expect(parseLevel('Trace')).toBe('TRACE');
    expect(parseLevel('warning')).toBe('WARN');
    expect(parseLevel('WARN')).toBe('WARN');
    expect(parseLevel('panic')).toBe('FATAL');
  });
  it('rejects others, quoting them', () => expect(() => parseLevel('loud')).toThrow('"loud"'));
});

describe('createLogger', () => {
  it('writes one JSON object per line with time, level, msg, component and fields', () => {
    const { log, lines, records } = capture();
    log.info('hello', { id: 'c-1', n: 3 });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    expect(Object.keys(records()[0] ?? {})).toEqual(['time', 'level', 'msg', 'component', 'id', 'n']);
    expect(records()[0]).toEqual({ time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'hello', component: 'nsmgr', id: 'c-1', n: 3 });
  });

  it('drops records below the level', () => {
    const { log, records } = capture('WARN');
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    log.fatal('f');
    expect(records().map((r) => r['level'])).toEqual(['warning', 'error', 'fatal']);
    expect(log.enabled('INFO')).toBe(false);
    expect(log.enabled('ERROR')).toBe(true);
  });

  it('does not touch fields when the level is off', () => {
    const { log } = capture('INFO');
    const fields = {
      get expensive(): string {
        throw new Error('evaluated');
      },
    };
    expect(() => log.debug('x', fields)).not.toThrow();
  });

  it('with() adds fields and shares the level with its parent', () => {
    const { log, records } = capture();
    const child = log.with({ conn: 'a' }).with({ hop: 2 });
    child.info('m', { extra: true });
    log.setLevel('ERROR');
    child.info('dropped');
    child.setLevel('DEBUG');
    log.debug('parent now at debug');
    expect(records()).toEqual([
      expect.objectContaining({ msg: 'm', conn: 'a', hop: 2, extra: true }),
      expect.objectContaining({ msg: 'parent now at debug', level: 'debug' }),
    ]);
    expect(log.getLevel()).toBe('DEBUG');
  });

  it('moves clashing fields to fields.<name>, serialises errors, bigints and maps', () => {
    const { log, records } = capture();
    log.error('boom', { msg: 'x', level: 'y', error: new TypeError('bad'), big: 10n, m: new Map([['k', 1]]) });
    const r = records()[0] ?? {};
    expect(r['msg']).toBe('boom');
    expect(r['fields.msg']).toBe('x');
    expect(r['fields.level']).toBe('y');
    expect(r['error']).toMatchObject({ message: 'bad', name: 'TypeError' });
    expect(r['big']).toBe('10');
    expect(r['m']).toEqual({ k: 1 });
  });

  it('survives circular fields', () => {
    const { log, records } = capture();
    const loop: Record<string, unknown> = {};
    loop['self'] = loop;
    log.info('still logged', { loop });
    expect(records()[0]).toMatchObject({ msg: 'still logged', component: 'nsmgr' });
    expect(String(records()[0]?.['logError'])).toContain('not serialisable');
  });

  it('rejects a bad level name', () => expect(() => createLogger('x', 'loud')).toThrow());
});

describe('silentLogger', () => {
  it('logs nothing and is never enabled', () => {
    silentLogger.with({ a: 1 }).fatal('nothing');
    expect(silentLogger.enabled('FATAL')).toBe(false);
  });
});

describe('createLogger with format text (a terminal)', () => {
  it('writes one readable line: time, level, component, message, then the fields as k=v (words bare, the rest as JSON)', () => {
    const lines: string[] = [];
    const log = createLogger('nsmgr', 'DEBUG', { format: 'text', write: (l) => lines.push(l), now: () => new Date('2026-12-05T15:04:05.123Z') });
    log.with({ node: 'node-0' }).info('serving', { urls: ['unix:///a.sock'], registry: 'in-process', note: 'two words', msg: 'clash' });
    log.warn('cannot reach ovsdb-server', { error: new Error('connect ENOENT') });
    expect(lines).toEqual([
      '15:04:05.123 INFO  nsmgr: serving  node=node-0 urls=["unix:///a.sock"] registry=in-process note="two words" fields.msg=clash\n',
      '15:04:05.123 \x1b[33mWARN \x1b[0m nsmgr: cannot reach ovsdb-server  error="connect ENOENT"\n',
    ]);
  });
});
