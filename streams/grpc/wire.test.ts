import { status } from '../../operators/core/status.js';
import { describe, expect, it, vi } from 'vitest';
import { grpcMessage, lengthPrefixed, MessageReader, timeoutMs } from './wire.js';

describe('gRPC wire format', () => {
  it('frames a message as flag 0, big-endian length, bytes', () => {
    expect([...lengthPrefixed(Buffer.from('abc'))]).toEqual([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
    expect([...lengthPrefixed(new Uint8Array(0))]).toEqual([0, 0, 0, 0, 0]);
  });

  it('reads messages back however the chunks cut them: byte by byte, several in one chunk, empty ones', () => {
    const stream = Buffer.concat([lengthPrefixed(Buffer.from('first')), lengthPrefixed(Buffer.alloc(0)), lengthPrefixed(Buffer.alloc(300, 7))]);
    const whole = new MessageReader(1024).push(stream);
    expect(whole.map((m) => m.length)).toEqual([5, 0, 300]);
    const reader = new MessageReader(1024);
    const bytewise = [...stream].flatMap((byte) => reader.push(Buffer.from([byte])));
    expect(bytewise.map((m) => m.toString('latin1'))).toEqual(whole.map((m) => m.toString('latin1')));
  });

  it('copies a message that comes in many chunks once, when it is whole (a monitor event of 10,000 connections is tens of MB)', () => {
    const message = Buffer.alloc(64 * 1024, 9);
    const framed = lengthPrefixed(message);
    const reader = new MessageReader(1 << 20);
    const concat = vi.spyOn(Buffer, 'concat');
    try {
      const got: Buffer[] = [];
      for (let at = 0; at < framed.length; at += 1000) got.push(...reader.push(framed.subarray(at, at + 1000)));
      expect(got).toEqual([message]);
      expect(concat).toHaveBeenCalledTimes(1);
    } finally {
      concat.mockRestore();
    }
  });

  it('refuses a compressed message (UNIMPLEMENTED) and one over the limit (RESOURCE_EXHAUSTED) as soon as its prefix is in', () => {
    expect(() => new MessageReader(1024).push(Buffer.from([1, 0, 0, 0, 1]))).toThrow(expect.objectContaining({ code: status.UNIMPLEMENTED }));
    const tooLong = Buffer.from([0, 0, 0, 4, 1]);
    expect(() => new MessageReader(1024).push(tooLong)).toThrow(expect.objectContaining({ code: status.RESOURCE_EXHAUSTED, message: 'a message of 1025 bytes is over the limit of 1024' }));
  });

  it('reads grpc-timeout in every unit; anything else is no timeout', () => {
    expect([timeoutMs('2H'), timeoutMs('3M'), timeoutMs('4S'), timeoutMs('500m'), timeoutMs('1500u'), timeoutMs('2000000n')]).toEqual([7_200_000, 180_000, 4000, 500, 1.5, 2]);
    expect([timeoutMs(undefined), timeoutMs('123456789S'), timeoutMs('10'), timeoutMs('1s'), timeoutMs(['1S'])]).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it('percent-encodes a status message outside printable ASCII, and "%" itself', () => {
    expect(grpcMessage('no such endpoint: nse-1')).toBe('no such endpoint: nse-1');
    expect(grpcMessage('100% sure\nnext line')).toBe('100%25 sure%0Anext line');
    expect(decodeURIComponent(grpcMessage('NSE “ünï” 🙂'))).toBe('NSE “ünï” 🙂');
  });
});
