import type { Series } from './trend.js';

/** One panel of a chart: a figure of several daemons (or namespaces) over time. */
export interface Panel {
  readonly title: string;
  /** Values are divided by this before plotting (e.g. 2**20 for MiB). */
  readonly scale?: number;
  readonly lines: ReadonlyMap<string, Series>;
}

const [W, H, LEFT, RIGHT, TOP, BOTTOM] = [1000, 240, 70, 190, 30, 30];
const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const num = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

/** A panel drawn at vertical offset `y`: axes from 0 (time in minutes, value from 0 up to the largest), a line and a legend entry a series. */
function panel(p: Panel, y: number): string {
  const scale = p.scale ?? 1;
  const all = [...p.lines.values()];
  const tMax = Math.max(1, ...all.map((s) => s.t.at(-1) ?? 0));
  const vMax = Math.max(1e-9, ...all.flatMap((s) => s.v.map((v) => v / scale))) * 1.1;
  const [pw, ph] = [W - LEFT - RIGHT, H - TOP - BOTTOM];
  const x = (t: number) => LEFT + (t / tMax) * pw;
  const yOf = (v: number) => y + TOP + ph - (v / scale / vMax) * ph;
  const out = [`<text x="${LEFT}" y="${y + 18}" font-size="14" font-weight="bold">${esc(p.title)}</text>`];
  out.push(`<rect x="${LEFT}" y="${y + TOP}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (let i = 0; i <= 4; i++) {
    const [tx, vy] = [x((tMax * i) / 4), y + TOP + ph - (ph * i) / 4];
    out.push(`<text x="${tx}" y="${y + H - 12}" font-size="11" text-anchor="middle">${num(tMax / 60 * (i / 4))} min</text>`);
    out.push(`<text x="${LEFT - 6}" y="${vy + 4}" font-size="11" text-anchor="end">${num((vMax * i) / 4)}</text>`);
  }
  [...p.lines].forEach(([name, s], i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const points = s.t.map((t, j) => `${x(t).toFixed(1)},${yOf(s.v[j] as number).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.2" points="${points}"/>`);
    out.push(`<text x="${W - RIGHT + 10}" y="${y + TOP + 12 + i * 13}" font-size="11" fill="${colour}">${esc(name)}</text>`);
  });
  return out.join('\n');
}

/** The panels stacked into one SVG document. */
export function chartSvg(panels: readonly Panel[]): string {
  const height = panels.length * H;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    ...panels.map((p, i) => panel(p, i * H)),
    '</svg>',
    '',
  ].join('\n');
}
