// measure.mjs — the web page measured in Debian's Chromium (bench/web.sh).
//
//   node measure.mjs load     the transferred bytes of the page (HTML, script,
//                             style, icon; gzip as a browser takes it) and the
//                             time from navigation start to the overview drawn
//                             (its first screenful of applications on screen),
//                             RUNS times in each of two ways:
//                               cold: a new browser context each time (a new
//                                 renderer process, nothing cached);
//                               warm: one tab that has shown another page of
//                                 the service, with the cache disabled (a
//                                 reload without the cache);
//                             and the same two for FLOOR_URL, if set: a page
//                             that draws 30 rows from its own script, nothing
//                             to fetch — what Chromium itself needs here.
//   node measure.mjs follow   PAGES pages (each in its own context, so each
//                             has its own connections) on the overview,
//                             following the event stream; prints "ready" once
//                             every one is live, then on a line "stop" on
//                             stdin prints the events each page received.
//
// Prints JSON lines. Environment: WS_URL, RUNS, PAGES, FLOOR_URL, CHROMIUM.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const url = process.env.WS_URL;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function measureOnce(page, target) {
  await page.goto(target);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60000 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').filter((r) => r.name.includes('/ui/'));
    const mark = (n) => Math.round((performance.getEntriesByName(n)[0] || {}).startTime || 0);
    return {
      rendered: window.__renderedAt,
      phases: [Math.round(nav.domContentLoadedEventEnd), mark('ws:overview-read'), mark('ws:overview-first-rows'), Math.round(window.__renderedAt)],
      rows: document.querySelectorAll('#apps .body .row, main .r').length,
      bytes: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
      files: [{ name: '/', size: nav.transferSize, body: nav.decodedBodySize },
        ...res.map((r) => ({ name: new URL(r.name).pathname, size: r.transferSize, body: r.decodedBodySize }))],
    };
  });
}

async function series(target, warmFrom) {
  const runs = Number(process.env.RUNS || 7), out = [];
  let ctx = null, page = null;
  if (warmFrom) {
    ctx = await browser.newContext();
    page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  }
  for (let i = 0; i < runs; i++) {
    if (warmFrom) await page.goto(warmFrom); // the same site: its renderer is up
    else { ctx = await browser.newContext(); page = await ctx.newPage(); }
    out.push(await measureOnce(page, target));
    if (!warmFrom) await ctx.close();
  }
  if (warmFrom) await ctx.close();
  const t = out.map((m) => m.rendered);
  return { median: median(t), min: Math.min(...t), max: Math.max(...t), rows: out[0].rows, phases: out.map((m) => m.phases), first: out[0] };
}

if (process.argv[2] === 'load') {
  const cold = await series(url + '/'), warm = await series(url + '/', url + '/healthz');
  const r = { cold, warm, transferredBytes: cold.first.bytes, files: cold.first.files };
  if (process.env.FLOOR_URL) {
    const f = process.env.FLOOR_URL;
    r.floorCold = await series(f + '/');
    r.floorWarm = await series(f + '/', f + '/floor.css');
  }
  for (const k of ['cold', 'warm', 'floorCold', 'floorWarm']) if (r[k]) delete r[k].first;
  console.log(JSON.stringify(r));
} else if (process.argv[2] === 'follow') {
  const n = Number(process.env.PAGES || 50), pages = [];
  for (let i = 0; i < n; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url + '/');
    await page.waitForSelector('#live.on', { timeout: 60000 });
    pages.push({ page, errors });
  }
  console.log('ready');
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) if (line.trim() === 'stop') break;
  rl.close();
  process.stdin.destroy();
  // a page busy on a loaded machine may still be reading what arrived: the
  // counts are taken once they stop moving (2 s), a minute at most
  const count = () => Promise.all(pages.map((p) => p.page.evaluate(() => window.__wsEvents || 0)));
  let events = await count();
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 2000));
    const again = await count();
    const same = again.every((v, k) => v === events[k]);
    events = again;
    if (same) break;
  }
  console.log(JSON.stringify({ pages: n, events, errors: pages.flatMap((p) => p.errors) }));
} else {
  console.error('usage: node measure.mjs load|follow');
  process.exit(2);
}
await browser.close();
