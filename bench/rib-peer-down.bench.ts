// How long the RIB takes to forget a peer's whole table (a session that ends without graceful restart):
// 100,000 and 1,000,000 prefixes from one eBGP peer, then peerDown. Prints milliseconds; asserts nothing.
import { encodeAttributes } from '../bgp/packet';
import { AsPathSegmentType, Origin, type PathAttributes } from '../bgp/packet/types';
import { IPV4_UNICAST, Rib } from '../bgp/rib';

const PER_UPDATE = 1000;

function measure(count: number): { insertMs: number; peerDownMs: number; left: number } {
  const rib = new Rib({ local: { asn: 64512, routerId: '192.0.2.11' }, family: IPV4_UNICAST, encodeAttributes });
  rib.addPeer({
    id: 1,
    address: '192.0.2.1',
    asn: 65000,
    routerId: '192.0.2.1',
    ibgp: false,
    routeReflectorClient: false,
    nextHopSelf: false,
    localAddress: '192.0.2.11',
  });
  rib.peerUp(1, { fourOctetAs: true });
  const attributes: PathAttributes = {
    origin: Origin.Igp,
    asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65000] }],
    nextHop: '192.0.2.1',
  };
  const attrs = rib.attrSets.intern(encodeAttributes(attributes, { fourOctetAs: true, ibgp: false }), attributes, true);
  const keys = Array.from({ length: count }, (_, i) => (0x0a000000 + i * 256) * 64 + 24);
  let started = performance.now();
  for (let i = 0; i < count; i += PER_UPDATE) rib.update(1, attrs, keys.slice(i, i + PER_UPDATE));
  const insertMs = performance.now() - started;
  started = performance.now();
  rib.peerDown(1, { gracefulRestart: false });
  return { insertMs, peerDownMs: performance.now() - started, left: rib.counters.prefixes };
}

for (const count of [100_000, 1_000_000]) {
  const r = measure(count);
  console.log(
    `${count.toLocaleString('en')} prefixes: insert ${r.insertMs.toFixed(0)} ms, peer down ${r.peerDownMs.toFixed(0)} ms (${r.left} left)`,
  );
}
