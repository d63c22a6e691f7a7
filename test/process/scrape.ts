import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { bundlesPem } from '../../streams/spiffe/svid.js';
import { workloadApiSource } from '../../streams/spiffe/workloadApi.js';

const run = promisify(execFile);

/** Run in the daemon's netns: GET over HTTPS, the server's chain checked against CA and its SAN a SPIFFE ID (an SVID names no host). */
const SCRAPER = `
import { get } from 'node:https';
const [url, ca] = [process.env.SCRAPE_URL, process.env.SCRAPE_CA];
get(url, { ca, checkServerIdentity: (_host, cert) => (/^URI:spiffe:\\/\\//.test(cert.subjectaltname ?? '') ? undefined : new Error('not an SVID: ' + cert.subjectaltname)) }, (res) => {
  const protocol = res.socket.getProtocol?.() ?? null;
  let body = '';
  res.on('data', (b) => (body += b));
  res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, protocol, body })));
}).on('error', (e) => { process.stderr.write(String(e)); process.exit(1); });
`;

/** Run in a netns: GET over plain HTTP, the body to stdout; a status other than 200 fails. */
const GETTER = `
const res = await fetch(process.env.GET_URL);
const body = await res.text();
if (res.status !== 200) { process.stderr.write(res.status + ' ' + body); process.exit(1); }
process.stdout.write(body);
`;

/** The URL a daemon said it serves Prometheus metrics on (its INFO log line). */
export function prometheusUrl(out: string): string | undefined {
  for (const line of out.split('\n')) {
    if (!line.includes('"msg":"serving Prometheus metrics"')) continue;
    return (JSON.parse(line) as { url?: string }).url;
  }
  return undefined;
}

/** Scrapes `url` from inside netns `ns` (undefined: this process's) as Prometheus would over TLS, trusting the mesh identity's bundle. */
export async function scrape(ns: string | undefined, url: string, identitySocket: string): Promise<{ status: number; protocol: string | null; body: string }> {
  const { source, stop } = workloadApiSource(parseNsmUrl(identitySocket));
  try {
    const ca = bundlesPem(await source.ready());
    return JSON.parse(await script(ns, SCRAPER, { SCRAPE_URL: url, SCRAPE_CA: ca })) as { status: number; protocol: string | null; body: string };
  } finally {
    stop();
  }
}

/** GETs `url` over plain HTTP from inside netns `ns` (undefined: this process's): the body of a 200, else an error naming the status. */
export async function get(ns: string | undefined, url: string): Promise<string> {
  return script(ns, GETTER, { GET_URL: url });
}

/** Runs the ES module `source` with Node inside netns `ns` (undefined: this process's) with `env` added: its stdout. */
async function script(ns: string | undefined, source: string, env: Record<string, string>): Promise<string> {
  const node = [process.execPath, '--input-type=module', '-e', source];
  const { stdout } = await run(ns === undefined ? (node[0] as string) : 'ip', ns === undefined ? node.slice(1) : ['netns', 'exec', ns, ...node], { env: { ...process.env, ...env }, timeout: 20_000 });
  return stdout;
}

/** The value of the sample `name{labels}` (labels as written in the exposition, in any order given), or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_]\w*)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}
