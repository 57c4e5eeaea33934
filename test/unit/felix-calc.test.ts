import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../datastore';
import {
  applyIpamUpdates,
  applyResourceUpdates,
  computeDataplane,
  emptyInputs,
  felixSettings,
  vxlanMac,
} from '../../felix';
import { UnchangedInput } from '../../felix/unchanged';
import { affinityKey, assignOrdinal, blockKey, newBlock, parseIpv4Cidr } from '../../ipam';

const v3 = 'projectcalico.org/v3';

function node(name: string, ip: string, extra: Record<string, unknown> = {}): Resource {
  const { bgp, ...rest } = extra as { bgp?: Record<string, unknown> };
  return { apiVersion: v3, kind: 'Node', metadata: { name }, spec: { bgp: { ipv4Address: ip, ...bgp }, ...rest } };
}

function pool(name: string, cidr: string, spec: Record<string, unknown> = {}): Resource {
  return { apiVersion: v3, kind: 'IPPool', metadata: { name }, spec: { cidr, ...spec } };
}

function wep(name: string, nodeName: string, iface: string, ip: string, mac?: string): Resource {
  return {
    apiVersion: v3,
    kind: 'WorkloadEndpoint',
    metadata: { name, namespace: 'default' },
    spec: { node: nodeName, interfaceName: iface, ipNetworks: [`${ip}/32`], ...(mac ? { mac } : {}) },
  };
}

/** A block affine to owner, with addresses allocated for the given nodes. */
function blockRecords(cidr: string, owner: string, allocations: [number, string][] = []) {
  const block = newBlock(parseIpv4Cidr(cidr)!, owner, false);
  for (const [ordinal, user] of allocations) assignOrdinal(block, ordinal, `h${ordinal}`, { node: user });
  return [
    { type: 'ADDED' as const, object: { key: blockKey(cidr), value: JSON.stringify(block), modRevision: '1' } },
    {
      type: 'ADDED' as const,
      object: { key: affinityKey(owner, cidr), value: '{"state":"confirmed"}', modRevision: '1' },
    },
  ];
}

function inputsWith(resources: Resource[], ...ipam: ReturnType<typeof blockRecords>[]) {
  const inputs = emptyInputs();
  applyResourceUpdates(
    inputs,
    resources.map((object) => ({ type: 'ADDED', object })),
  );
  for (const records of ipam) applyIpamUpdates(inputs, records);
  return inputs;
}

describe('felix calculation', () => {
  const settings = felixSettings([], 'n1');

  it('routes local workloads, blackholes local blocks and leaves routed remote blocks to BGP', () => {
    const inputs = inputsWith(
      [
        node('n1', '192.0.2.11/24'),
        node('n2', '192.0.2.12/24'),
        pool('p', '10.65.0.0/16'),
        wep('w1', 'n1', 'cali1234567890a', '10.65.0.1', 'EE:EE:EE:EE:EE:01'),
        wep('w2', 'n2', 'cali000000000b', '10.65.0.65'),
      ],
      blockRecords('10.65.0.0/26', 'n1', [[1, 'n1']]),
      blockRecords('10.65.0.64/26', 'n2', [[1, 'n2']]),
    );
    const d = computeDataplane(inputs, 'n1', settings);
    assert.deepEqual(d.routes, [
      { dst: '10.65.0.1/32', dev: 'cali1234567890a', scope: 'link' },
      { dst: '10.65.0.0/26', type: 'blackhole' },
    ]);
    assert.deepEqual(d.neighbors, [{ dev: 'cali1234567890a', ip: '10.65.0.1', mac: 'ee:ee:ee:ee:ee:01' }]);
    assert.deepEqual(d.localBlocks, ['10.65.0.0/26']);
    assert.equal(d.ipip, undefined);
    assert.equal(d.vxlan, undefined);
    assert.deepEqual(
      d.workloads.map((w) => w.name),
      ['cali1234567890a'],
    );
  });

  it('gives a /32 block in use by a local workload the workload route alone, no blackhole over it', () => {
    const inputs = inputsWith(
      [
        node('n1', '192.0.2.11/24'),
        pool('p', '10.65.0.0/16', { blockSize: 32 }),
        wep('w1', 'n1', 'cali1', '10.65.0.7'),
      ],
      blockRecords('10.65.0.7/32', 'n1', [[0, 'n1']]),
      blockRecords('10.65.0.8/32', 'n1'),
    );
    assert.deepEqual(computeDataplane(inputs, 'n1', settings).routes, [
      { dst: '10.65.0.7/32', dev: 'cali1', scope: 'link' },
      { dst: '10.65.0.8/32', type: 'blackhole' },
    ]);
  });

  it('sends remote blocks of an IPIP pool through tunl0, and CrossSubnet only across subnets', () => {
    const nodes = [
      node('n1', '192.0.2.11/24', { bgp: { ipv4IPIPTunnelAddr: '10.65.0.0' } }),
      node('n2', '192.0.2.12/24'),
      node('n3', '198.51.100.13/24'),
    ];
    const blocks = [blockRecords('10.65.0.64/26', 'n2'), blockRecords('10.65.0.128/26', 'n3')];
    const always = computeDataplane(
      inputsWith([...nodes, pool('p', '10.65.0.0/16', { ipipMode: 'Always' })], ...blocks),
      'n1',
      settings,
    );
    assert.deepEqual(always.routes, [
      { dst: '10.65.0.128/26', via: '198.51.100.13', dev: 'tunl0', onlink: true },
      { dst: '10.65.0.64/26', via: '192.0.2.12', dev: 'tunl0', onlink: true },
    ]);
    assert.deepEqual(always.ipip, {
      address: '10.65.0.0',
      peers: [
        { cidr: '10.65.0.128/26', remote: '198.51.100.13' },
        { cidr: '10.65.0.64/26', remote: '192.0.2.12' },
      ],
    });
    const cross = computeDataplane(
      inputsWith([...nodes, pool('p', '10.65.0.0/16', { ipipMode: 'CrossSubnet' })], ...blocks),
      'n1',
      settings,
    );
    assert.deepEqual(cross.routes, [{ dst: '10.65.0.128/26', via: '198.51.100.13', dev: 'tunl0', onlink: true }]);
  });

  it('programs VXLAN routes via the remote tunnel address, with the VTEP to reach it', () => {
    const d = computeDataplane(
      inputsWith(
        [
          node('n1', '192.0.2.11/24', { ipv4VXLANTunnelAddr: '10.65.0.0' }),
          node('n2', '192.0.2.12/24', { ipv4VXLANTunnelAddr: '10.65.0.64', vxlanTunnelMACAddr: '66:AA:BB:CC:DD:EE' }),
          pool('p', '10.65.0.0/16', { vxlanMode: 'Always', natOutgoing: true }),
        ],
        blockRecords('10.65.0.64/26', 'n2'),
      ),
      'n1',
      settings,
    );
    assert.deepEqual(d.routes, [{ dst: '10.65.0.64/26', via: '10.65.0.64', dev: 'vxlan.calico', onlink: true }]);
    assert.deepEqual(d.vxlan?.peers, [
      { node: 'n2', nodeIp: '192.0.2.12', tunnelIp: '10.65.0.64', mac: '66:aa:bb:cc:dd:ee' },
    ]);
    assert.equal(d.vxlan?.vni, 4096);
    assert.equal(d.vxlan?.mac, vxlanMac('n1', undefined));
    assert.match(d.vxlan!.mac, /^66(:[0-9a-f]{2}){5}$/);
    assert.deepEqual(d.natPools, ['10.65.0.0/16']);
  });

  it('routes an address borrowed by another node to that node, and reports our own borrowed ones', () => {
    const inputs = inputsWith(
      [
        node('n1', '192.0.2.11/24'),
        node('n2', '192.0.2.12/24'),
        pool('p', '10.65.0.0/16', { ipipMode: 'Always' }),
        wep('mine', 'n1', 'cali1', '10.65.0.70'),
      ],
      blockRecords('10.65.0.0/26', 'n1', [[5, 'n2']]),
      blockRecords('10.65.0.64/26', 'n2', [[6, 'n1']]),
    );
    const d = computeDataplane(inputs, 'n1', settings);
    assert.ok(d.routes.some((r) => r.dst === '10.65.0.5/32' && r.via === '192.0.2.12' && r.dev === 'tunl0'));
    assert.deepEqual(d.borrowedAddresses, ['10.65.0.70']);
  });

  it("merges FelixConfiguration default with node.<name> over Calico's defaults", () => {
    const s = felixSettings(
      [
        {
          apiVersion: v3,
          kind: 'FelixConfiguration',
          metadata: { name: 'default' },
          spec: { routeRefreshInterval: '30s', vxlanVNI: 4100 },
        },
        {
          apiVersion: v3,
          kind: 'FelixConfiguration',
          metadata: { name: 'node.n1' },
          spec: { routeRefreshInterval: '1m30s' },
        },
        { apiVersion: v3, kind: 'FelixConfiguration', metadata: { name: 'node.n2' }, spec: { vxlanVNI: 1 } },
      ],
      'n1',
    );
    assert.equal(s.routeRefreshIntervalMs, 90_000);
    assert.equal(s.vxlanVni, 4100);
    assert.equal(s.iptablesRefreshIntervalMs, 180_000);
    assert.equal(s.interfacePrefix, 'cali');
    assert.equal(s.failsafeInbound.length, 7);
  });
});

describe('UnchangedInput (skipping a manager whose input did not change)', () => {
  it('runs for new input, skips the same input after a clean run, runs again after a failed run or forget', () => {
    const gate = new UnchangedInput();
    assert.equal(gate.needed('a'), true);
    gate.ran('a', true);
    assert.equal(gate.needed('a'), false);
    assert.equal(gate.needed('b'), true, 'a change');
    gate.ran('b', false);
    assert.equal(gate.needed('b'), true, 'after problems: retried');
    gate.ran('b', true);
    gate.forget();
    assert.equal(gate.needed('b'), true, 'the resync repairs drift');
  });

  it('runs again once the input is older than its maximum age', () => {
    const gate = new UnchangedInput(10_000);
    gate.ran('a', true, 1000);
    assert.equal(gate.needed('a', 10_999), false);
    assert.equal(gate.needed('a', 11_000), true);
  });
});
