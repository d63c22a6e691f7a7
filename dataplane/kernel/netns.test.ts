import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { inodeUrlOf } from '../../streams/inodes.js';
import { describeKernel } from '../../test/kernel/namespaces.js';
import { inCheckout } from '../../test/process/processMesh.js';
import { ownNetnsUrl } from './netns.js';

describe('ownNetnsUrl', () => {
  it('on the host’s PID namespace: file:///proc/<pid>/ns/net, which any root process on the host opens', () => {
    expect(ownNetnsUrl('pid:[4026531836]')).toBe(`file:///proc/${process.pid}/ns/net`);
  });

  it('in a PID namespace of its own (a Pod): the netns’s inode://dev/ino, since its pid means another process on the host', () => {
    expect(ownNetnsUrl('pid:[4026532999]')).toBe(inodeUrlOf('/proc/self/ns/net'));
  });
});

describeKernel('ownNetnsUrl in a real PID namespace', () => {
  it('a process started with `unshare --pid` sends its netns by identity', () => {
    const netns = inCheckout('dist/dataplane/kernel/netns.js');
    const out = execFileSync('unshare', ['--pid', '--fork', process.execPath, '--input-type=module', '-e', `import(${JSON.stringify(netns)}).then((m) => console.log(m.ownNetnsUrl()))`], { encoding: 'utf8' }).trim();
    expect(out).toBe(inodeUrlOf('/proc/self/ns/net'));
  });
});
