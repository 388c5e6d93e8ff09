// app.js — wavesync's page: the applications, one application's objects as
// its sync runs them, a run's timeline, and the actions. Plain DOM, no
// framework. Every name and message from the service is put in the page as
// text (textContent, text nodes), never as markup. Live updates come from
// one Server-Sent Events stream, GET /api/v1/events.
'use strict';

const main = document.getElementById('main');
const TOKEN_KEY = 'wavesync-token';
const state = {
  apps: new Map(),      // name -> the API's application document
  rows: new Map(),      // name -> its <tr> in the overview
  view: null,           // {kind, ...} of the page shown
  runs: new Map(),      // run id -> {app, waves: Map, objects: Map, state}
  filter: { text: '', sync: '', health: '', cluster: '' },
  total: 0,             // applications in the service's list
  serverSummary: null,  // its counts, until the whole list is here
};

// ---- small helpers -----------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  put(e, kids);
  return e;
}
// Append kids (nested arrays flattened; null, undefined and false skipped);
// strings become text nodes.
function put(parent, ...kids) {
  for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined && k !== false) parent.append(k instanceof Node ? k : String(k));
  return parent;
}
function show(...kids) { main.replaceChildren(); put(main, kids); }
const enc = encodeURIComponent;
const badge = (s, title) => el('span', { class: 'badge s-' + String(s || 'Unknown').replace(/[^A-Za-z]/g, ''), title }, s || 'Unknown');
const short = (sha) => (sha && /^[0-9a-f]{40}$/.test(sha) ? sha.slice(0, 10) : sha || '');

function ago(unixSeconds) {
  if (!unixSeconds) return '';
  const s = Math.max(0, Date.now() / 1000 - unixSeconds);
  if (s < 60) return Math.round(s) + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}
const iso = (unixSeconds) => (unixSeconds ? new Date(unixSeconds * 1000).toISOString() : '');
const ms = (n) => (n >= 10000 ? (n / 1000).toFixed(0) + ' s' : n >= 1000 ? (n / 1000).toFixed(1) + ' s' : n + ' ms');

// A commit on the forge, when the repository URL says which forge: GitHub,
// GitLab (https or git@host:path); else no link. Only https links are made.
function commitLink(repoURL, sha) {
  if (!sha || !/^[0-9a-f]{7,40}$/.test(sha)) return document.createTextNode(short(sha));
  let m = /^(?:https:\/\/|git@|ssh:\/\/git@)(github\.com|gitlab\.com|[\w.-]*gitlab[\w.-]*)[:/](.+?)(?:\.git)?\/?$/.exec(repoURL || '');
  if (!m) return el('span', { class: 'mono', title: sha }, short(sha));
  const path = m[2].split('/').map(enc).join('/');
  const href = m[1] === 'github.com' ? `https://github.com/${path}/commit/${sha}` : `https://${m[1]}/${path}/-/commit/${sha}`;
  return el('a', { class: 'mono', href, title: sha, rel: 'noreferrer', target: '_blank' }, short(sha));
}

function toast(msg, bad) {
  const t = el('div', { class: 'toast' + (bad ? ' error' : ''), role: 'status' }, msg);
  document.body.append(t);
  setTimeout(() => t.remove(), 5000);
}

async function api(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${path}: HTTP ${r.status}`);
  return body;
}

// ---- the token and the actions -----------------------------------------------

const dialog = document.getElementById('token-dialog');
const tokenButton = document.getElementById('token-button');
let tokenWaiter = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }
function showTokenState() {
  tokenButton.textContent = token() ? 'Forget API token' : 'Enter API token';
  document.body.classList.toggle('read-only', !token());
}
function askToken(why) {
  document.getElementById('token-why').textContent = why || '';
  document.getElementById('token-input').value = '';
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => { tokenWaiter = resolve; });
}
document.getElementById('token-form').addEventListener('submit', (e) => {
  const v = document.getElementById('token-input').value.trim();
  if (!v) { e.preventDefault(); return; }
  sessionStorage.setItem(TOKEN_KEY, v);
  showTokenState();
  if (tokenWaiter) tokenWaiter(true);
  tokenWaiter = null;
});
document.getElementById('token-cancel').addEventListener('click', () => {
  dialog.close();
  if (tokenWaiter) tokenWaiter(false);
  tokenWaiter = null;
});
tokenButton.addEventListener('click', () => {
  if (token()) { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); toast('API token forgotten: read-only'); } else askToken('');
});

// POST /api/v1/applications/{name}/sync with the bearer token; without one,
// or when it is refused, the token prompt says why.
async function syncApp(name, opts) {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!token() && !(await askToken(`${opts.dryRun ? 'Dry run' : 'Sync'} of ${name} needs the API token.`))) return;
    const r = await fetch(`/api/v1/applications/${enc(name)}/sync`, {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + token(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ dryRun: !!opts.dryRun, prune: !!opts.prune }),
    });
    const body = await r.json().catch(() => ({}));
    if (r.status === 401 || r.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      showTokenState();
      if (!(await askToken(`Refused: ${body.error || 'HTTP ' + r.status}`))) return;
      continue;
    }
    if (!r.ok) { toast(`${name}: ${body.error || 'HTTP ' + r.status}`, true); return; }
    toast(`${name}: ${opts.dryRun ? 'dry run' : 'sync'} queued (trigger ${body.trigger})`);
    return body;
  }
}

function actionButtons(name) {
  return el('div', { class: 'actions' },
    el('button', { class: 'primary', type: 'button', 'data-action': 'sync', onclick: () => syncApp(name, {}) }, 'Sync'),
    el('button', { type: 'button', 'data-action': 'dry-run', onclick: () => syncApp(name, { dryRun: true }) }, 'Dry run'),
    el('button', { type: 'button', 'data-action': 'prune', onclick: () => syncApp(name, { prune: true }) }, 'Sync with prune'));
}

// ---- overview ------------------------------------------------------------------

function cluster(a) { return a.destinationName || a.destinationServer || ''; }

function appRow(a) {
  const src = (a.sources || [])[0] || {};
  const live = (a.comparedTo || {}).revision || a.lastRevision;
  const run = a.lastRun ? el('a', { href: `#/run/${a.lastRun}` }, badge(a.lastResult || 'Running')) : el('span', { class: 'muted' }, 'never');
  // a grid row, not a table row: each row lays out on its own, and the
  // browser skips the ones off screen (content-visibility)
  const tr = el('div', { class: 'row', role: 'row', 'data-app': a.name },
    el('span', { role: 'cell' }, el('a', { href: `#/app/${enc(a.name)}` }, a.name)),
    el('span', { role: 'cell' }, badge(a.syncStatus)),
    el('span', { role: 'cell' }, badge((a.health || {}).status, (a.health || {}).message)),
    el('span', { role: 'cell' }, badge(a.state)),
    el('span', { role: 'cell' }, run, ' ', el('span', { class: 'muted', title: iso(a.lastRunAt) }, ago(a.lastRunAt))),
    el('span', { role: 'cell' }, el('span', { class: 'mono' }, src.targetRevision || ''), live ? ' → ' : '', live ? commitLink(src.repoURL, live) : ''),
    el('span', { role: 'cell' }, cluster(a), a.namespace ? ' / ' + a.namespace : ''),
    el('span', { role: 'cell' }, a.applicationSet ? 'set: ' + a.applicationSet : '', a.parent ? el('a', { href: `#/app/${enc(a.parent)}` }, 'parent: ' + a.parent) : ''),
    el('span', { role: 'cell' }, (a.dependsOn || []).join(', ')));
  tr.hidden = !matches(a);
  return tr;
}

function matches(a) {
  const f = state.filter;
  if (f.sync && a.syncStatus !== f.sync) return false;
  if (f.health && (a.health || {}).status !== f.health) return false;
  if (f.state && a.state !== f.state) return false;
  if (f.cluster && cluster(a) !== f.cluster) return false;
  if (!f.text) return true;
  const t = f.text.toLowerCase();
  const hay = [a.name, cluster(a), a.namespace, a.applicationSet, a.parent,
    ...Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase();
  return t.split(/\s+/).every((w) => hay.includes(w));
}

// Counts by status: the service's own while only the first slice of the list
// is here, then counted on the page (and kept current by the events).
function summary() {
  const loaded = state.apps.size >= state.total || !state.serverSummary;
  const count = (key, server) => {
    if (!loaded) return new Map(Object.entries(server || {}));
    const m = new Map();
    for (const a of state.apps.values()) m.set(key(a), (m.get(key(a)) || 0) + 1);
    return m;
  };
  const ss = state.serverSummary || {};
  const bar = el('div', { class: 'summary', id: 'summary' },
    el('button', { type: 'button', 'data-filter': 'all', onclick: () => setFilter({ sync: '', health: '', state: '' }) }, `All ${Math.max(state.apps.size, state.total || 0)}`));
  const groups = [['sync', count((a) => a.syncStatus, ss.syncStatus)], ['health', count((a) => (a.health || {}).status, ss.health)], ['state', count((a) => a.state, ss.state)]];
  for (const [key, m] of groups) {
    bar.append(el('span', { class: 'group' }, key));
    for (const [v, n] of [...m.entries()].sort()) {
      const b = el('button', { type: 'button', class: state.filter[key] === v ? 'active' : '', 'data-filter': `${key}:${v}`,
        onclick: () => setFilter({ [key]: state.filter[key] === v ? '' : v }) }, badge(v), ` ${n}`);
      bar.append(b);
    }
  }
  return bar;
}

function setFilter(change) {
  Object.assign(state.filter, change);
  for (const [name, tr] of state.rows) tr.hidden = !matches(state.apps.get(name));
  const old = document.getElementById('summary');
  if (old) old.replaceWith(summary());
  let shown = 0;
  for (const a of state.apps.values()) shown += matches(a) ? 1 : 0;
  const c = document.getElementById('shown');
  if (c) c.textContent = state.apps.size < state.total ? `${state.apps.size} of ${state.total} loaded` : `${shown} of ${state.apps.size} shown`;
}

// The overview: the first FIRST applications and the service's counts (a
// small answer, preloaded by index.html), drawn at once; then the rest of the
// list, built in chunks after the first screenful is on screen.
const FIRST = 30, CHUNK = 300;
async function viewOverview() {
  performance.mark('ws:overview-asked');
  const doc = await api(`/api/v1/applications?limit=${FIRST}`);
  performance.mark('ws:overview-read'); // bench/web.sh shows where the time goes
  state.apps = new Map(doc.applications.map((a) => [a.name, a]));
  state.rows = new Map();
  state.total = doc.total;
  state.serverSummary = doc.summary;
  const clusters = Object.keys((doc.summary || {}).cluster || {}).filter((c) => c).sort();
  const text = el('input', { type: 'search', id: 'filter', placeholder: 'filter: name, label (team=ml), cluster, namespace…', value: state.filter.text,
    oninput: (e) => { clearTimeout(text.t); text.t = setTimeout(() => setFilter({ text: e.target.value.trim() }), 120); } });
  const pick = (key, values, label) => {
    const s = el('select', { 'data-filter-select': key, onchange: (e) => setFilter({ [key]: e.target.value }) },
      el('option', { value: '' }, label), values.map((v) => el('option', { value: v, selected: state.filter[key] === v }, v)));
    return s;
  };
  const body = el('div', { class: 'body', role: 'rowgroup' });
  const addRows = (apps, lazy) => {
    const frag = document.createDocumentFragment();
    for (const a of apps) {
      if (state.rows.has(a.name)) continue; /* an event drew it already */
      const tr = appRow(state.apps.get(a.name) || a);
      if (lazy) tr.classList.add('lazy'); /* mostly off screen: laid out when scrolled to */
      state.rows.set(a.name, tr);
      frag.append(tr);
    }
    body.append(frag);
  };
  performance.mark('ws:overview-built-state');
  addRows(doc.applications);
  performance.mark('ws:overview-first-rows');
  document.body.dataset.complete = doc.total <= doc.applications.length ? '1' : '';
  const view = state.view;
  if (doc.total > doc.applications.length) {
    // two frames on: the first screenful is drawn before the rest is read
    const later = (f) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => { if (state.view === view) f(); }, 0)));
    later(async () => {
      const rest = await api(`/api/v1/applications?offset=${doc.applications.length}`);
      if (state.view !== view) return;
      for (const a of rest.applications) if (!state.apps.has(a.name)) state.apps.set(a.name, a); /* an event's is newer */
      state.total = state.apps.size;
      (function more(from) {
        addRows(rest.applications.slice(from, from + CHUNK), true);
        if (from + CHUNK < rest.applications.length) { later(() => more(from + CHUNK)); return; }
        window.__allRowsAt = performance.now();
        document.body.dataset.complete = '1';
        setFilter({});
      })(0);
    });
  }
  const invalid = (doc.invalid || []).length
    ? el('div', { class: 'card error' }, el('h2', {}, `${doc.invalid.length} invalid`), doc.invalid.map((i) => el('div', { class: 'wrap' }, i.error || JSON.stringify(i))))
    : null;
  show(
    el('h1', {}, 'Applications', el('span', { class: 'muted', id: 'shown' }, '')),
    summary(),
    el('div', { class: 'filters' }, text,
      pick('sync', ['Synced', 'OutOfSync', 'Unknown'], 'any sync status'),
      pick('health', ['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'], 'any health'),
      pick('cluster', clusters, 'any cluster')),
    invalid,
    el('div', { id: 'apps', class: 'grid', role: 'table' },
      el('div', { class: 'row head', role: 'row' }, ['Name', 'Sync', 'Health', 'State', 'Last run', 'Revision', 'Destination', 'From', 'Depends on'].map((h) => el('span', { role: 'columnheader' }, h))),
      body),
    doc.routing ? el('p', { class: 'muted' }, `${doc.routing} push(es) being routed`) : null);
  performance.mark('ws:overview-shown');
  setFilter({});
  performance.mark('ws:overview-filtered');
}

// One application's row changed ("app" event): the overview shows it at once.
let pendingRows = new Set();
function appChanged(a) {
  state.apps.set(a.name, a);
  if (state.view && state.view.kind === 'overview') {
    pendingRows.add(a.name);
    if (pendingRows.size === 1) requestAnimationFrame(flushRows);
  }
  if (state.view && state.view.kind === 'app' && state.view.name === a.name) renderAppHeader(a);
}
function flushRows() {
  for (const name of pendingRows) {
    const old = state.rows.get(name), a = state.apps.get(name);
    if (!a) continue;
    const tr = appRow(a);
    if (old) old.replaceWith(tr);
    else if (document.body.dataset.complete !== '1') continue; /* the rest of the list draws it, in its place */
    else { const tb = document.querySelector('#apps .body'); if (tb) tb.append(tr); }
    state.rows.set(name, tr);
  }
  pendingRows = new Set();
  setFilter({});
}

// ---- one application -------------------------------------------------------------

const PHASES = ['PreSync', 'Sync', 'PostSync', 'SyncFail', 'PostDelete'];

function identOf(r) {
  const gv = r.group ? `${r.group}/${r.version}` : r.version;
  return `${gv} ${r.kind} ${r.namespace ? r.namespace + '/' : ''}${r.name}`;
}

function renderAppHeader(a) {
  const h = document.getElementById('app-header');
  if (!h) return;
  const src = (a.sources || [])[0] || {};
  h.replaceChildren();
  put(h,
    el('h1', {}, a.name, badge(a.syncStatus), badge((a.health || {}).status, (a.health || {}).message), badge(a.state)),
    el('dl', { class: 'kv' },
      el('dt', {}, 'Source'), el('dd', {}, (a.sources || []).map((s) => el('div', { class: 'mono' }, `${s.repoURL} ${s.path || ''} @ ${s.targetRevision || 'HEAD'}`))),
      el('dt', {}, 'Destination'), el('dd', {}, cluster(a), a.namespace ? ' / ' + a.namespace : ''),
      el('dt', {}, 'Compared with'), el('dd', {}, commitLink(src.repoURL, (a.comparedTo || {}).revision), ' ', el('span', { class: 'muted' }, (a.comparedTo || {}).message || '')),
      el('dt', {}, 'Health'), el('dd', { class: 'wrap' }, (a.health || {}).message || (a.health || {}).status || ''),
      el('dt', {}, 'Policy'), el('dd', {}, a.automated ? `automated${a.prune ? ', prune' : ''}${a.selfHeal ? ', selfHeal' : ''}` : 'manual'),
      a.awaitingManualSync ? [el('dt', {}, 'Awaiting'), el('dd', {}, 'a manual sync of ', commitLink(src.repoURL, a.awaitingManualSync.revision))] : null,
      a.applicationSet ? [el('dt', {}, 'ApplicationSet'), el('dd', {}, a.applicationSet)] : null,
      a.parent ? [el('dt', {}, 'Parent'), el('dd', {}, el('a', { href: `#/app/${enc(a.parent)}` }, a.parent))] : null,
      (a.dependsOn || []).length ? [el('dt', {}, 'Depends on'), el('dd', {}, a.dependsOn.map((d, i) => [i ? ', ' : '', el('a', { href: `#/app/${enc(d)}` }, d)]))] : null,
      el('dt', {}, 'Defined in'), el('dd', { class: 'mono' }, `${a.file}:${a.line}`)),
    actionButtons(a.name));
}

function diffTable(diff) {
  return el('table', { class: 'diff' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Field'), el('th', {}, 'Git'), el('th', {}, 'Live'))),
    el('tbody', {}, (diff || []).map((d) => el('tr', {},
      el('td', {}, d.path || ''),
      el('td', {}, value(d, 'desired')),
      el('td', {}, value(d, 'live'))))));
}
// A value of the diff; a Secret's values are never sent (only its paths).
function value(d, key) {
  if (!(key in d)) return el('span', { class: 'muted' }, key === 'live' && 'desired' in d ? '(absent)' : key === 'desired' && 'live' in d ? '(absent)' : '(hidden)');
  return typeof d[key] === 'string' ? d[key] : JSON.stringify(d[key], null, 1);
}

function objectRow(o, res) {
  // live (the resource as watched now) wins over the last run's report
  const h = res && res.health && typeof res.health === 'object' ? res.health : { status: res ? res.health : o.health };
  const row = el('div', { class: 'obj', 'data-object': o.object },
    el('span', { class: 'mono' }, o.object),
    el('span', {}, res ? badge(res.status) : badge(o.result)),
    el('span', {}, badge(h.status)),
    el('span', { class: 'wrap' }, h.message || (res && res.message) || o.message || ''));
  if (res && res.status === 'OutOfSync' && (res.diff || []).length) {
    const d = diffTable(res.diff);
    d.hidden = true;
    row.children[1].append(' ', el('button', { type: 'button', 'data-diff': o.object, onclick: () => { d.hidden = !d.hidden; } }, 'diff'));
    return [row, d];
  }
  return [row];
}

async function viewApp(name) {
  const a = await api(`/api/v1/applications/${enc(name)}`);
  state.apps.set(a.name, a);
  const runs = a.runs || [];
  const last = runs.find((r) => !r.dryRun && r.state !== 'running') || runs[0];
  const report = last ? ((await api(`/api/v1/runs/${last.id}`)).report || {}) : {};
  const byIdent = new Map((a.resources || []).map((r) => [identOf(r), r]));
  const seen = new Set();
  const groups = el('div', { id: 'objects' });
  const objects = report.objects || [];
  for (const phase of PHASES) {
    const inPhase = objects.filter((o) => o.phase === phase);
    if (!inPhase.length) continue;
    groups.append(el('div', { class: 'phase' }, phase));
    for (const wave of [...new Set(inPhase.map((o) => o.wave))].sort((x, y) => x - y)) {
      const w = (report.waves || []).find((x) => x.phase === phase && x.wave === wave);
      groups.append(el('div', { class: 'wave', 'data-wave': `${phase} ${wave}` },
        el('div', { class: 'wave-title' }, `wave ${wave}`, w ? ` — ${w.result}, ${ms(w.durationMs)} of ${ms(w.timeoutMs)}` : ''),
        inPhase.filter((o) => o.wave === wave).map((o) => { seen.add(o.object); return objectRow(o, byIdent.get(o.object)); })));
    }
  }
  const others = (a.resources || []).filter((r) => !seen.has(identOf(r)));
  if (others.length) {
    groups.append(el('div', { class: 'phase' }, report.objects ? 'Live, not in the last sync' : 'Live objects'));
    groups.append(el('div', { class: 'wave' }, others.map((r) => objectRow({ object: identOf(r), result: r.status }, r))));
  }
  if (!objects.length && !others.length) groups.append(el('p', { class: 'muted' }, 'No objects known yet: no sync has run.'));
  show(
    el('div', { id: 'app-header', class: 'card' }),
    el('div', { id: 'live-run', class: 'card running', hidden: true }),
    el('div', { class: 'card' }, el('h2', {}, 'Objects', last ? el('span', { class: 'muted' }, ` (as run ${last.id} ran them)`) : ''), groups),
    el('div', { class: 'card' }, el('h2', {}, 'Runs'), runsTable(runs)));
  renderAppHeader(a);
  renderLiveRun(name);
}

// What the running sync of `app` does now: its wave, what it waits on, the
// time left to the wave's deadline (from the wave and object events).
function renderLiveRun(app) {
  const box = document.getElementById('live-run');
  if (!box) return;
  const run = [...state.runs.entries()].filter(([, r]) => r.app === app && r.state === 'Running').pop();
  if (!run) { box.hidden = true; return; }
  const [id, r] = run;
  const wave = [...r.waves.values()].pop();
  const waiting = [...r.objects.values()].filter((o) => o.phase === (wave || {}).phase && o.wave === (wave || {}).wave && o.state !== 'Healthy');
  const left = wave && wave.result === 'Running' ? Math.max(0, wave.startedMs + wave.timeoutMs - (performance.now() - r.t0)) : null;
  box.hidden = false;
  box.replaceChildren();
  put(box, el('h2', {}, el('a', { href: `#/run/${id}` }, `Run ${id}`), ' is syncing'),
    wave ? el('div', { 'data-live-wave': `${wave.phase} ${wave.wave}` }, `wave ${wave.phase} ${wave.wave}: ${wave.result}`,
      left !== null ? el('span', { class: 'muted', 'data-deadline': '' }, ` — ${Math.ceil(left / 1000)} s to its deadline`) : '') : 'starting',
    waiting.length ? el('div', {}, 'waiting on: ', waiting.map((o) => el('div', { class: 'mono wrap' }, `${o.object}: ${o.health}${o.message ? ' — ' + o.message : ''}`))) : '');
}
setInterval(() => { if (state.view && state.view.kind === 'app') renderLiveRun(state.view.name); }, 1000);

function runsTable(runs) {
  return el('table', { class: 'runs' },
    el('thead', {}, el('tr', {}, ['Run', 'Application', 'Result', 'Trigger', 'Revision', 'Started', 'Took', 'Message'].map((h) => el('th', {}, h)))),
    el('tbody', {}, runs.map((r) => el('tr', {},
      el('td', {}, el('a', { href: `#/run/${r.id}` }, String(r.id)), r.dryRun ? ' (dry run)' : ''),
      el('td', {}, el('a', { href: `#/app/${enc(r.app)}` }, r.app)),
      el('td', {}, badge(r.state === 'running' ? 'Running' : r.state)),
      el('td', {}, r.trigger ? String(r.trigger) : ''),
      el('td', { class: 'mono' }, short(r.revision)),
      el('td', { title: iso(r.startedAt) }, ago(r.startedAt)),
      el('td', {}, r.finishedAt ? ms((r.finishedAt - r.startedAt) * 1000) : ''),
      el('td', { class: 'wrap' }, r.message || '')))));
}

async function viewRuns() {
  const doc = await api('/api/v1/runs');
  show(el('h1', {}, 'Runs'), runsTable(doc.runs || doc || []));
}

// ---- a run and its timeline --------------------------------------------------------

function gantt(waves, objects) {
  const end = Math.max(1, ...waves.map((w) => w.startedMs + Math.max(w.durationMs || 0, 1)),
    ...objects.map((o) => o.healthyMs || o.appliedMs || 0));
  const span = Math.max(end, ...waves.filter((w) => w.result === 'Running' || w.result === 'Failed').map((w) => w.startedMs + w.timeoutMs));
  const pct = (t) => `${Math.min(100, (100 * t) / span).toFixed(3)}%`;
  const g = el('div', { class: 'gantt', id: 'gantt' });
  const axis = el('div', { class: 'axis' });
  for (let i = 0; i <= 4; i++) {
    const s = el('span', {}, ms(Math.round((span * i) / 4)));
    s.style.left = `${i * 25}%`;
    axis.append(s);
  }
  g.append(axis);
  for (const w of waves) {
    const bar = el('div', { class: `bar ${w.result}`, title: `${w.phase} ${w.wave}: ${w.result}, ${ms(w.durationMs || 0)} (deadline ${ms(w.timeoutMs)})${w.waitedOn ? '; last: ' + w.waitedOn : ''}` });
    bar.style.left = pct(w.startedMs);
    bar.style.width = pct(Math.max(w.durationMs || 0, span / 400));
    const track = el('div', { class: 'track' }, bar);
    if (w.startedMs + w.timeoutMs <= span) {
      const d = el('div', { class: 'deadline', title: `deadline ${ms(w.timeoutMs)}` });
      d.style.left = pct(w.startedMs + w.timeoutMs);
      track.append(d);
    }
    for (const o of objects.filter((x) => x.phase === w.phase && x.wave === w.wave)) {
      if (o.appliedMs) { const m = el('div', { class: 'mark', title: `${o.object}: applied at ${ms(o.appliedMs)}` }); m.style.left = pct(o.appliedMs); track.append(m); }
      if (o.healthyMs) { const m = el('div', { class: 'mark h', title: `${o.object}: healthy at ${ms(o.healthyMs)}` }); m.style.left = pct(o.healthyMs); track.append(m); }
    }
    g.append(el('div', { class: 'lane', 'data-wave': `${w.phase} ${w.wave}` },
      el('span', { class: 'label' }, `${w.phase} ${w.wave} · ${w.result}`), track));
  }
  return g;
}

// What a push's routing found: the changed paths and where they led.
function routedTo(routing) {
  if (!routing) return null;
  const paths = routing.paths || [], apps = routing.applications || [];
  return el('div', { id: 'routing' },
    apps.length ? el('div', {}, 'routed to: ', apps.map((a, i) => [i ? ', ' : '',
      el('a', { href: `#/app/${enc(a.app)}` }, a.app), a.manual ? ' (manual: awaiting a sync)' : ''])) : null,
    paths.length ? el('details', {}, el('summary', {}, `${paths.length} changed path${paths.length === 1 ? '' : 's'}`),
      el('ul', { class: 'mono' }, paths.map((p) => el('li', {}, p)))) : null);
}

async function viewRun(id) {
  const run = await api(`/api/v1/runs/${id}`);
  const rep = run.report || {};
  let waves = rep.waves || [], objects = rep.objects || [];
  const live = state.runs.get(Number(id));
  if (run.state === 'running' && live) { waves = [...live.waves.values()]; objects = [...live.objects.values()]; }
  let trigger = null;
  if (run.trigger) trigger = await api(`/api/v1/triggers/${run.trigger}`).catch(() => null);
  const app = state.apps.get(run.app);
  const repo = app && (app.sources || [])[0] ? app.sources[0].repoURL : '';
  show(
    el('div', { class: 'card' },
      el('h1', {}, `Run ${run.id}`, el('a', { href: `#/app/${enc(run.app)}` }, run.app), badge(run.state === 'running' ? 'Running' : run.state), run.dryRun ? badge('dry run') : ''),
      el('dl', { class: 'kv' },
        el('dt', {}, 'Revision'), el('dd', {}, commitLink(repo, rep.revision || run.revision)),
        el('dt', {}, 'Started'), el('dd', { title: iso(run.startedAt) }, ago(run.startedAt)),
        el('dt', {}, 'Took'), el('dd', {}, run.finishedAt ? ms((run.finishedAt - run.startedAt) * 1000) : 'running'),
        el('dt', {}, 'Message'), el('dd', { class: 'wrap', id: 'run-message' }, run.message || rep.message || ''),
        trigger ? [el('dt', {}, 'Trigger'), el('dd', { id: 'trigger' },
          `${trigger.source}${trigger.provider ? ' (' + trigger.provider + ')' : ''} `,
          trigger.repo ? `${trigger.repo} ${trigger.ref || ''} ` : '',
          trigger.before || trigger.after ? el('span', { class: 'mono' }, `${short(trigger.before)}..${short(trigger.after)}`) : '',
          el('div', { class: 'muted wrap' }, trigger.detail || ''),
          routedTo(trigger.routing))] : null)),
    el('div', { class: 'card' }, el('h2', {}, 'Timeline'), waves.length ? gantt(waves, objects) : el('p', { class: 'muted' }, 'No wave ran.')),
    el('div', { class: 'card' }, el('h2', {}, 'Objects'),
      el('table', {}, el('thead', {}, el('tr', {}, ['Object', 'Phase', 'Wave', 'Result', 'Health', 'Applied', 'Healthy', 'Message'].map((h) => el('th', {}, h)))),
        el('tbody', {}, objects.map((o) => el('tr', { 'data-object': o.object },
          el('td', { class: 'mono' }, o.object), el('td', {}, o.phase), el('td', {}, String(o.wave)),
          el('td', {}, badge(o.result || o.state)), el('td', {}, badge(o.health)),
          el('td', {}, o.appliedMs !== undefined ? ms(o.appliedMs) : ''), el('td', {}, o.healthyMs !== undefined ? ms(o.healthyMs) : ''),
          el('td', { class: 'wrap' }, o.message || '')))))));
}

// ---- the event stream ----------------------------------------------------------------

function runState(ev) {
  let r = state.runs.get(ev.run);
  if (!r) { r = { app: ev.app, waves: new Map(), objects: new Map(), state: 'Running', t0: performance.now() }; state.runs.set(ev.run, r); }
  return r;
}

let rerender = null;
function refreshSoon() {
  clearTimeout(rerender);
  rerender = setTimeout(() => { if (state.view && state.view.kind === 'run') route(); }, 150);
}

function connect() {
  const live = document.getElementById('live');
  const es = new EventSource('/api/v1/events');
  es.onopen = () => { live.className = 'live on'; live.textContent = 'live'; };
  es.onerror = () => { live.className = 'live off'; live.textContent = 'reconnecting'; };
  // counted for bench/web.sh (50 pages following a burst of runs)
  for (const t of ['trigger', 'app', 'run', 'wave', 'object', 'applications']) es.addEventListener(t, () => { window.__wsEvents = (window.__wsEvents || 0) + 1; });
  es.addEventListener('app', (e) => appChanged(JSON.parse(e.data)));
  es.addEventListener('applications', () => { if (state.view && state.view.kind === 'overview') route(); });
  es.addEventListener('reset', () => route());
  es.addEventListener('run', (e) => {
    const ev = JSON.parse(e.data);
    const r = runState(ev);
    r.state = ev.state;
    if (ev.state === 'Running') r.t0 = performance.now();
    if (state.view && state.view.kind === 'run' && String(state.view.id) === String(ev.run)) refreshSoon();
    if (state.view && state.view.kind === 'app' && state.view.name === ev.app && ev.state !== 'Running') route();
    if (state.view && state.view.kind === 'app' && state.view.name === ev.app) renderLiveRun(ev.app);
  });
  const progress = (e) => {
    const ev = JSON.parse(e.data);
    const r = runState(ev);
    if (e.type === 'wave') r.waves.set(`${ev.phase} ${ev.wave}`, ev);
    else r.objects.set(ev.object, Object.assign({ result: ev.state }, ev));
    if (state.view && state.view.kind === 'app' && state.view.name === ev.app) renderLiveRun(ev.app);
    if (state.view && state.view.kind === 'run' && String(state.view.id) === String(ev.run)) refreshSoon();
  };
  es.addEventListener('wave', progress);
  es.addEventListener('object', progress);
}

// ---- routing -------------------------------------------------------------------------

async function route() {
  const h = location.hash.replace(/^#/, '') || '/';
  let m;
  try {
    if ((m = /^\/app\/(.+)$/.exec(h))) { state.view = { kind: 'app', name: decodeURIComponent(m[1]) }; await viewApp(state.view.name); }
    else if ((m = /^\/run\/(\d+)$/.exec(h))) { state.view = { kind: 'run', id: Number(m[1]) }; await viewRun(m[1]); }
    else if (h === '/runs') { state.view = { kind: 'runs' }; await viewRuns(); }
    else { state.view = { kind: 'overview' }; await viewOverview(); }
    document.body.dataset.view = state.view.kind;
  } catch (err) {
    show(el('p', { class: 'error' }, String(err.message || err)));
  }
}

window.addEventListener('hashchange', route);
showTokenState();
connect();
route().then(() => {
  // drawn: the task right after the next frame (bench/web.sh reads it, from navigation start)
  requestAnimationFrame(() => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      window.__renderedAt = performance.now();
      document.body.dataset.ready = '1';
    };
    ch.port2.postMessage(0);
  });
});
