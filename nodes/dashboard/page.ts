/**
 * The dashboard's one page: plain HTML, CSS and browser JavaScript, no build step and nothing
 * fetched from elsewhere. It follows `/events` (server-sent events, one MeshGraph each) and
 * draws the mesh as columns — clients, nsmgrs, forwarders, endpoints — with a line per hop of
 * each connection, coloured by state and labelled with its traffic, and the connections listed
 * beside it. Elements carry `data-*` attributes naming what they show (the tests read them).
 */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nsm-rx dashboard</title>
<style>
  body { margin: 0; font: 14px system-ui, sans-serif; color: #1d2733; background: #f4f6f8; display: grid; grid-template-columns: 1fr 380px; grid-template-rows: auto 1fr; height: 100vh; }
  header { grid-column: 1 / 3; padding: 10px 16px; background: #1d2733; color: #fff; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  header .sources span { margin-right: 12px; font-size: 12px; }
  .up { color: #6fdc8c; } .down { color: #ff8389; }
  main { overflow: auto; }
  aside { overflow: auto; border-left: 1px solid #d0d7de; background: #fff; padding: 8px 12px; }
  svg text { font-size: 12px; }
  .column { font-size: 11px; fill: #6b7785; text-transform: uppercase; letter-spacing: .08em; }
  .node rect { fill: #fff; stroke: #4b5b6b; stroke-width: 1.5; rx: 6; }
  .node[data-kind=client] rect { stroke: #0072c3; } .node[data-kind=manager] rect { stroke: #8a3ffc; }
  .node[data-kind=forwarder] rect { stroke: #b28600; } .node[data-kind=endpoint] rect { stroke: #198038; }
  .node[data-registered=false][data-kind=forwarder] rect, .node[data-registered=false][data-kind=endpoint] rect { stroke-dasharray: 4 3; fill: #f2f4f8; }
  .node .services { fill: #6b7785; font-size: 11px; }
  .link { fill: none; stroke-width: 2.5; opacity: .85; }
  .link[data-state=UP] { stroke: #24a148; } .link[data-state=DOWN] { stroke: #da1e28; } .link:not([data-state=UP]):not([data-state=DOWN]) { stroke: #f1c21b; }
  .traffic { font-size: 11px; fill: #1d2733; }
  .conn { border-bottom: 1px solid #e5e8eb; padding: 8px 0; }
  .conn .state { font-weight: 600; } .conn .state.UP { color: #198038; } .conn .state.DOWN { color: #da1e28; }
  .conn .path, .conn .ips { font-family: ui-monospace, monospace; font-size: 12px; margin-top: 3px; }
  .conn ul { margin: 4px 0 0; padding-left: 16px; font-size: 12px; color: #4b5b6b; }
  .empty { color: #6b7785; padding: 24px; }
</style>
</head>
<body>
<header><h1>nsm-rx dashboard</h1><div class="sources" id="sources"></div><div id="clock"></div></header>
<main><svg id="graph" xmlns="http://www.w3.org/2000/svg"></svg><div class="empty" id="empty">waiting for the mesh…</div></main>
<aside><h2 style="font-size:14px">Connections</h2><div id="connections"></div></aside>
<script>
const KINDS = ['client', 'manager', 'forwarder', 'endpoint'];
const TITLES = { client: 'clients', manager: 'nsmgrs', forwarder: 'forwarders', endpoint: 'endpoints' };
const NS = 'http://www.w3.org/2000/svg';
const COL = 220, ROW = 64, W = 150, H = 40, TOP = 40, LEFT = 24;

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
function html(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
function rate(bytes) {
  return bytes >= 1e6 ? (bytes / 1e6).toFixed(1) + ' MB/s' : bytes >= 1e3 ? (bytes / 1e3).toFixed(1) + ' kB/s' : Math.round(bytes) + ' B/s';
}
function time(ms) { return new Date(ms).toLocaleTimeString(); }

function drawGraph(g) {
  const svg = document.getElementById('graph');
  svg.replaceChildren();
  document.getElementById('empty').style.display = g.nodes.length ? 'none' : 'block';
  const at = {};
  const rows = KINDS.map((kind) => g.nodes.filter((n) => n.kind === kind));
  const height = TOP + Math.max(1, ...rows.map((r) => r.length)) * ROW + 20;
  svg.setAttribute('width', LEFT * 2 + COL * 3 + W);
  svg.setAttribute('height', height);
  KINDS.forEach((kind, c) => {
    svg.append(el('text', { x: LEFT + c * COL, y: 20, class: 'column' }, TITLES[kind]));
    rows[c].forEach((n, r) => { at[n.id] = { x: LEFT + c * COL, y: TOP + r * ROW }; });
  });
  const kindOf = Object.fromEntries(g.nodes.map((n) => [n.id, n.kind]));
  // Several hops between the same two nodes (connections) fan out a little.
  const seen = {};
  for (const l of g.links) {
    const a = at[l.from], b = at[l.to];
    if (!a || !b) continue;
    const key = l.from + '>' + l.to;
    const k = (seen[key] = (seen[key] || 0) + 1) - 1;
    const forward = b.x >= a.x;
    const x1 = forward ? a.x + W : a.x, x2 = forward ? b.x : b.x + W;
    const y1 = a.y + H / 2 + k * 4, y2 = b.y + H / 2 + k * 4;
    const bend = forward ? Math.max(40, (x2 - x1) / 2) : -60;
    const d = 'M' + x1 + ',' + y1 + ' C' + (x1 + bend) + ',' + y1 + ' ' + (x2 - bend) + ',' + y2 + ' ' + x2 + ',' + y2;
    const path = el('path', { d, class: 'link', 'data-connection': l.connection, 'data-from': l.from, 'data-to': l.to, 'data-state': l.state });
    path.append(el('title', {}, l.connection + ' ' + l.state));
    svg.append(path);
    if (l.traffic !== undefined && kindOf[l.to] === 'forwarder') {
      svg.append(el('text', { x: (x1 + x2) / 2 - 20, y: (y1 + y2) / 2 - 6 - k * 12, class: 'traffic' }, rate(l.traffic)));
    }
  }
  for (const n of g.nodes) {
    const p = at[n.id];
    const node = el('g', { class: 'node', transform: 'translate(' + p.x + ',' + p.y + ')', 'data-id': n.id, 'data-kind': n.kind, 'data-registered': n.registered });
    node.append(el('rect', { width: W, height: H }));
    node.append(el('text', { x: 10, y: n.services.length ? 17 : 24 }, n.id));
    if (n.services.length) node.append(el('text', { x: 10, y: 32, class: 'services' }, n.services.join(', ')));
    svg.append(node);
  }
}

function drawConnections(g) {
  const list = document.getElementById('connections');
  list.replaceChildren();
  if (!g.connections.length) list.append(html('div', { class: 'empty' }, 'no connections'));
  for (const c of g.connections) {
    const div = html('div', { class: 'conn', 'data-connection': c.id });
    const head = html('div', {});
    head.append(html('span', { class: 'state ' + c.state }, c.state), document.createTextNode(' ' + c.networkService + ' · ' + c.id));
    div.append(head, html('div', { class: 'path' }, c.path.join(' → ')));
    if (c.srcIps.length || c.dstIps.length) div.append(html('div', { class: 'ips' }, c.srcIps.join(',') + ' → ' + c.dstIps.join(',') + (c.interfaces.length ? '   ' + c.interfaces.join(', ') : '')));
    if (c.events.length) {
      const ul = html('ul', {});
      for (const e of c.events) ul.append(html('li', { class: 'event' }, time(e.at) + '  ' + e.what));
      div.append(ul);
    }
    list.append(div);
  }
}

function draw(g) {
  const sources = document.getElementById('sources');
  sources.replaceChildren(...g.sources.map((s) => html('span', { class: s.up ? 'up' : 'down', 'data-source': s.url }, s.url + (s.up ? ' (up)' : ' (down)'))));
  document.getElementById('clock').textContent = g.at ? time(g.at) : '';
  drawGraph(g);
  drawConnections(g);
}

new EventSource('events').onmessage = (m) => draw(JSON.parse(m.data));
</script>
</body>
</html>
`;
