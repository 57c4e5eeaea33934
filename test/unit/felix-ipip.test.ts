// felix/ipip's pure parts, no root needed: the route table's validation and encoding for the native side, and the
// option checks UserspaceIpip.start() makes before it touches the kernel.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kernelIpipAvailable, UserspaceIpip } from '../../felix/ipip';
import { encodeRoutes } from '../../felix/ipip/routes';

const LOCAL = '192.0.2.11';

describe('encodeRoutes', () => {
  it('encodes [network, prefix length, remote] as unsigned host-order numbers, in order', () => {
    const encoded = encodeRoutes(
      [
        { cidr: '10.65.1.0/26', remote: '192.0.2.12' },
        { cidr: '255.255.255.255/32', remote: '203.0.113.254' },
        { cidr: '0.0.0.0/0', remote: '192.0.2.13' },
      ],
      LOCAL,
    );
    assert.deepEqual([...encoded], [0x0a410100, 26, 0xc000020c, 0xffffffff, 32, 0xcb0071fe, 0, 0, 0xc000020d]);
  });

  it('an empty table is fine', () => {
    assert.equal(encodeRoutes([], LOCAL).length, 0);
  });

  it('refuses bad routes naming the one at fault', () => {
    const refused = (cidr: string, remote: string, message: RegExp) =>
      assert.throws(
        () =>
          encodeRoutes(
            [
              { cidr: '10.65.0.0/26', remote: '192.0.2.12' },
              { cidr, remote },
            ],
            LOCAL,
          ),
        {
          name: 'TypeError',
          message,
        },
      );
    refused('10.65.1.0', '192.0.2.12', /^routes\[1\]\.cidr: "10\.65\.1\.0" is not an IPv4 CIDR$/);
    refused('fd00::/64', '192.0.2.12', /routes\[1\]\.cidr: "fd00::\/64" is not an IPv4 CIDR/);
    refused('10.65.1.0/33', '192.0.2.12', /is not an IPv4 CIDR/);
    refused('10.65.1.1/26', '192.0.2.12', /routes\[1\]\.cidr: "10\.65\.1\.1\/26" has host bits set/);
    refused('10.65.1.0/26', 'node-b', /routes\[1\]\.remote: "node-b" is not an IPv4 address/);
    refused('10.65.1.0/26', '2001:db8::1', /is not an IPv4 address/);
    refused('10.65.1.0/26', '0.0.0.0', /routes\[1\]\.remote: 0\.0\.0\.0 is no node/);
    refused('10.65.1.0/26', LOCAL, /routes\[1\]\.remote: 192\.0\.2\.11 is this node's own address/);
    refused('10.65.0.0/26', '192.0.2.13', /routes\[1\]\.cidr: 10\.65\.0\.0\/26 is already routed by routes\[0\]/);
  });
});

describe('UserspaceIpip.start checks its options before touching the kernel', () => {
  it('refuses bad interface names, addresses and MTUs', () => {
    const refused = (options: object, error: { name: string; message: RegExp }) =>
      assert.throws(() => UserspaceIpip.start({ localAddress: LOCAL, ...options }), error);
    for (const ifname of ['', 'a'.repeat(16), 'tun/0', 'tun 0', 'tun:0', '.', '..']) {
      refused({ ifname }, { name: 'TypeError', message: /^ifname: ".*" is not a valid interface name$/ });
    }
    refused({ localAddress: '192.0.2' }, { name: 'TypeError', message: /localAddress: "192\.0\.2" is not an IPv4/ });
    refused({ localAddress: '2001:db8::1' }, { name: 'TypeError', message: /localAddress/ });
    for (const mtu of [67, 65516, 1480.5, Number.NaN]) {
      refused({ mtu }, { name: 'RangeError', message: /^mtu: .* is not an integer in 68\.\.65515$/ });
    }
  });
});

describe('kernelIpipAvailable', () => {
  it('answers without throwing, whatever the kernel and privileges', async () => {
    assert.equal(typeof (await kernelIpipAvailable()), 'boolean');
  });
});
