// felix's incremental policy calculation: after any sequence of changes, an update gives what a calculation from
// scratch gives, and it works out again only what the change touched.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../datastore';
import {
  computePolicy,
  type DesiredPolicy,
  emptyPolicyInputs,
  type LocalWorkload,
  PolicyCalculation,
  type PolicyInputs,
} from '../../felix/calc/policy';

const v3 = 'projectcalico.org/v3';
const NAMESPACES = ['x', 'y'];
const APPS = ['web', 'db', 'cache'];

/** A small deterministic generator (mulberry32), so a failing sequence can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class World {
  readonly inputs: PolicyInputs = emptyPolicyInputs();
  constructor(private readonly next: () => number) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  endpoint(i: number): void {
    const namespace = this.pick(NAMESPACES);
    this.inputs.endpoints.set(`ep${i}`, {
      apiVersion: v3,
      kind: 'WorkloadEndpoint',
      metadata: {
        name: `ep${i}`,
        namespace,
        labels: { app: this.pick(APPS), 'projectcalico.org/namespace': namespace },
      },
      spec: {
        node: i % 3 === 0 ? 'n2' : 'n1',
        interfaceName: `cali${i}`,
        ipNetworks: [`10.0.${this.pick([0, 1])}.${i}/32`],
        profiles: [`kns.${namespace}`],
        ports:
          this.next() < 0.5 ? [{ name: 'http', protocol: this.pick(['TCP', 'UDP']), port: this.pick([80, 8080]) }] : [],
      },
    });
  }

  profile(namespace: string): void {
    this.inputs.profiles.set(`kns.${namespace}`, {
      apiVersion: v3,
      kind: 'Profile',
      metadata: { name: `kns.${namespace}` },
      spec: {
        ingress: [{ action: 'Allow' }],
        egress: [{ action: 'Allow' }],
        labelsToApply: { 'pcns.projectcalico.org/name': namespace, 'pcns.team': this.pick(['a', 'b']) },
      },
    });
  }

  policy(i: number): void {
    const global = i % 4 === 0;
    const namespace = this.pick(NAMESPACES);
    const source = this.pick([
      { selector: `app == '${this.pick(APPS)}'` },
      { namespaceSelector: `team == '${this.pick(['a', 'b'])}'` },
      { nets: ['198.51.100.0/24'], notSelector: `app == '${this.pick(APPS)}'` },
      { selector: 'all()' },
    ]);
    const destination = this.pick([{ ports: [80] }, { ports: ['http'] }, {}]);
    const resource: Resource = {
      apiVersion: v3,
      kind: global ? 'GlobalNetworkPolicy' : 'NetworkPolicy',
      metadata: global ? { name: `p${i}` } : { name: `p${i}`, namespace },
      spec: {
        tier: this.pick(['default', 'default', 'security', 'missing']),
        order: this.pick([undefined, 10, 100]),
        selector: this.pick([`app == '${this.pick(APPS)}'`, 'all()', `app in {'web', 'db'}`]),
        types: this.pick([['Ingress'], ['Egress'], ['Ingress', 'Egress']]),
        applyOnForward: this.next() < 0.3,
        doNotTrack: this.next() < 0.1,
        ingress: [{ action: this.pick(['Allow', 'Deny', 'Pass']), protocol: 'TCP', source, destination }],
        egress: [{ action: 'Allow', destination: source }],
      },
    };
    const ns = global ? '' : `${namespace}/`;
    for (const key of [...this.inputs.policies.keys()]) if (key.endsWith(`/p${i}`)) this.inputs.policies.delete(key);
    this.inputs.policies.set(`${v3}/${resource.kind}/${ns}p${i}`, resource);
  }

  tier(): void {
    this.inputs.tiers.set('security', {
      apiVersion: v3,
      kind: 'Tier',
      metadata: { name: 'security' },
      spec: { order: this.pick([50, 2_000_000]), defaultAction: this.pick(['Deny', 'Pass']) },
    });
  }

  networkSet(i: number): void {
    this.inputs.networkSets.set(`GlobalNetworkSet/s${i}`, {
      apiVersion: v3,
      kind: 'GlobalNetworkSet',
      metadata: { name: `s${i}`, labels: { app: this.pick(APPS) } },
      spec: { nets: [`203.0.113.${i * 8}/29`] },
    });
  }

  hostEndpoint(i: number): void {
    this.inputs.hostEndpoints.set(`h${i}`, {
      apiVersion: v3,
      kind: 'HostEndpoint',
      metadata: { name: `h${i}`, labels: { app: this.pick(APPS) } },
      spec: {
        node: this.pick(['n1', 'n2']),
        interfaceName: this.pick(['eth0', 'eth1', '*']),
        expectedIPs: [`192.0.2.${10 + i}`],
        profiles: this.next() < 0.5 ? [`kns.${this.pick(NAMESPACES)}`] : [],
      },
    });
  }

  /** One random change: a resource added, replaced or deleted. */
  change(): void {
    const i = Math.floor(this.next() * 8);
    const remove = this.next() < 0.2;
    switch (this.pick(['endpoint', 'endpoint', 'policy', 'policy', 'profile', 'tier', 'set', 'host'])) {
      case 'endpoint':
        if (remove) this.inputs.endpoints.delete(`ep${i}`);
        else this.endpoint(i);
        break;
      case 'policy':
        if (remove)
          for (const key of [...this.inputs.policies.keys()])
            if (key.endsWith(`/p${i}`)) this.inputs.policies.delete(key);
            else this.policy(i);
        break;
      case 'profile':
        if (remove) this.inputs.profiles.delete(`kns.${this.pick(NAMESPACES)}`);
        else this.profile(this.pick(NAMESPACES));
        break;
      case 'tier':
        if (remove) this.inputs.tiers.delete('security');
        else this.tier();
        break;
      case 'host':
        if (remove) this.inputs.hostEndpoints.delete(`h${i % 3}`);
        else this.hostEndpoint(i % 3);
        break;
      default:
        if (remove) this.inputs.networkSets.delete(`GlobalNetworkSet/s${i % 3}`);
        else this.networkSet(i % 3);
    }
  }

  locals(): LocalWorkload[] {
    return [...this.inputs.endpoints]
      .filter(([, wep]) => (wep.spec as { node: string }).node === 'n1')
      .map(([key, wep]) => ({ iface: (wep.spec as { interfaceName: string }).interfaceName, endpoint: key }));
  }
}

/** A result in a form deepEqual can compare: no change counts, lists in a fixed order. */
function comparable(d: DesiredPolicy): object {
  return {
    endpoints: Object.fromEntries([...d.endpoints].sort(([a], [b]) => (a < b ? -1 : 1))),
    policies: [...d.policies].sort((a, b) => (`${a.kind}/${a.policy.name}` < `${b.kind}/${b.policy.name}` ? -1 : 1)),
    profiles: d.profiles,
    ipSets: [...d.ipSets].sort((a, b) => (a.id < b.id ? -1 : 1)),
  };
}

describe('felix incremental policy calculation', () => {
  it('after every change of 30 random sequences, gives what a calculation from scratch gives', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const world = new World(random(seed));
      const calculation = new PolicyCalculation();
      for (let step = 0; step < 60; step++) {
        world.change();
        const incremental = calculation.update(world.inputs, world.locals(), 'n1');
        const fresh = computePolicy(world.inputs, world.locals(), 'n1');
        assert.deepEqual(comparable(incremental), comparable(fresh), `seed ${seed}, step ${step}`);
      }
    }
  });

  it('works out again only what one change touches, keeping the rest as the same objects', () => {
    const world = new World(random(7));
    for (let i = 0; i < 8; i++) world.endpoint(i);
    for (const ns of NAMESPACES) world.profile(ns);
    world.networkSet(0);
    for (let i = 0; i < 8; i++) world.policy(i);
    const calculation = new PolicyCalculation();
    const before = calculation.update(world.inputs, world.locals());
    const again = calculation.update(world.inputs, world.locals());
    assert.deepEqual(again.recomputed, { endpoints: 0, policies: 0, ipSets: 0 }, 'nothing changed: nothing recomputed');
    for (const [iface, plan] of before.endpoints) assert.equal(again.endpoints.get(iface), plan, iface);

    // A policy's rules change, not whom it selects or where it sits: it alone is converted again.
    const key = `${v3}/GlobalNetworkPolicy/all-tcp`;
    const allTcp = (port: number): Resource => ({
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'all-tcp' },
      spec: {
        selector: 'all()',
        ingress: [
          { action: 'Allow', protocol: 'TCP', source: { selector: "app == 'web'" }, destination: { ports: [port] } },
        ],
      },
    });
    world.inputs.policies.set(key, allTcp(80));
    const added = calculation.update(world.inputs, world.locals());
    assert.equal(added.recomputed.policies, 1);
    assert.equal(
      added.recomputed.endpoints,
      world.locals().length,
      'a new policy selecting all: every endpoint re-planned',
    );
    world.inputs.policies.set(key, allTcp(81));
    const changed = calculation.update(world.inputs, world.locals());
    assert.deepEqual(changed.recomputed, { endpoints: 0, policies: 1, ipSets: 0 });
    for (const [iface, plan] of added.endpoints) assert.equal(changed.endpoints.get(iface), plan, iface);
    for (const p of added.policies) {
      if (p.policy.name !== 'all-tcp') assert.ok(changed.policies.includes(p), `${p.policy.name} kept`);
    }
    for (const set of added.ipSets) assert.ok(changed.ipSets.includes(set), `set ${set.selector} kept`);

    // A remote endpoint's label change moves its address into or out of the `app == 'web'` set: no policy or
    // endpoint is worked out again.
    const [remoteKey, remote] = [...world.inputs.endpoints].find(
      ([, wep]) => (wep.spec as { node: string }).node === 'n2',
    )!;
    const app = remote.metadata.labels?.app === 'web' ? 'db' : 'web';
    world.inputs.endpoints.set(remoteKey, {
      ...remote,
      metadata: { ...remote.metadata, labels: { ...remote.metadata.labels, app } },
    });
    const relabelled = calculation.update(world.inputs, world.locals());
    assert.equal(relabelled.recomputed.policies, 0);
    assert.equal(relabelled.recomputed.endpoints, 0);
    assert.equal(relabelled.recomputed.ipSets, 1, "the `app == 'web'` set alone was worked out again");
    assert.deepEqual(comparable(relabelled), comparable(computePolicy(world.inputs, world.locals())));
  });
});
