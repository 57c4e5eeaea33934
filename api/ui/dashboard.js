// tabby's fabric dashboard: plain browser JavaScript, served by tabby-apiserver at /ui with no build step.
// Everything it shows comes through one watch stream of all its collections (tabby-apiserver's /watch/v1: a
// browser opens at most six HTTP/1.1 connections to a server, so one stream per collection would starve a second
// tab): first every object, read at one revision, up to a BOOKMARK; then each change as it happens. When the
// stream ends (an ERROR event, the server gone, or after WATCH_MAX_MS) it is opened again, backing off while the
// server is away, and the new snapshot replaces the old. IPAM usage, which has no watch, is read every few
// seconds and when endpoints or pools change. Everything is drawn with textContent, never parsed as HTML.

/** The API's root: the page is served at <root>/ui, so paths resolve against the page's own directory. */
const API_ROOT = new URL('.', window.location.href);

/** Every collection shown, by the name the state keeps it under: its resource (plural.group) and its objects' type. */
const COLLECTIONS = {
  nodes: ['nodes.projectcalico.org', 'projectcalico.org/v3 Node'],
  nodeStatuses: ['caliconodestatuses.projectcalico.org', 'projectcalico.org/v3 CalicoNodeStatus'],
  pools: ['ippools.projectcalico.org', 'projectcalico.org/v3 IPPool'],
  endpoints: ['workloadendpoints.projectcalico.org', 'projectcalico.org/v3 WorkloadEndpoint'],
  policies: ['networkpolicies.projectcalico.org', 'projectcalico.org/v3 NetworkPolicy'],
  globalPolicies: ['globalnetworkpolicies.projectcalico.org', 'projectcalico.org/v3 GlobalNetworkPolicy'],
  k8sPolicies: ['networkpolicies.networking.k8s.io', 'networking.k8s.io/v1 NetworkPolicy'],
};
const COLLECTION_OF_TYPE = new Map(Object.entries(COLLECTIONS).map(([name, [, type]]) => [type, name]));
const WATCH = `watch/v1?allowWatchBookmarks=true&resources=${Object.values(COLLECTIONS)
  .map(([resource]) => resource)
  .join(',')}`;
/** Collections whose changes move IPAM usage. */
const MOVE_USAGE = new Set(['endpoints', 'pools']);

const UTILIZATION = 'ipam/v1/utilization';
/** IPAM usage is read this often (besides after changes of endpoints and pools). */
const POLL_MS = 5000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;
/**
 * The stream is ended and opened again after this long, as Kubernetes clients do with timeoutSeconds: a
 * connection that died without closing would otherwise freeze the page without a sign.
 */
const WATCH_MAX_MS = 5 * 60_000;
const RENDER_DELAY_MS = 50;
const TOKEN_KEY = 'tabby-apiserver-token';
/** A node's status is stale once it has missed this many of its refreshes. */
const STALE_PERIODS = 3;

function emptyCollections() {
  return Object.fromEntries(Object.keys(COLLECTIONS).map((name) => [name, new Map()]));
}

const state = {
  /** name → Map(namespace/name → object) */
  objects: emptyCollections(),
  /** undefined: not read yet; null: this server has no IPAM view. */
  utilization: undefined,
  /** 'connecting' | 'live' | 'reconnecting' | 'unauthorized' */
  stream: 'connecting',
  lastUpdated: undefined,
};

const $ = (testId) => document.querySelector(`[data-testid="${testId}"]`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const keyOf = (object) => `${object.metadata.namespace ?? ''}/${object.metadata.name}`;

// ---- Authentication: a 401 asks for a token once, whoever hit it; the token lives for the browser tab.

let tokenWaiters = [];

function tokenNeeded() {
  const form = $('token-form');
  if (form.hidden) {
    $('token-problem').hidden = sessionStorage.getItem(TOKEN_KEY) === null;
    $('token-problem').textContent = 'The token was refused.';
    sessionStorage.removeItem(TOKEN_KEY);
    form.hidden = false;
    $('token-input').focus();
    state.stream = 'unauthorized';
    scheduleRender();
  }
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
  $('token-input').value = '';
  $('token-form').hidden = true;
  const waiters = tokenWaiters;
  tokenWaiters = [];
  for (const resume of waiters) resume();
});

/** A GET with the tab's token; on a 401 with the token still current, waits for a new one and tries again. */
async function request(path, signal) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const res = await fetch(new URL(path, API_ROOT), {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
      signal,
    });
    if (res.status !== 401) return res;
    await res.body?.cancel();
    // Another request already asked and got a new token: just try again with it.
    if (sessionStorage.getItem(TOKEN_KEY) === token) await tokenNeeded();
  }
}

// ---- Following the collections

function touched() {
  state.lastUpdated = new Date();
  scheduleRender();
}

function applyEvent(name, event) {
  const objects = state.objects[name];
  if (event.type === 'DELETED') objects.delete(keyOf(event.object));
  else objects.set(keyOf(event.object), event.object);
  if (MOVE_USAGE.has(name)) scheduleUtilization();
  touched();
}

function setStream(value) {
  state.stream = value;
  scheduleRender();
}

/**
 * Reads the stream until it ends: the snapshot up to the BOOKMARK replaces what the page held, then each event is
 * applied as it comes. Returns at the stream's end, an ERROR event or WATCH_MAX_MS; `live` is called at the BOOKMARK.
 */
async function watch(live) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), WATCH_MAX_MS);
  try {
    const res = await request(WATCH, abort.signal);
    if (!res.ok || !res.body) throw new Error(`watch: HTTP ${res.status}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let snapshot = emptyCollections();
    let buffered = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (line.trim() === '') continue;
        const event = JSON.parse(line);
        if (event.type === 'ERROR') {
          await reader.cancel();
          return;
        }
        if (event.type === 'BOOKMARK') {
          state.objects = snapshot;
          snapshot = undefined;
          scheduleUtilization();
          touched();
          setStream('live');
          live();
          continue;
        }
        const name = COLLECTION_OF_TYPE.get(`${event.object.apiVersion} ${event.object.kind}`);
        if (name === undefined) continue;
        if (snapshot) snapshot[name].set(keyOf(event.object), event.object);
        else applyEvent(name, event);
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function follow() {
  let retryMs = RETRY_MIN_MS;
  for (;;) {
    try {
      await watch(() => {
        retryMs = RETRY_MIN_MS;
      });
    } catch (err) {
      console.warn(`tabby dashboard: ${err.message}`);
    }
    setStream('reconnecting');
    await sleep(retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }
}

let utilizationTimer;

function scheduleUtilization(delayMs = 300) {
  clearTimeout(utilizationTimer);
  utilizationTimer = setTimeout(refreshUtilization, delayMs);
}

/** IPAM usage; a 404 is a server without the IPAM view (the pools are shown without their usage then). */
async function refreshUtilization() {
  try {
    const res = await request(UTILIZATION);
    if (res.status === 404) state.utilization = null;
    else if (res.ok) state.utilization = await res.json();
    scheduleRender();
  } catch (err) {
    console.warn(`tabby dashboard: IPAM usage: ${err.message}`);
  }
  scheduleUtilization(POLL_MS);
}

// ---- Drawing

let renderPending = false;

/** Events come in bursts (a list, a chunk of a stream): they are drawn together, a moment later. */
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    render();
  }, RENDER_DELAY_MS);
}

/** An element: attributes (testid → data-testid, className, dataset entries as data-*), then text or children. */
function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    if (name === 'className') element.className = value;
    else if (name === 'testid') element.dataset.testid = value;
    else if (name === 'title') element.title = value;
    else element.dataset[name] = value;
  }
  for (const child of children) element.append(child instanceof Node ? child : String(child ?? ''));
  return element;
}

function fillTable(testId, rows, emptyText) {
  const table = $(testId);
  if (rows.length > 0) return table.tBodies[0].replaceChildren(...rows);
  const cell = el('td', { className: 'empty' }, emptyText);
  cell.colSpan = table.tHead.rows[0].cells.length;
  table.tBodies[0].replaceChildren(el('tr', {}, cell));
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (Number.isNaN(seconds)) return iso;
  if (seconds < 90) return `${seconds}s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

/** Established is up; the steps of a session being set up are amber; Idle, Active (retrying) and Close are down. */
function sessionClass(sessionState) {
  if (sessionState === 'Established') return 'ok';
  if (['Connect', 'OpenSent', 'OpenConfirm'].includes(sessionState)) return 'warn';
  return 'bad';
}

/** Each node's latest status report (several CalicoNodeStatus objects may report one node). */
function reportsByNode() {
  const reports = new Map();
  for (const report of state.objects.nodeStatuses.values()) {
    const node = report.spec?.node;
    const updated = Date.parse(report.status?.lastUpdated ?? '') || 0;
    const held = reports.get(node);
    if (!held || updated > (Date.parse(held.status?.lastUpdated ?? '') || 0)) reports.set(node, report);
  }
  return reports;
}

function sessionsOf(report) {
  const bgp = report?.status?.bgp ?? {};
  return [...(bgp.peersV4 ?? []), ...(bgp.peersV6 ?? [])];
}

function endpointsByNode() {
  const byNode = new Map();
  for (const endpoint of state.objects.endpoints.values()) {
    const node = endpoint.spec?.node ?? '';
    byNode.set(node, [...(byNode.get(node) ?? []), endpoint]);
  }
  return byNode;
}

/** Every node the fabric knows of: the Node resources, and the nodes that report a status. */
function nodesByName(reports) {
  const nodes = new Map([...state.objects.nodes.values()].map((n) => [n.metadata.name, n]));
  for (const name of reports.keys()) if (!nodes.has(name)) nodes.set(name, undefined);
  return nodes;
}

function renderNodes(nodes, reports, endpoints) {
  const rows = [...nodes.keys()].sort().map((name) => {
    const node = nodes.get(name);
    const report = reports.get(name);
    const bgpSpec = node?.spec?.bgp ?? {};
    const sessions = sessionsOf(report);
    const established = sessions.filter((s) => s.state === 'Established').length;
    const agent = report?.status?.agent ?? {};
    const felix = agent.felix;
    const lastUpdated = report?.status?.lastUpdated;
    const periodMs = (report?.spec?.updatePeriodSeconds ?? 0) * 1000;
    const stale = lastUpdated && periodMs > 0 && Date.now() - Date.parse(lastUpdated) > STALE_PERIODS * periodMs;
    const sessionsClass = sessions.length === 0 ? 'dim' : established === sessions.length ? 'ok' : 'bad';
    return el(
      'tr',
      { testid: `node-${name}`, state: report ? (stale ? 'stale' : 'reporting') : 'silent' },
      el('td', {}, name),
      el('td', {}, bgpSpec.ipv4Address ?? '—'),
      el('td', {}, bgpSpec.asNumber ?? 'default'),
      el(
        'td',
        { className: agent.birdV4?.state === 'Ready' ? 'ok' : agent.birdV4?.state ? 'bad' : 'dim' },
        agent.birdV4?.state ?? '—',
      ),
      el('td', { className: sessionsClass, testid: `node-sessions-${name}` }, `${established}/${sessions.length}`),
      el(
        'td',
        { className: felix ? (felix.inSync ? 'ok' : 'warn') : 'dim' },
        felix ? `${felix.inSync ? 'in sync' : 'syncing'} · ${felix.policies} policies` : '—',
      ),
      el('td', {}, (endpoints.get(name) ?? []).length),
      el(
        'td',
        { className: stale ? 'bad' : lastUpdated ? '' : 'dim', title: lastUpdated },
        lastUpdated ? `${ago(lastUpdated)}${stale ? ' (stale)' : ''}` : 'never',
      ),
    );
  });
  fillTable('nodes', rows, 'no nodes');
}

function renderSessions(reports) {
  const rows = [];
  for (const [node, report] of [...reports].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const session of sessionsOf(report)) {
      rows.push(
        el(
          'tr',
          { testid: `session-${node}-${session.peerIP}`, state: session.state },
          el('td', {}, node),
          el('td', {}, session.peerIP),
          el('td', {}, session.type ?? ''),
          el('td', {}, el('span', { className: `state ${sessionClass(session.state)}` }, session.state)),
          el('td', { title: session.since }, session.since ? ago(session.since) : ''),
        ),
      );
    }
  }
  fillTable('sessions', rows, 'no BGP sessions reported');
}

function usageClass(inUse, capacity) {
  const used = capacity > 0 ? inUse / capacity : 0;
  return used >= 0.9 ? 'bad' : used >= 0.75 ? 'warn' : '';
}

function renderPools() {
  const usage = new Map((state.utilization?.pools ?? []).map((p) => [p.name, p]));
  const note = $('pools-note');
  note.hidden = state.utilization !== null;
  note.textContent = 'Block usage: this API server does not serve /ipam/v1/utilization.';
  const rows = [...state.objects.pools.values()]
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))
    .map((pool) => {
      const used = usage.get(pool.metadata.name);
      const percent = used && used.capacity > 0 ? (100 * used.inUse) / used.capacity : 0;
      const disabled = pool.spec?.disabled ? ' (disabled)' : '';
      return el(
        'tr',
        { testid: `pool-${pool.metadata.name}` },
        el('td', {}, `${pool.metadata.name}${disabled}`),
        el('td', {}, pool.spec?.cidr ?? ''),
        el('td', {}, used ? `${used.inUse} / ${used.capacity}` : '—'),
        el(
          'td',
          { className: 'bar-cell' },
          el('div', { className: `bar ${used ? usageClass(used.inUse, used.capacity) : ''}` }, barFill(percent)),
        ),
        el(
          'td',
          {},
          el(
            'div',
            { className: 'blocks' },
            ...(used?.blocks ?? []).map((b) =>
              el(
                'span',
                { className: `block ${usageClass(b.inUse, b.capacity)}`, testid: `block-${b.cidr}` },
                `${b.cidr} ${b.inUse}/${b.capacity}`,
              ),
            ),
          ),
        ),
      );
    });
  fillTable('pools', rows, 'no IP pools');
}

function barFill(percent) {
  const fill = el('div');
  fill.style.width = `${Math.min(100, percent).toFixed(1)}%`;
  return fill;
}

function renderEndpoints(endpoints) {
  const rows = [];
  for (const node of [...endpoints.keys()].sort()) {
    const sorted = endpoints.get(node).sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
    for (const endpoint of sorted) {
      const spec = endpoint.spec ?? {};
      rows.push(
        el(
          'tr',
          { testid: `endpoint-${endpoint.metadata.namespace}-${endpoint.metadata.name}` },
          el('td', {}, node),
          el('td', {}, endpoint.metadata.namespace),
          el('td', { title: endpoint.metadata.name }, spec.pod || spec.workload || endpoint.metadata.name),
          el('td', {}, (spec.ipNetworks ?? []).join(' ')),
          el('td', {}, spec.interfaceName ?? ''),
        ),
      );
    }
  }
  fillTable('endpoints', rows, 'no workload endpoints');
}

function renderPolicies() {
  const kinds = [
    ['GlobalNetworkPolicy', state.objects.globalPolicies],
    ['NetworkPolicy', state.objects.policies],
    ['K8s NetworkPolicy', state.objects.k8sPolicies],
  ];
  const rows = kinds.flatMap(([kind, objects]) =>
    [...objects.values()]
      .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1))
      .map((policy) => {
        const spec = policy.spec ?? {};
        const selector =
          kind === 'K8s NetworkPolicy'
            ? Object.entries(spec.podSelector?.matchLabels ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(',') || '(all pods)'
            : (spec.selector ?? 'all()');
        return el(
          'tr',
          { testid: `policy-${kind.replaceAll(' ', '')}-${policy.metadata.namespace ?? ''}-${policy.metadata.name}` },
          el('td', {}, kind),
          el('td', {}, policy.metadata.namespace ?? '(global)'),
          el('td', {}, policy.metadata.name),
          el('td', {}, spec.tier ?? (kind === 'K8s NetworkPolicy' ? 'default' : '')),
          el('td', {}, spec.order ?? (kind === 'K8s NetworkPolicy' ? 1000 : '')),
          el('td', { title: selector }, selector),
        );
      }),
  );
  fillTable('policies', rows, 'no policies');
}

function renderHeader(nodes, reports, endpoints) {
  const sessions = [...reports.values()].flatMap(sessionsOf);
  const established = sessions.filter((s) => s.state === 'Established').length;
  const policies = state.objects.policies.size + state.objects.globalPolicies.size + state.objects.k8sPolicies.size;
  const count = (testId, value, label, className = '') =>
    el('li', { testid: testId, className }, el('b', {}, value), label);
  $('counts').replaceChildren(
    count('count-nodes', nodes.size, 'nodes'),
    count(
      'count-sessions',
      `${established}/${sessions.length}`,
      'BGP sessions up',
      established === sessions.length ? 'ok' : 'bad',
    ),
    count('count-pools', state.objects.pools.size, 'pools'),
    count('count-endpoints', [...endpoints.values()].flat().length, 'endpoints'),
    count('count-policies', policies, 'policies'),
  );
  $('stream-state').dataset.state = state.stream;
  $('stream-state').textContent = state.stream;
  const updated = $('last-updated');
  if (state.lastUpdated) {
    updated.dateTime = state.lastUpdated.toISOString();
    updated.textContent = state.lastUpdated.toLocaleTimeString();
  }
}

function render() {
  const reports = reportsByNode();
  const nodes = nodesByName(reports);
  const endpoints = endpointsByNode();
  renderHeader(nodes, reports, endpoints);
  renderNodes(nodes, reports, endpoints);
  renderSessions(reports);
  renderPools();
  renderEndpoints(endpoints);
  renderPolicies();
}

void follow();
void refreshUtilization();
// Ages ("12s ago") and staleness move on without events.
setInterval(scheduleRender, 1000);
render();
