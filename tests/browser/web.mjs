// web.mjs — the web page in a real browser (Debian's Chromium, driven by
// playwright-core, which downloads no browser) against a real wavesync serve.
// Run by tests/e2e/web.sh, which starts the control plane, the Git server and
// the service, and hands over (environment):
//   WS_URL          the service
//   WS_TOKEN        its API token
//   PUSH_SERVING    a command: commit a change to serving/ (objects that take a
//                   moment to become ready) and deliver the signed push
//   PUSH_FAILING    a command: a push whose serving wave misses its deadline
//   PUSH_MARKUP     a command: a push whose object's message holds markup
//   PLAN_WAVES      how many waves `wavesync plan serving` shows
//   SHOTS           a folder for the screenshots
// Prints TAP.
import { chromium } from 'playwright-core';
import { execSync } from 'node:child_process';

const url = process.env.WS_URL;
let n = 0, failed = 0;
function ok(cond, what, diag) {
  n++;
  if (cond) console.log(`ok ${n} - ${what}`);
  else { failed++; console.log(`not ok ${n} - ${what}`); if (diag) console.log(`# ${String(diag).replace(/\n/g, '\n# ')}`); }
}
const api = async (p) => (await fetch(url + p)).json();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch { /* not yet */ }
    if (Date.now() > end) return null;
    await sleep(100);
  }
}
const sh = (cmd) => execSync(cmd, { stdio: ['ignore', 'pipe', 'inherit'], shell: '/bin/bash' }).toString();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));
const cspViolations = [];
await page.exposeFunction('__cspViolation', (v) => cspViolations.push(v));
await page.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation(`${e.violatedDirective} ${e.blockedURI}`)));

try {
  // --- the overview lists the fixture's applications with the right statuses ------------
  const resp = await page.goto(url + '/');
  const headers = resp.headers();
  ok(/script-src 'self'/.test(headers['content-security-policy'] || '') && !/unsafe-inline/.test(headers['content-security-policy']),
    "the page is served with a Content-Security-Policy allowing no inline script", headers['content-security-policy']);
  ok(/frame-ancestors 'none'/.test(headers['content-security-policy']) && headers['x-frame-options'] === 'DENY',
    'and may not be framed (frame-ancestors, X-Frame-Options)');
  await page.waitForSelector('body[data-ready="1"][data-complete="1"] #apps .body .row');
  const want = (await api('/api/v1/applications')).applications;
  const rows = await page.$$eval('#apps .body .row', (trs) => trs.map((tr) => ({
    name: tr.dataset.app, cells: [...tr.children].map((td) => td.textContent.trim()) })));
  ok(rows.length === want.length && want.every((a) => rows.some((r) => r.name === a.name)),
    `the overview lists the ${want.length} applications`, JSON.stringify(rows.map((r) => r.name)));
  const wrong = want.filter((a) => {
    const r = rows.find((x) => x.name === a.name);
    return !r || r.cells[1] !== a.syncStatus || r.cells[2] !== a.health.status || r.cells[3] !== a.state;
  });
  ok(wrong.length === 0, 'each row shows its sync status, health and state as the API says',
    JSON.stringify(wrong.map((a) => [a.name, a.syncStatus, a.health.status, a.state])));
  const serving = want.find((a) => a.name === 'serving');
  ok(serving && serving.syncStatus === 'Synced' && serving.health.status === 'Healthy' &&
    rows.find((r) => r.name === 'serving').cells[1] === 'Synced', 'serving, synced before, shows Synced and Healthy');
  const summaryText = await page.textContent('#summary');
  ok(summaryText.includes(`All ${want.length}`), 'the summary bar counts every application', summaryText);
  await page.fill('#filter', 'serv');
  await page.waitForTimeout(300);
  const visible = await page.$$eval('#apps .body .row:not([hidden])', (trs) => trs.map((t) => t.dataset.app));
  ok(visible.length >= 1 && visible.every((v) => v.includes('serv')), `the name filter keeps ${visible.join(', ')}`);
  await page.fill('#filter', '');
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${process.env.SHOTS}/overview.png` });

  // --- drawn in two steps: a first slice and the counts of all, then the rest ----------
  { // the page asks for its first 30; here only 2 are asked, so the rest comes second
    const p2 = await browser.newPage();
    const asked = [];
    await p2.route('**/api/v1/applications?*', (r) => {
      const u = new URL(r.request().url());
      asked.push(u.search);
      if (u.searchParams.get('limit') === '30') { u.searchParams.set('limit', '2'); return r.continue({ url: u.toString() }); }
      return r.continue();
    });
    await p2.goto(url + '/');
    await p2.waitForSelector('body[data-ready="1"][data-complete="1"]');
    const names = await p2.$$eval('#apps .body .row', (trs) => trs.map((t) => t.dataset.app));
    const s2 = await p2.textContent('#summary');
    ok(JSON.stringify(names) === JSON.stringify(want.map((a) => a.name)) && [...new Set(asked)].join(' ') === '?limit=30 ?offset=2',
      'a first slice, then the rest: every application once, in the API\'s order', `${asked.join(' ')}: ${names.join(',')}`);
    const synced = want.filter((a) => a.syncStatus === 'Synced').length;
    ok(s2.includes(`All ${want.length}`) && s2.includes(`Synced ${synced}`), 'and the summary counts them all', s2);
    await p2.close();
  }

  // --- a signed push makes a run appear without reloading ---------------------------------
  await page.evaluate(() => { window.__sameDocument = true; });
  const runsBefore = (await api('/api/v1/applications/serving')).lastRun;
  sh(process.env.PUSH_SERVING);
  const sawRunning = await until(() => page.$eval('#apps .row[data-app="serving"]', (tr) => tr.children[3].textContent.trim() === 'Running'), 30000);
  ok(sawRunning, "serving's row turns Running, live");
  const done = await until(async () => {
    const a = await api('/api/v1/applications/serving');
    return a.lastRun > runsBefore && a.state === 'Idle' ? a : null;
  }, 90000);
  ok(done && done.lastResult === 'Succeeded', `the push's run of serving succeeded (run ${done && done.lastRun})`);
  const rowDone = await until(() => page.$eval('#apps .row[data-app="serving"]', (tr) =>
    tr.children[3].textContent.trim() === 'Idle' && tr.children[4].textContent.includes('Succeeded')), 10000);
  ok(rowDone && await page.evaluate(() => window.__sameDocument === true),
    'the row shows it Idle and Succeeded without a reload');

  // --- the run's timeline: one bar per wave of the plan -------------------------------------
  await page.click(`#apps .row[data-app="serving"] span:nth-child(5) a`);
  await page.waitForSelector('#gantt .lane');
  const lanes = await page.$$eval('#gantt .lane', (ls) => ls.map((l) => l.dataset.wave));
  const run = await api(`/api/v1/runs/${done.lastRun}`);
  ok(lanes.length === run.report.waves.length, `the timeline has one bar per wave of the run (${lanes.length})`, lanes.join(' | '));
  ok(lanes.length === Number(process.env.PLAN_WAVES), `… and of the plan (${process.env.PLAN_WAVES} waves but SyncFail's: wavesync plan serving)`);
  const marks = await page.$$eval('#gantt .mark', (m) => m.length);
  ok(marks >= run.report.objects.filter((o) => o.appliedMs !== undefined).length, `apply and healthy marks inside the bars (${marks})`);
  const trig = await page.textContent('#trigger').catch(() => '');
  ok(/webhook/.test(trig) && /refs\/heads\/main/.test(trig) && /changed path/.test(trig),
    'the trigger that started it: the push, its ref, range and changed paths', trig);
  ok(/routed to: serving/.test(trig) && trig.includes('serving/03-model-servers.yaml'),
    '… the paths it changed and the applications they routed to', trig);
  await page.screenshot({ path: `${process.env.SHOTS}/run-timeline.png`, fullPage: true });

  // --- an application page follows its running sync wave by wave ----------------------------
  await page.goto(url + '/#/app/serving');
  await page.waitForSelector('#objects .phase');
  const phases = await page.$$eval('#objects .phase', (p) => p.map((x) => x.textContent));
  ok(phases.includes('PreSync') && phases.includes('Sync') && phases.includes('PostSync'),
    `its objects are grouped by phase, then wave (${phases.join(', ')})`);
  await page.evaluate(() => {
    window.__waves = [];
    new MutationObserver(() => {
      const w = document.querySelector('[data-live-wave]');
      if (w && window.__waves[window.__waves.length - 1] !== w.dataset.liveWave) window.__waves.push(w.dataset.liveWave);
    }).observe(document.getElementById('main'), { subtree: true, childList: true, characterData: true });
  });
  sh(process.env.PUSH_SERVING);
  await until(async () => (await api('/api/v1/applications/serving')).state === 'Running', 30000);
  const deadlineShown = await until(() => page.$('[data-deadline]'), 20000);
  ok(deadlineShown, 'the running sync shows its wave and the time left to its deadline');
  await until(async () => (await api('/api/v1/applications/serving')).state === 'Idle', 90000);
  const waves = await page.evaluate(() => window.__waves);
  ok(waves.length >= 3, `the page followed the waves as they ran (${waves.join(' → ')})`);
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${process.env.SHOTS}/application.png`, fullPage: true });

  // --- an OutOfSync object opens its field-level diff (live vs Git) ------------------------------
  sh(process.env.DRIFT);
  await until(async () => (await api('/api/v1/applications/monitoring')).syncStatus === 'OutOfSync', 30000);
  await page.goto(url + '/#/app/monitoring');
  const diffButton = await until(() => page.$('button[data-diff*="prometheus-config"]'), 10000);
  ok(diffButton, 'the drifted ConfigMap shows OutOfSync with a diff button');
  if (diffButton) await diffButton.click();
  const diffText = await page.$eval('table.diff:not([hidden])', (t) => t.textContent).catch(() => '');
  ok(/data\/prometheus\.yml|prometheus\.yml/.test(diffText) && diffText.includes('drifted by hand') && diffText.includes('scrape_configs'),
    'the diff shows the field, Git\'s value and the live one', diffText.slice(0, 300));
  await page.screenshot({ path: `${process.env.SHOTS}/diff.png`, fullPage: true });
  // the hand edit's field manager would conflict with the next syncs: gone
  sh(process.env.UNDRIFT);

  // --- Sync without a token: refused, the prompt; with it, a run starts -----------------------
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(url + '/#/app/monitoring');
  await page.waitForSelector('button[data-action="sync"]');
  const lastMon = (await api('/api/v1/applications/monitoring')).lastRun;
  await page.click('button[data-action="sync"]');
  const prompt = await until(() => page.$eval('#token-dialog', (d) => d.open), 5000);
  ok(prompt, 'Sync without a token opens the token prompt');
  await page.fill('#token-input', 'wrong-token');
  await page.click('#token-ok');
  const why = await until(() => page.$eval('#token-why', (p) => p.textContent), 5000);
  ok(/Refused/.test(why || '') && (await api('/api/v1/applications/monitoring')).lastRun === lastMon,
    `a wrong token is refused and asked again (${why}); nothing ran`);
  await page.fill('#token-input', process.env.WS_TOKEN);
  await page.click('#token-ok');
  const ran = await until(async () => (await api('/api/v1/applications/monitoring')).lastRun > lastMon, 30000);
  ok(ran, 'with the token, the sync runs');
  const stored = await page.evaluate(() => sessionStorage.getItem('wavesync-token'));
  ok(stored === process.env.WS_TOKEN && !page.url().includes(process.env.WS_TOKEN),
    'the token is kept in sessionStorage, never in the URL');

  // --- a failing wave: the object it waited on and its message -------------------------------
  const lastServing = (await api('/api/v1/applications/serving')).lastRun;
  sh(process.env.PUSH_FAILING);
  const failedRun = await until(async () => {
    const a = await api('/api/v1/applications/serving');
    return a.lastRun > lastServing && a.state === 'Idle' && a.lastResult === 'Failed' ? a.lastRun : null;
  }, 90000);
  ok(failedRun, `the push with an object that never becomes ready fails serving's run (${failedRun})`);
  await page.goto(`${url}/#/run/${failedRun}`);
  await page.waitForSelector('#gantt .lane');
  const failedLane = await page.$$eval('#gantt .bar.Timeout, #gantt .bar.Failed', (b) => b.map((x) => x.title));
  const objRow = await page.$$eval('tr[data-object*="never-ready"]', (t) => t.map((x) => x.textContent));
  ok(failedLane.length === 1 && /never-ready/.test(failedLane[0] + objRow.join()) ,
    'the failed wave is marked, with the object it waited on', failedLane.join(' | ') + ' / ' + objRow.join(' | '));
  ok(objRow.length === 1 && /Progressing|deadline|available/i.test(objRow[0]), "… and that object's message", objRow.join());

  // --- markup in a message is shown as text and runs nothing ---------------------------------
  const lastMon2 = (await api('/api/v1/applications/monitoring')).lastRun;
  sh(process.env.PUSH_MARKUP);
  const markupRun = await until(async () => {
    const a = await api('/api/v1/applications/monitoring');
    return a.lastRun > lastMon2 && a.state === 'Idle' ? a.lastRun : null;
  }, 60000);
  await page.goto(`${url}/#/run/${markupRun}`);
  await page.waitForSelector('body[data-view="run"]');
  await page.waitForTimeout(500);
  const text = await page.textContent('main');
  const imgs = await page.$$eval('main img', (i) => i.length);
  ok(text.includes('<img src=x onerror='), 'a message holding <img src=x onerror=…> is shown as text', text.slice(0, 300));
  ok(imgs === 0 && (await page.evaluate(() => window.__xss)) === undefined, 'no element was made of it and nothing ran');
  await page.goto(url + '/#/app/monitoring');
  await page.waitForSelector('#objects');
  await page.waitForTimeout(300);
  ok((await page.evaluate(() => window.__xss)) === undefined && (await page.$$eval('main img', (i) => i.length)) === 0,
    'nor on the application page');

  // the wrong token's 401, sent on purpose above, is the only error allowed
  const errors = consoleErrors.filter((e) => !/status of 401/.test(e));
  ok(errors.length === 0, 'no error in the browser console (but the wrong token\'s 401)', errors.join('\n'));
  ok(cspViolations.length === 0, 'no Content-Security-Policy violation', cspViolations.join('\n'));
} catch (e) {
  ok(false, 'the browser test ran to its end', e.stack || e);
} finally {
  await browser.close();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
