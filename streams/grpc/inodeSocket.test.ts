import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { statusOf } from '../../operators/core/errors.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { socketOfInode } from './inodeSocket.js';

const inodeOf = (path: string) => {
  const st = statSync(path, { bigint: true });
  return parseNsmUrl(`inode://${st.dev}/${st.ino}`) as Extract<ReturnType<typeof parseNsmUrl>, { scheme: 'inode' }>;
};

describe('socketOfInode: the unix socket an upstream sendfd inode:// URL names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-inode-'));
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  it('finds a listening socket by its file identity (then from its cache, checked again)', async () => {
    const path = join(dir, 'listen.on.sock');
    server = createServer();
    await new Promise<void>((r) => server?.listen(path, r));
    const url = inodeOf(path);
    expect(socketOfInode(url)).toEqual({ scheme: 'unix', path, href: `unix://${path}` });
    expect(socketOfInode(url).href).toBe(`unix://${path}`);
  });

  it('NOT_FOUND naming the URL when no listening socket has that inode (a plain file does not count)', () => {
    const url = inodeOf(dir);
    let err: unknown;
    try {
      socketOfInode(url);
    } catch (e) {
      err = e;
    }
    expect(statusOf(err)).toBe(5);
    expect(String(err)).toContain(`${url.href}: no listening unix socket with that inode`);
  });

  it.sequential('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
