// The fabric dashboard (/ui of tabby-apiserver) in a real headless Chromium, over a real fabric: etcd and a
// tabby-node in network namespaces, the node peering over eBGP with a BIRD 2 top-of-rack router, the API server in
// this process (its datastore reached through a loopback relay into etcd's namespace). The page asks for the API's
// token, shows a Node within 2 s of its creation, and follows the node's BGP session as tabby-node reports it in its
// CalicoNodeStatus: Established, then down once the test stops BIRD.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { buildApiServer, TokenTable } from '../../api';
import { EtcdBackend } from '../../datastore';
import type { CalicoNodeStatusResource } from '../../node/status-report';
import { Topology } from '../harness';
import { Bird } from '../support/bgp-daemons';
import { Fabric } from '../support/fabric';
import { type LoopbackRelay, relayFromLoopback } from '../support/loopback-relay';

const isRoot = process.getuid?.() === 0;
const TOKEN = 'dashboard-test-token-0123456789';
const TOR = { address: '192.0.2.1', asNumber: 65000 };
const NODE_ADDRESS = '192.0.2.11';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the dashboard in Chromium', { skip: isRoot ? false : 'needs root' }, () => {
  let topo: Topology;
  let fabric: Fabric;
  let bird: Bird;
  let relay: LoopbackRelay;
  let backend: EtcdBackend;
  let app: ReturnType<typeof buildApiServer>;
  let base: string;
  let browser: Browser;
  let page: Page;

  const api = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { code: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const sessionRow = () => page.getByTestId(`session-n1-${TOR.address}`);

  before(async () => {
    topo = await Topology.create();
    await topo.addSegment('lan');
    await topo.addNode('ctl', { segment: 'lan', address: '192.0.2.10/24' });
    await topo.addNode('tor', { segment: 'lan', address: `${TOR.address}/24` });
    await topo.addNode('n1', { segment: 'lan', address: `${NODE_ADDRESS}/24` });
    fabric = await Fabric.start(topo, 'ctl', '192.0.2.10');
    await fabric.apply(
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name: 'pods' },
        spec: { cidr: '10.48.0.0/24', ipipMode: 'Never' },
      },
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'BGPConfiguration',
        metadata: { name: 'default' },
        spec: { nodeToNodeMeshEnabled: false, asNumber: 64512 },
      },
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'BGPPeer',
        metadata: { name: 'tor' },
        spec: { peerIP: TOR.address, asNumber: TOR.asNumber },
      },
    );
    bird = await Bird.start(topo, 'tor', {
      routerId: TOR.address,
      asNumber: TOR.asNumber,
      peers: [{ name: 'n1', address: NODE_ADDRESS, asNumber: 64512 }],
    });
    await fabric.startNode('n1');

    const etcd = new URL(fabric.etcd.endpoints[0]!);
    relay = await relayFromLoopback(topo, 'ctl', etcd.hostname, Number(etcd.port));
    backend = new EtcdBackend([`http://127.0.0.1:${relay.port}`]);
    app = buildApiServer({ backend, tokens: TokenTable.parse(`${TOKEN},dashboard-test`) });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await backend?.close();
    await relay?.close();
    await topo?.destroy();
    await fabric?.stop();
  });

  it('asks for the API token, then follows the fabric live', async () => {
    await page.goto(`${base}/ui`);
    await page.getByTestId('token-form').waitFor({ state: 'visible', timeout: 5000 });
    await page.getByTestId('token-input').fill(TOKEN);
    await page.getByTestId('token-input').press('Enter');
    await page.locator('[data-testid="stream-state"][data-state="live"]').waitFor({ timeout: 5000 });
    await page.getByTestId('node-n1').waitFor({ timeout: 5000 });
    await page.getByTestId('pool-pods').waitFor({ timeout: 5000 });
  });

  it('shows a node within 2 s of its Node resource being created', async (t) => {
    const created = await api('POST', '/apis/projectcalico.org/v3/nodes', {
      metadata: { name: 'rack2-node7' },
      spec: { bgp: { ipv4Address: '192.0.2.57/24' } },
    });
    assert.equal(created.code, 201, JSON.stringify(created.body));
    const acknowledged = Date.now();
    await page.getByTestId('node-rack2-node7').waitFor({ timeout: 5000 });
    const elapsed = Date.now() - acknowledged;
    t.diagnostic(`node on the page ${elapsed} ms after the API acknowledged its creation`);
    assert.ok(elapsed < 2000, `${elapsed} ms`);
  });

  it('shows a policy as it is written, and a second tab of the same browser is live too (one stream each)', async () => {
    const created = await api('POST', '/apis/projectcalico.org/v3/globalnetworkpolicies', {
      metadata: { name: 'dashboard-probe' },
      spec: { selector: 'app == "nothing-here"', types: ['Ingress'], ingress: [{ action: 'Allow' }] },
    });
    assert.equal(created.code, 201, JSON.stringify(created.body));
    const acknowledged = Date.now();
    await page.getByTestId('policy-GlobalNetworkPolicy--dashboard-probe').waitFor({ timeout: 5000 });
    assert.ok(Date.now() - acknowledged < 2000, `${Date.now() - acknowledged} ms`);

    const second = await browser.newPage();
    try {
      await second.goto(`${base}/ui`);
      await second.getByTestId('token-input').fill(TOKEN);
      await second.getByTestId('token-input').press('Enter');
      await second.locator('[data-testid="stream-state"][data-state="live"]').waitFor({ timeout: 5000 });
      await second.getByTestId('policy-GlobalNetworkPolicy--dashboard-probe').waitFor({ timeout: 5000 });
    } finally {
      await second.close();
    }
    assert.equal((await api('DELETE', '/apis/projectcalico.org/v3/globalnetworkpolicies/dashboard-probe')).code, 200);
    await page.getByTestId('policy-GlobalNetworkPolicy--dashboard-probe').waitFor({ state: 'detached', timeout: 5000 });
  });

  it("shows the node's BGP session Established, then down when the peer stops", async (t) => {
    await page
      .locator(`[data-testid="session-n1-${TOR.address}"][data-state="Established"]`)
      .waitFor({ timeout: 40_000 });

    // What the page shows is tabby-node's report in the datastore, as Calico's CalicoNodeStatus.
    const report = (await api('GET', '/apis/projectcalico.org/v3/caliconodestatuses/n1'))
      .body as unknown as CalicoNodeStatusResource;
    assert.deepEqual(report.spec, { node: 'n1', classes: ['Agent', 'BGP'], updatePeriodSeconds: 10 });
    assert.equal(report.status?.agent?.birdV4?.state, 'Ready');
    assert.equal(report.status?.agent?.birdV4?.routerID, NODE_ADDRESS);
    assert.equal(report.status?.agent?.felix?.inSync, true);
    assert.deepEqual(
      report.status?.bgp?.peersV4?.map(({ peerIP, type, state }) => ({ peerIP, type, state })),
      [{ peerIP: TOR.address, type: 'GlobalPeer', state: 'Established' }],
    );
    assert.equal(report.status?.bgp?.numberEstablishedV4, 1);

    await bird.process.stop();
    const stopped = Date.now();
    await page
      .locator(`[data-testid="session-n1-${TOR.address}"]:not([data-state="Established"])`)
      .waitFor({ timeout: 10_000 });
    const elapsed = Date.now() - stopped;
    const shown = await sessionRow().getAttribute('data-state');
    t.diagnostic(`session shown ${shown} ${elapsed} ms after BIRD was stopped`);
    assert.ok(elapsed < 3000, `${elapsed} ms`);
    assert.equal(await page.getByTestId('node-sessions-n1').textContent(), '0/1');

    const screenshot = path.join(tmpdir(), `tabby-dashboard-${topo.prefix.slice(0, -1)}.png`);
    await page.screenshot({ path: screenshot, fullPage: true });
    t.diagnostic(`screenshot: ${screenshot}`);
  });
});
