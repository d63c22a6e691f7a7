import { describe, expect, it } from 'vitest';
import { Metadata } from './callMetadata.js';

describe('Metadata', () => {
  it('keys are case-insensitive; values keep their order; get of an absent key is []', () => {
    const md = new Metadata();
    md.set('Path', 'a');
    md.add('path', 'b');
    expect(md.get('PATH')).toEqual(['a', 'b']);
    md.set('path', 'c');
    expect(md.get('path')).toEqual(['c']);
    md.remove('Path');
    expect(md.get('path')).toEqual([]);
  });

  it('goes to HTTP/2 headers and back: one field per value, -bin values in base64', () => {
    const md = new Metadata();
    md.set('nsm-client-token', 'jwt');
    md.add('trace-bin', Buffer.from([0, 255]));
    md.add('trace-bin', Buffer.from([1]));
    const headers = md.toHttp2Headers();
    expect(headers).toEqual({ 'nsm-client-token': ['jwt'], 'trace-bin': ['AP8=', 'AQ=='] });
    const back = Metadata.fromHttp2Headers({ 'nsm-client-token': 'jwt', 'trace-bin': 'AP8=, AQ==' });
    expect(back.get('nsm-client-token')).toEqual(['jwt']);
    expect(back.get('trace-bin')).toEqual([Buffer.from([0, 255]), Buffer.from([1])]);
    expect(Metadata.fromHttp2Headers({ ':path': '/x', a: 'b' }).get(':path')).toEqual([]);
  });

  it('refuses a key HTTP/2 metadata cannot carry, and a value of the wrong kind, naming the key', () => {
    const md = new Metadata();
    expect(() => md.set('bad key', 'x')).toThrow('"bad key"');
    expect(() => md.set('trace-bin', 'text')).toThrow('-bin key takes bytes');
    expect(() => md.set('path', Buffer.from('x'))).toThrow('takes text');
  });

  it('a clone is independent; merge adds the other one’s values after its own', () => {
    const md = new Metadata();
    md.set('a', '1');
    const copy = md.clone();
    copy.add('a', '2');
    expect(md.get('a')).toEqual(['1']);
    const other = new Metadata();
    other.set('a', '3');
    other.set('b', '4');
    md.merge(other);
    expect(md.get('a')).toEqual(['1', '3']);
    expect(md.get('b')).toEqual(['4']);
  });
});
