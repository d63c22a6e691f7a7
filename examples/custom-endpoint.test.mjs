// A marble test of the greeting element, with node's own test runner:  node --test custom-endpoint.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chain, Context, NetworkServiceRequest } from 'nsm-rx';
import { fakeNext, marbles } from 'nsm-rx/testing';
import { greeting } from './custom-endpoint.mjs';

const request = () => NetworkServiceRequest.fromPartial({ connection: { id: 'c1', networkService: 'greeting' } });

test('the greeting reaches the rest of the chain, whose answer comes back as it was', () => {
  let next;
  marbles(({ cold, expectObservable }) => {
    next = fakeNext(() => cold('--a|', { a: 'answered' }));
    expectObservable(chain([greeting('greeter')], next).request(request(), Context.background)).toBe('--a|', { a: 'answered' });
  });
  assert.equal(next.requests[0].connection.context.extraContext.greeting, 'hello from greeter');
});

test('an error of the rest of the chain is the caller’s', () => {
  marbles(({ cold, expectObservable }) => {
    const next = fakeNext(() => cold('-#', undefined, new Error('no')));
    expectObservable(chain([greeting('greeter')], next).request(request(), Context.background)).toBe('-#', undefined, new Error('no'));
  });
});
