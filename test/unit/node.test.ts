import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddresses, parseAutodetectMethod, pickAddress } from '../../node/autodetect';
import { ConfigError, parseNodeConfig } from '../../node/config';
import { notReadyReasons, renderMetrics } from '../../node/health';

// `ip -j -4 addr show` of a node with docker, a Calico veth, tunl0 and two underlay interfaces.
const IP_ADDR = JSON.stringify([
  {
    ifname: 'lo',
    flags: ['LOOPBACK', 'UP'],
    addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }],
  },
  {
    ifname: 'docker0',
    flags: ['UP'],
    addr_info: [{ family: 'inet', local: '172.17.0.1', prefixlen: 16, scope: 'global' }],
  },
  {
    ifname: 'tunl0',
    flags: ['UP'],
    addr_info: [{ family: 'inet', local: '10.65.0.0', prefixlen: 32, scope: 'global' }],
  },
  {
    ifname: 'eth0',
    flags: ['UP'],
    addr_info: [{ family: 'inet', local: '192.0.2.11', prefixlen: 24, scope: 'global' }],
  },
  {
    ifname: 'eth1',
    flags: ['UP'],
    addr_info: [{ family: 'inet', local: '198.51.100.11', prefixlen: 24, scope: 'global' }],
  },
  {
    ifname: 'eth2',
    flags: ['BROADCAST'],
    addr_info: [{ family: 'inet', local: '203.0.113.11', prefixlen: 24, scope: 'global' }],
  },
]);

describe('IP autodetection', () => {
  const addresses = parseAddresses(IP_ADDR);

  it('first-found skips loopback, container and tunnel interfaces, and interfaces that are down', () => {
    assert.deepEqual(
      addresses.map((a) => a.ifname),
      ['docker0', 'tunl0', 'eth0', 'eth1'],
    );
    assert.deepEqual(pickAddress(addresses, parseAutodetectMethod('first-found')), {
      ifname: 'eth0',
      address: '192.0.2.11',
      prefixLength: 24,
    });
  });

  it('interface= takes the first interface matching one of the patterns', () => {
    assert.equal(pickAddress(addresses, parseAutodetectMethod('interface=eth1'))?.address, '198.51.100.11');
    assert.equal(pickAddress(addresses, parseAutodetectMethod('interface=ens.*,eth1'))?.address, '198.51.100.11');
    assert.equal(pickAddress(addresses, parseAutodetectMethod('interface=wlan.*')), undefined);
  });

  it('rejects methods it does not know, naming the flag', () => {
    assert.deepEqual(parseAutodetectMethod('can-reach=192.0.2.1'), { kind: 'can-reach', destination: '192.0.2.1' });
    assert.throws(
      () => parseAutodetectMethod('skip-interface=eth0'),
      /--ip-autodetection-method: "skip-interface=eth0"/,
    );
    assert.throws(() => parseAutodetectMethod('interface=('), /interface=\(/);
  });
});

describe('tabby-node flags', () => {
  const env = { ETCD_ENDPOINTS: 'http://192.0.2.10:2379', NODENAME: 'node-1' };

  it('reads flags and their environment variables, with Calico defaults', () => {
    const c = parseNodeConfig([], env)!;
    assert.equal(c.nodeName, 'node-1');
    assert.equal(c.ip, 'autodetect');
    assert.equal(c.healthPort, 9099);
    assert.equal(c.metricsPort, 9091);
    assert.equal(c.bgpEnabled, true);
    assert.equal(c.defaultPool.ipipMode, 'Always');
    assert.equal(c.nodeStatusPeriodSeconds, 10);
    const d = parseNodeConfig(['--ip', '192.0.2.11/24', '--as', '65001'], {
      ...env,
      CALICO_NETWORKING_BACKEND: 'vxlan',
      CALICO_IPV4POOL_IPIP: 'never',
      TABBY_NODE_STATUS_PERIOD: '1m',
    })!;
    assert.equal(d.nodeStatusPeriodSeconds, 60);
    assert.equal(parseNodeConfig([], { ...env, TABBY_NODE_STATUS_PERIOD: '0' })!.nodeStatusPeriodSeconds, 0);
    assert.equal(d.ip, '192.0.2.11/24');
    assert.equal(d.asNumber, 65001);
    assert.equal(d.bgpEnabled, false);
    assert.equal(d.defaultPool.ipipMode, 'Never');
  });

  it('rejects bad values with one line naming the flag', () => {
    for (const [args, extra, message] of [
      [['--ip', '192.0.2.11'], {}, /--ip: "192\.0\.2\.11" is not an IPv4 address with its prefix length/],
      [['--as', '0'], {}, /--as: "0" is not an AS number/],
      [['--health-port', '70000'], {}, /--health-port: "70000" is not a port/],
      [[], { TABBY_NETWORKING_BACKEND: 'gobgp' }, /TABBY_NETWORKING_BACKEND: must be bird, vxlan or none/],
      [[], { TABBY_NODE_STATUS_PERIOD: '1.5s' }, /TABBY_NODE_STATUS_PERIOD: "1\.5s" is not a whole number of seconds/],
      [['--node-name', 'Node_1'], {}, /--node-name: "Node_1" is not a valid node name/],
      [['--bogus'], {}, /Unknown option '--bogus'/],
    ] as [string[], Record<string, string>, RegExp][]) {
      assert.throws(
        () => parseNodeConfig(args, { ...env, ...extra }),
        (err: Error) => err instanceof ConfigError && message.test(err.message),
      );
    }
  });
});

describe('health and metrics', () => {
  const felix = { inSync: true, endpoints: 3, lastApplyMs: 12, applies: 7, writes: 40, problems: [] };
  const bgp = {
    peers: [
      { address: '192.0.2.1', state: 'Established' },
      { address: '192.0.2.12', state: 'Active' },
    ],
    rib: { prefixes: 5, paths: 6 },
  };

  it('is ready only with felix in sync and every BGP session Established, and says why not', () => {
    assert.deepEqual(notReadyReasons({ felix, bgp, ipam: { batches: 0, requests: 0 } }), [
      'BGP session with 192.0.2.12 is Active',
    ]);
    assert.deepEqual(notReadyReasons({ felix, bgp: undefined, ipam: { batches: 0, requests: 0 } }), []);
    assert.deepEqual(
      notReadyReasons({
        felix: { ...felix, inSync: false, problems: ['route 10.0.0.1/32: no such device'] },
        bgp: undefined,
        ipam: { batches: 0, requests: 0 },
      }),
      ['felix not in sync: route 10.0.0.1/32: no such device'],
    );
  });

  it('renders Prometheus text with types and labels', () => {
    const text = renderMetrics({ felix, bgp, ipam: { batches: 2, requests: 9 } });
    assert.match(text, /^# TYPE tabby_bgp_peers gauge$/m);
    assert.match(text, /^tabby_bgp_peers\{state="Established"\} 1$/m);
    assert.match(text, /^tabby_bgp_peers\{state="Active"\} 1$/m);
    assert.match(text, /^tabby_felix_writes_total 40$/m);
    assert.match(text, /^tabby_ipam_requests_total 9$/m);
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
  });
});
