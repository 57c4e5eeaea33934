import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTable } from '../../cli/columns';
import { DocumentError, parseDocuments } from '../../cli/documents';
import { renderNodeStatus, reportedNodeStatus } from '../../cli/node-status';
import { kindByAlias, MemoryBackend, ResourceClient } from '../../datastore';

describe('tabbyctl documents', () => {
  it('reads several YAML documents, skips empty ones, expands Lists', () => {
    const docs = parseDocuments(
      `---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: a}
---
---
apiVersion: projectcalico.org/v3
kind: TierList
items:
- {apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: b}}
- {apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: c}}
`,
      'f.yaml',
    );
    assert.deepEqual(
      docs.map((d) => `${d.index}:${d.resource.metadata.name}`),
      ['1:a', '2:b', '2:c'],
    );
  });

  it('reads JSON', () => {
    const docs = parseDocuments(
      '{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"j"}}',
      'f.json',
    );
    assert.equal(docs[0]?.resource.metadata.name, 'j');
  });

  it('names the line of a syntax error and the document of a shape error', () => {
    assert.throws(
      () => parseDocuments('kind: Tier\nmetadata:\n  name: [x\n', 'f.yaml'),
      /^DocumentError: f\.yaml: line 4, column 1: invalid YAML: [^\n]*\]$/,
    );
    assert.throws(
      () => parseDocuments('kind: Tier\nmetadata: {name: a}\n---\n- just\n- a list\n', 'f.yaml'),
      (e) => e instanceof DocumentError && /f\.yaml: document 2: not a resource/.test(e.message),
    );
    assert.throws(
      () => parseDocuments('kind: Tier\nmetadata: {}\n', 'f.yaml'),
      /document 1: Tier: metadata\.name: required/,
    );
  });
});

describe('tabbyctl tables', () => {
  it("prints calicoctl's columns, false for absent booleans, NAMESPACE first with -A", () => {
    const pools = kindByAlias('ippool')!;
    const table = renderTable(
      pools,
      [
        {
          apiVersion: 'projectcalico.org/v3',
          kind: 'IPPool',
          metadata: { name: 'p' },
          spec: { cidr: '10.0.0.0/16', nodeSelector: 'all()' },
        },
      ],
      true,
      false,
    );
    assert.deepEqual(table.split('\n')[1]!.split(/\s+/), [
      'p',
      '10.0.0.0/16',
      'false',
      'Never',
      'Never',
      'false',
      'false',
      'all()',
    ]);
    const weps = kindByAlias('wep')!;
    const wepTable = renderTable(
      weps,
      [
        {
          apiVersion: 'projectcalico.org/v3',
          kind: 'WorkloadEndpoint',
          metadata: { name: 'w', namespace: 'x' },
          spec: { pod: 'a', node: 'n1', ipNetworks: ['10.0.0.1/32'], interfaceName: 'cali1' },
        },
      ],
      false,
      true,
    );
    assert.deepEqual(
      wepTable.split('\n').map((l) => l.split(/\s+/)),
      [['NAMESPACE', 'WORKLOAD', 'NODE', 'NETWORKS', 'INTERFACE'], ['x', 'a', 'n1', '10.0.0.1/32', 'cali1'], ['']],
    );
  });
});

describe('tabbyctl node status', () => {
  it('prints the same table from the CalicoNodeStatus the node reports (through --server)', async () => {
    const client = new ResourceClient(new MemoryBackend());
    await assert.rejects(reportedNodeStatus(client, 'n1'), /node "n1" reports no BGP status/);
    const lastUpdated = '2026-11-22T10:00:00Z';
    await client.create({
      apiVersion: 'projectcalico.org/v3',
      kind: 'CalicoNodeStatus',
      metadata: { name: 'n1' },
      spec: { node: 'n1', classes: ['Agent', 'BGP'], updatePeriodSeconds: 10 },
      status: {
        lastUpdated,
        bgp: {
          numberEstablishedV4: 1,
          numberNotEstablishedV4: 1,
          numberEstablishedV6: 0,
          numberNotEstablishedV6: 0,
          peersV4: [
            { peerIP: '192.0.2.12', type: 'NodeMesh', state: 'Established', since: '2026-11-22T09:00:00Z' },
            { peerIP: '192.0.2.1', type: 'GlobalPeer', state: 'Active', since: '2026-11-21T09:00:00Z' },
          ],
        },
      },
    } as never);
    const fresh = await reportedNodeStatus(client, 'n1', new Date('2026-11-22T10:00:05Z'));
    assert.equal(fresh.split('\n')[0], 'Calico process is running.');
    assert.match(fresh, /\| 192\.0\.2\.12 +\| node-to-node mesh \| up +\|/);
    assert.match(fresh, /\| 192\.0\.2\.1 +\| global +\| start \| 2026-11-21 \| Active +\|/);
    const stale = await reportedNodeStatus(client, 'n1', new Date('2026-11-22T10:00:31Z'));
    assert.equal(
      stale.split('\n')[0],
      `Calico process is not running (its last report is from 2026-11-22T10:00:00.000Z).`,
    );
  });

  it("prints Calico's table from a status object", () => {
    const out = renderNodeStatus({
      node: 'n1',
      bgp: {
        peers: [
          {
            address: '192.0.2.12',
            type: 'node-to-node mesh',
            state: 'Established',
            since: new Date().toISOString(),
            info: 'Established',
          },
          {
            address: '192.0.2.1',
            type: 'global',
            state: 'Active',
            since: '2020-01-02T03:04:05Z',
            info: 'Connect: connection refused',
          },
        ],
      },
    });
    const lines = out.split('\n');
    assert.equal(lines[0], 'Calico process is running.');
    assert.match(out, /\| PEER ADDRESS \|\s+PEER TYPE\s+\| STATE \|\s+SINCE\s+\|\s+INFO\s+\|/);
    assert.match(out, /\| 192\.0\.2\.12 {3}\| node-to-node mesh \| up {4}\| \d\d:\d\d:\d\d {3}\| Established/);
    assert.match(
      out,
      /\| 192\.0\.2\.1 {4}\| global {12}\| start \| 2020-01-02 \| Active Connect: connection refused \|/,
    );
    assert.match(out, /IPv6 BGP status\nNo IPv6 peers found\./);
  });
});
