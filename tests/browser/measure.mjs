// measure.mjs — the web page measured in Debian's Chromium (bench/web.sh):
// transferred bytes of the page (HTML, script, style, icon; gzip as a browser
// takes it) and the time from navigation to the overview's first full render
// (every application's row in the table), RUNS times on a fresh page.
// Prints one JSON line. Environment: WS_URL, RUNS, CHROMIUM.
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const runs = Number(process.env.RUNS || 5);
const times = [], rows = [], alls = [], phases = [];
let bytes = null, files = null;
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext(); // nothing cached between runs
  const page = await ctx.newPage();
  await page.goto(process.env.WS_URL + '/');
  await page.waitForSelector('body[data-ready="1"][data-complete="1"]', { timeout: 60000 });
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').filter((r) => r.name.includes('/ui/'));
    return {
      rendered: window.__renderedAt, all: window.__allRowsAt || window.__renderedAt,
      scriptAt: nav.domContentLoadedEventEnd,
      askedAt: (performance.getEntriesByName('ws:overview-asked')[0] || {}).startTime,
      readAt: (performance.getEntriesByName('ws:overview-read')[0] || {}).startTime,
      rows: document.querySelectorAll('#apps .body .row').length,
      bytes: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
      files: [{ name: '/', size: nav.transferSize, body: nav.decodedBodySize },
        ...res.map((r) => ({ name: new URL(r.name).pathname, size: r.transferSize, body: r.decodedBodySize }))],
    };
  });
  times.push(m.rendered);
  alls.push(m.all);
  phases.push([m.scriptAt, m.askedAt, m.readAt, m.rendered].map((x) => Math.round(x)));
  rows.push(m.rows);
  if (i === 0) { bytes = m.bytes; files = m.files; }
  await ctx.close();
}
await browser.close();
times.sort((a, b) => a - b);
alls.sort((a, b) => a - b);
console.log(JSON.stringify({ runs, rows: rows[0], medianRenderMs: times[Math.floor((times.length - 1) / 2)],
  minRenderMs: times[0], maxRenderMs: times[times.length - 1], medianAllRowsMs: alls[Math.floor((alls.length - 1) / 2)],
  transferredBytes: bytes, files, phases }));
