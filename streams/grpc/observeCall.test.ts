import { status } from '../../operators/core/status.js';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { NsmError } from '../../operators/core/errors.js';
import type { CallObserver } from '../../operators/tools/metrics.js';
import { endingSpan, observeCall } from './observeCall.js';

describe('observeCall', () => {
  const run = (source: string, unsub?: string, error?: unknown, unary = false) => {
    const told: string[] = [];
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const observer: CallObserver = (method) => {
      told.push(`start ${method} @${scheduler.now()}`);
      return (code) => told.push(`end ${status[code]} @${scheduler.now()}`);
    };
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold(source, undefined, error).pipe(observeCall(observer, '/svc/M', unary)), unsub).toBe(unsub ? source.slice(0, unsub.indexOf('!')) : source, undefined, error);
    });
    return told;
  };

  it('tells the start, then OK when the call completes', () => {
    expect(run('--a--b--|')).toEqual(['start /svc/M @0', 'end OK @8']);
  });

  it('an error ends it with the error’s code', () => {
    expect(run('--a--#', undefined, new NsmError(status.UNAVAILABLE, 'gone'))).toEqual(['start /svc/M @0', 'end UNAVAILABLE @5']);
  });

  it('unsubscribed before it ends: CANCELLED, once', () => {
    expect(run('--a------', '-----!')).toEqual(['start /svc/M @0', 'end CANCELLED @5']);
  });

  it('a unary call ends OK with its answer, even when the caller then goes', () => {
    expect(run('--a------', '-----!', undefined, true)).toEqual(['start /svc/M @0', 'end OK @2']);
    expect(run('-----#', undefined, new NsmError(status.NOT_FOUND, 'none'), true)).toEqual(['start /svc/M @0', 'end NOT_FOUND @5']);
  });

  it('without an observer it is the source itself', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ cold, expectObservable }) => expectObservable(cold('-a-|').pipe(observeCall(undefined, '/svc/M'))).toBe('-a-|'));
  });

  it('endingSpan: the observer is told as before, and the span ends with the same code; without an observer only the span', () => {
    const told: string[] = [];
    const span = { end: (code: status) => told.push(`span ${status[code]}`) };
    const observer: CallObserver = (method) => {
      told.push(`start ${method}`);
      return (code) => told.push(`end ${status[code]}`);
    };
    endingSpan(observer, span)('/svc/M')(status.NOT_FOUND);
    endingSpan(undefined, span)('/svc/M')(status.OK);
    expect(told).toEqual(['start /svc/M', 'end NOT_FOUND', 'span NOT_FOUND', 'span OK']);
  });
});
