// tabbyctl's IPAM commands as a user runs them: the built executable against a real etcd, with addresses
// allocated by the IPAM service (as tabby-node and the CNI plugin do) from the test itself.
// The tests run in order on one etcd: each builds on the allocations the previous ones left.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { EtcdBackend, kindByAlias, type Resource, ResourceClient } from '../../datastore';
import { affinityKey, blockKey, handleKey, type IpamCheckReport, IpamService, parseBlock } from '../../ipam';
import { type EtcdHandle, run, startEtcd } from '../harness';
import { TABBYCTL_ROUTES, type TabbyctlRoute, tabbyctlRoute } from '../support/apiserver';

const isRoot = process.getuid?.() === 0;
const TABBYCTL = path.join(__dirname, '..', '..', 'bin', 'tabbyctl');
const v3 = 'projectcalico.org/v3';

function pool(name: string, cidr: string, spec: Record<string, unknown> = {}): Resource {
  return { apiVersion: v3, kind: 'IPPool', metadata: { name }, spec: { cidr, ...spec } };
}

/** The cells of each body row of a box table. */
function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| GROUPING'))
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

// The same commands through the datastore and through tabby-apiserver's /ipam/v1.
for (const via of TABBYCTL_ROUTES)
  describe(`tabbyctl ipam via ${via}`, { skip: isRoot ? false : 'needs root: runs etcd' }, () => {
    let etcd: EtcdHandle;
    let route: TabbyctlRoute;
    let backend: EtcdBackend;
    let client: ResourceClient;
    const ctl = (...args: string[]) => run(TABBYCTL, [...args, ...route.args], { allowFail: true, env: route.env });
    const ok = async (...args: string[]) => {
      const res = await ctl(...args);
      assert.equal(res.code, 0, `tabbyctl ${args.join(' ')}: ${res.stderr}`);
      return res.stdout;
    };
    const failsWith = async (pattern: RegExp, ...args: string[]) => {
      const res = await ctl(...args);
      assert.equal(res.code, 1, `tabbyctl ${args.join(' ')} should fail: ${res.stdout}`);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.match(res.stderr.trim(), pattern);
    };

    before(async () => {
      etcd = await startEtcd();
      route = await tabbyctlRoute(via, etcd);
      backend = new EtcdBackend(etcd.endpoints);
      client = new ResourceClient(backend);
      await client.create(pool('pool-a', '10.50.0.0/26'));
      await client.create(pool('pool-b', '10.60.0.0/24', { blockSize: 29 }));
      await client.create(pool('pool-c', '10.70.0.0/24'));
      const svc = new IpamService(backend, 'node-1');
      for (const pod of ['pod1', 'pod2', 'pod3']) {
        await svc.assign({ handleId: `net.${pod}`, namespace: 'default', pod, configuredPools: ['pool-a'] });
      }
      for (let n = 8; n < 18; n++) {
        const address = `10.60.0.${n}`;
        await svc.assign({
          handleId: `net.b${n}`,
          podAnnotations: { 'cni.projectcalico.org/ipAddrs': `["${address}"]` },
        });
      }
    });
    after(async () => {
      await backend?.close();
      await route?.stop();
      await etcd?.stop();
    });

    it('shows the usage of each pool and, with --show-blocks, of each block', async () => {
      assert.deepEqual(tableRows(await ok('ipam', 'show', '--show-blocks')), [
        ['IP Pool', '10.50.0.0/26', '64', '3 (5%)', '61 (95%)'],
        ['Block', '10.50.0.0/26', '64', '3 (5%)', '61 (95%)'],
        ['IP Pool', '10.60.0.0/24', '256', '10 (4%)', '246 (96%)'],
        ['Block', '10.60.0.8/29', '8', '8 (100%)', '0 (0%)'],
        ['Block', '10.60.0.16/29', '8', '2 (25%)', '6 (75%)'],
        ['IP Pool', '10.70.0.0/24', '256', '0 (0%)', '256 (100%)'],
      ]);
      const pools = await ok('ipam', 'show');
      assert.match(pools, /^\+-+\+-+\+-+\+-+\+-+\+\n\| GROUPING \| CIDR +\| IPS TOTAL \| IPS IN USE \| IPS FREE +\|\n/);
      assert.deepEqual(
        tableRows(pools).map((r) => r[0]),
        ['IP Pool', 'IP Pool', 'IP Pool'],
      );
    });

    it('shows one address: its handle and attributes, or that it is not assigned', async () => {
      const inUse = await ok('ipam', 'show', '--ip', '10.50.0.0');
      const lines = inUse.trimEnd().split('\n');
      assert.equal(lines[0], 'IP 10.50.0.0 is in use');
      assert.equal(lines[1], 'Handle ID: net.pod1');
      assert.equal(lines[2], 'Active Owner Attributes:');
      assert.deepEqual(
        lines.slice(3).map((l) => l.trim().split(': ')[0]),
        ['namespace', 'node', 'pod', 'timestamp'],
      );
      assert.ok(lines.includes('  pod: pod1') && lines.includes('  node: node-1'), inUse);
      assert.equal(await ok('ipam', 'show', '--ip=10.50.0.63'), 'IP 10.50.0.63 is not assigned\n');
      await failsWith(/^tabbyctl: --ip: invalid IP address "10\.50\.0\.300"$/, 'ipam', 'show', '--ip', '10.50.0.300');
    });

    it('checks IPAM against the endpoints that use addresses, as text and as JSON', async () => {
      await client.create({
        apiVersion: v3,
        kind: 'WorkloadEndpoint',
        metadata: { name: 'node--1-k8s-pod1-eth0', namespace: 'default' },
        spec: {
          node: 'node-1',
          orchestrator: 'k8s',
          pod: 'pod1',
          endpoint: 'eth0',
          interfaceName: 'cali0',
          ipNetworks: ['10.50.0.0/32'],
        },
      });
      const report = JSON.parse(await ok('ipam', 'check', '-o', 'json')) as IpamCheckReport;
      assert.equal(report.blocks, 3);
      assert.equal(report.allocations, 13);
      assert.equal(report.leaked.length, 12, 'every address but pod1 is allocated without a user');
      assert.ok(!report.leaked.some((l) => l.address === '10.50.0.0'));
      assert.deepEqual(report.handleMismatches, []);
      assert.equal(report.problems, 12);
      const text = await ok('ipam', 'check', '--show-problem-ips');
      assert.match(text, /\nFound 12 IPs that are allocated in IPAM but not actually in use\.\n/);
      assert.match(text, /\n {2}10\.60\.0\.17 leaked; handle net\.b17/);
      assert.ok(text.endsWith('Check complete; found 12 problems.\n'), text);
    });

    it('releases an address whoever holds it, and refuses one that is not assigned', async () => {
      for (const address of ['10.60.0.17', '10.60.0.16']) {
        assert.equal(await ok('ipam', 'release', '--ip', address), `Successfully released IP address ${address}\n`);
        assert.equal(await ok('ipam', 'show', '--ip', address), `IP ${address} is not assigned\n`);
      }
      assert.equal(await backend.kvGet(handleKey('net.b17')), undefined, 'the handle went with its only address');
      await failsWith(/^tabbyctl: IP address 10\.60\.0\.17 is not assigned$/, 'ipam', 'release', '--ip', '10.60.0.17');
      await failsWith(/--ip IP is required/, 'ipam', 'release');
    });

    it('configures strict affinity and the blocks per host, keeping the other fields', async () => {
      assert.equal(
        await ok('ipam', 'configure', '--strictaffinity=true'),
        'Successfully set StrictAffinity to: true\n',
      );
      let config = parseYaml(await ok('get', 'ipamconfig', 'default', '-o', 'yaml'));
      assert.equal(config.kind, 'IPAMConfiguration');
      assert.equal(config.spec.strictAffinity, true);
      assert.equal(config.spec.autoAllocateBlocks, true);
      assert.equal(
        await ok('ipam', 'configure', '--max-blocks-per-host', '4'),
        'Successfully set MaxBlocksPerHost to: 4\n',
      );
      config = parseYaml(await ok('get', 'ipamconfig', 'default', '-o', 'yaml'));
      assert.equal(config.spec.strictAffinity, true, 'an earlier setting survives');
      assert.equal(config.spec.maxBlocksPerHost, 4);
      await failsWith(
        /--strictaffinity: must be true or false, got "yes"/,
        'ipam',
        'configure',
        '--strictaffinity=yes',
      );
      await failsWith(/give --strictaffinity/, 'ipam', 'configure');
    });

    it('refuses to delete an enabled pool in use; deletes it disabled and releases its blocks', async () => {
      await failsWith(
        /^tabbyctl: IPPool "pool-b" has 8 allocated addresses: disable it first \(spec\.disabled: true\), then delete it$/,
        'delete',
        'ippool',
        'pool-b',
      );
      assert.equal((await client.get(kindByAlias('ippool')!, 'pool-b')).metadata.name, 'pool-b');
      assert.equal(await ok('delete', 'ippool', 'pool-c'), "Successfully deleted 1 'IPPool' resource(s)\n");

      await ok('patch', 'ippool', 'pool-b', '--patch', '{"spec":{"disabled":true}}');
      assert.equal(await ok('delete', 'ippool', 'pool-b'), "Successfully deleted 1 'IPPool' resource(s)\n");

      const full = await backend.kvGet(blockKey('10.60.0.8/29'));
      assert.ok(full, 'the block in use stays');
      assert.equal(parseBlock(full.value).affinity, null, '... affine to no node');
      assert.equal(await backend.kvGet(affinityKey('node-1', '10.60.0.8/29')), undefined);
      assert.equal(await backend.kvGet(blockKey('10.60.0.16/29')), undefined, 'the emptied block is deleted');
      assert.equal(await backend.kvGet(affinityKey('node-1', '10.60.0.16/29')), undefined);
      assert.ok(await backend.kvGet(affinityKey('node-1', '10.50.0.0/26')), "pool-a's block keeps its node");

      assert.deepEqual(tableRows(await ok('ipam', 'show', '--show-blocks')), [
        ['IP Pool', '10.50.0.0/26', '64', '3 (5%)', '61 (95%)'],
        ['Block', '10.50.0.0/26', '64', '3 (5%)', '61 (95%)'],
        ['Block', '10.60.0.8/29', '8', '8 (100%)', '0 (0%)'],
      ]);
      const report = JSON.parse(await ok('ipam', 'check', '-o', 'json')) as IpamCheckReport;
      assert.deepEqual(report.blocksWithoutAffinity, []);
      assert.deepEqual(report.affinitiesWithoutBlock, []);
    });
  });
