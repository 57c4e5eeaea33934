import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from 'node:util';
import type { CliContext } from '../../cli/context';
import {
  endpointPolicyView,
  policyCommand,
  readPolicyInputs,
  renderPolicyJson,
  renderPolicyTable,
} from '../../cli/policy-show';
import { isDatastoreError, kindByAlias, MemoryBackend, type Resource, ResourceClient } from '../../datastore';
import type { IpamOperations } from '../../ipam';

const v3 = 'projectcalico.org/v3';

function tier(name: string, spec: Record<string, unknown>): Resource {
  return { apiVersion: v3, kind: 'Tier', metadata: { name }, spec };
}

function networkPolicy(namespace: string, name: string, spec: Record<string, unknown>): Resource {
  return { apiVersion: v3, kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

function globalPolicy(name: string, spec: Record<string, unknown>): Resource {
  return { apiVersion: v3, kind: 'GlobalNetworkPolicy', metadata: { name }, spec };
}

function workload(namespace: string, pod: string, iface: string, labels: Record<string, string>, profiles: string[]) {
  return {
    apiVersion: v3,
    kind: 'WorkloadEndpoint',
    metadata: { name: `node1-k8s-${pod.replaceAll('-', '--')}-eth0`, namespace, labels },
    spec: {
      orchestrator: 'k8s',
      node: 'node1',
      pod,
      endpoint: 'eth0',
      interfaceName: iface,
      ipNetworks: ['10.65.0.5/32'],
      profiles,
    },
  } satisfies Resource;
}

const allowAll = [{ action: 'Allow' }];

/**
 * Two tiers (platform, order 100, passing on what it does not decide; the default tier, not stored, so order
 * 1000000 and Deny), Calico policies of both kinds, a Kubernetes NetworkPolicy, and the namespace's profile.
 */
const RESOURCES: Resource[] = [
  tier('platform', { order: 100, defaultAction: 'Pass' }),
  {
    apiVersion: v3,
    kind: 'Profile',
    metadata: { name: 'kns.default' },
    spec: { ingress: allowAll, egress: allowAll, labelsToApply: { 'pcns.kubernetes.io/metadata.name': 'default' } },
  },
  // Selects by the namespace's labels, which the endpoint has from its profile.
  globalPolicy('platform.allow-dns', {
    tier: 'platform',
    order: 10,
    selector: 'has(app)',
    namespaceSelector: "kubernetes.io/metadata.name == 'default'",
    types: ['Ingress', 'Egress'],
    ingress: allowAll,
    egress: [{ action: 'Allow', protocol: 'UDP', destination: { ports: [53] } }],
  }),
  networkPolicy('default', 'platform.web', {
    tier: 'platform',
    order: 20,
    selector: "app == 'web'",
    types: ['Ingress'],
    ingress: [{ action: 'Pass' }],
  }),
  networkPolicy('default', 'allow-frontend', {
    order: 100,
    selector: "app == 'web'",
    types: ['Ingress'],
    ingress: [{ action: 'Allow', source: { selector: "app == 'frontend'" } }],
  }),
  // Same name and selector in another namespace: a namespaced policy never selects another namespace's endpoints.
  networkPolicy('prod', 'allow-frontend', { order: 1, selector: "app == 'web'", types: ['Ingress'] }),
  networkPolicy('default', 'db-only', { order: 1, selector: "app == 'db'", types: ['Ingress'] }),
  // No order: after every ordered policy of the tier.
  globalPolicy('audit-egress', { selector: "app == 'web'", types: ['Egress'], egress: [{ action: 'Deny' }] }),
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'web', namespace: 'default' },
    spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: {} }] }] },
  },
  workload('default', 'web-0', 'cali0ef24ba5df3', { app: 'web' }, ['kns.default', 'ksa.default.web']),
  workload('default', 'lone', 'cali11f1b5ef9aa', {}, ['kns.default']),
];

async function datastore(): Promise<ResourceClient> {
  const client = new ResourceClient(new MemoryBackend());
  for (const r of RESOURCES) await client.create(structuredClone(r));
  return client;
}

async function viewOf(client: ResourceClient, name: string, namespace = 'default') {
  return endpointPolicyView(await readPolicyInputs(client, namespace, name), namespace, name)!;
}

describe('tabbyctl policy show', () => {
  it('lists per direction the tiers in order and, in each, the policies that select the endpoint', async () => {
    const view = await viewOf(await datastore(), 'node1-k8s-web--0-eth0');
    assert.deepEqual(view.ingress.tiers, [
      {
        name: 'platform',
        order: 100,
        defaultAction: 'Pass',
        policies: [
          {
            kind: 'GlobalNetworkPolicy',
            name: 'platform.allow-dns',
            order: 10,
            chain: 'cali-pi-_5EylphTYoFZgoTeeuF6',
          },
          { kind: 'NetworkPolicy', name: 'default/platform.web', order: 20, chain: 'cali-pi-_HP-nXFdlfHErFBlg2vC' },
        ],
      },
      {
        name: 'default',
        order: 1000000,
        defaultAction: 'Deny',
        policies: [
          {
            kind: 'NetworkPolicy',
            name: 'default/allow-frontend',
            order: 100,
            chain: 'cali-pi-_AEqe5CO8bQySdgSCz3G',
          },
          // Calico gives every Kubernetes NetworkPolicy order 1000.
          { kind: 'KubernetesNetworkPolicy', name: 'default/web', order: 1000, chain: 'cali-pi-knp/default/web' },
        ],
      },
    ]);
    assert.deepEqual(
      view.egress.tiers.map((t) => [t.name, t.policies.map((p) => `${p.name}@${p.order}:${p.chain}`)]),
      [
        ['platform', ['platform.allow-dns@10:cali-po-_5EylphTYoFZgoTeeuF6']],
        ['default', ['audit-egress@null:cali-po-gnp/audit-egress']],
      ],
    );
    assert.equal(view.ingress.chain, 'cali-tw-cali0ef24ba5df3');
    assert.equal(view.egress.chain, 'cali-fw-cali0ef24ba5df3');
    assert.deepEqual(view.ingress.profiles, [{ name: 'kns.default', chain: 'cali-pri-kns.default' }]);
    assert.deepEqual(view.egress.profiles, [{ name: 'kns.default', chain: 'cali-pro-kns.default' }]);
    assert.deepEqual(view.missingProfiles, ['ksa.default.web']);
    // The platform tier passes on what it does not decide: the default tier's Deny is what drops it.
    assert.deepEqual(view.ingress.unmatched, {
      action: 'Drop',
      tier: 'default',
      rule: 'End of tier default. Drop if no policies passed packet',
    });
  });

  it('prints the table', async () => {
    const view = await viewOf(await datastore(), 'node1-k8s-web--0-eth0');
    assert.equal(
      renderPolicyTable(view),
      `Workload endpoint default/node1-k8s-web--0-eth0
  workload web-0, node node1, interface cali0ef24ba5df3, networks 10.65.0.5/32
  profile ksa.default.web does not exist: skipped

INGRESS, traffic to the endpoint (chain cali-tw-cali0ef24ba5df3)
  TIER platform (order 100, default action Pass)
    ORDER   KIND                      NAME                     CHAIN
    10      GlobalNetworkPolicy       platform.allow-dns       cali-pi-_5EylphTYoFZgoTeeuF6
    20      NetworkPolicy             default/platform.web     cali-pi-_HP-nXFdlfHErFBlg2vC
    no policy matched: Pass, on to tier default
  TIER default (order 1000000, default action Deny)
    ORDER   KIND                      NAME                     CHAIN
    100     NetworkPolicy             default/allow-frontend   cali-pi-_AEqe5CO8bQySdgSCz3G
    1000    KubernetesNetworkPolicy   default/web              cali-pi-knp/default/web
    no policy matched: Deny (End of tier default. Drop if no policies passed packet)
  PROFILES (for traffic every tier passed on)
    NAME          CHAIN
    kns.default   cali-pri-kns.default
    no profile matched: Drop (Drop if no profiles matched)
  Traffic no rule matches: Drop, by the default action of tier default

EGRESS, traffic from the endpoint (chain cali-fw-cali0ef24ba5df3)
  TIER platform (order 100, default action Pass)
    ORDER   KIND                  NAME                 CHAIN
    10      GlobalNetworkPolicy   platform.allow-dns   cali-po-_5EylphTYoFZgoTeeuF6
    no policy matched: Pass, on to tier default
  TIER default (order 1000000, default action Deny)
    ORDER   KIND                  NAME                 CHAIN
    -       GlobalNetworkPolicy   audit-egress         cali-po-gnp/audit-egress
    no policy matched: Deny (End of tier default. Drop if no policies passed packet)
  PROFILES (for traffic every tier passed on)
    NAME          CHAIN
    kns.default   cali-pro-kns.default
    no profile matched: Drop (Drop if no profiles matched)
  Traffic no rule matches: Drop, by the default action of tier default
`,
    );
  });

  it('says so when no policy selects the endpoint, and leaves the verdict to its profiles', async () => {
    const view = await viewOf(await datastore(), 'node1-k8s-lone-eth0');
    assert.deepEqual(view.ingress.tiers, []);
    assert.deepEqual(view.ingress.unmatched, { action: 'Drop', tier: null, rule: 'Drop if no profiles matched' });
    const table = renderPolicyTable(view);
    assert.match(
      table,
      /^EGRESS, traffic from the endpoint \(chain cali-fw-cali11f1b5ef9aa\)\n {2}no policy selects this endpoint: its profiles decide\n {2}PROFILES\n {4}NAME {10}CHAIN\n {4}kns\.default {3}cali-pro-kns\.default\n {4}no profile matched: Drop \(Drop if no profiles matched\)\n {2}Traffic no rule matches: Drop, after the profiles \(Drop if no profiles matched\)\n$/m,
    );
    assert.doesNotMatch(table, /TIER|does not exist/);
  });

  it('prints JSON with the same content, an absent order as null', async () => {
    const view = await viewOf(await datastore(), 'node1-k8s-web--0-eth0');
    const json = JSON.parse(renderPolicyJson(view));
    assert.deepEqual(json.endpoint, {
      namespace: 'default',
      name: 'node1-k8s-web--0-eth0',
      workload: 'web-0',
      node: 'node1',
      interface: 'cali0ef24ba5df3',
      ipNetworks: ['10.65.0.5/32'],
    });
    assert.deepEqual(json.egress.tiers[1].policies[0], {
      kind: 'GlobalNetworkPolicy',
      name: 'audit-egress',
      order: null,
      chain: 'cali-po-gnp/audit-egress',
    });
    assert.deepEqual(json, JSON.parse(JSON.stringify(view)));
  });

  it('follows the stored Tier: its order moves it, and a Deny default action drops at its end', async () => {
    const client = await datastore();
    const platform = await client.get(kindByAlias('tier')!, 'platform');
    await client.replace({ ...platform, spec: { order: 2000000, defaultAction: 'Deny' } });
    const view = await viewOf(client, 'node1-k8s-web--0-eth0');
    assert.deepEqual(
      view.ingress.tiers.map((t) => [t.name, t.order, t.defaultAction]),
      [
        ['default', 1000000, 'Deny'],
        ['platform', 2000000, 'Deny'],
      ],
    );
    assert.equal(view.ingress.unmatched.tier, 'default');
  });
});

describe('tabbyctl policy command', () => {
  /** tabbyctl's context over an in-memory datastore. */
  function context(client: ResourceClient): CliContext {
    return {
      parse: (args, extra) => {
        const { values, positionals } = parseArgs({
          args,
          options: { ...extra, help: { type: 'boolean', short: 'h' } },
          allowPositionals: true,
          strict: true,
        });
        return { values: values as Record<string, string | boolean | undefined>, positionals };
      },
      // policy show reads resources only.
      openDatastore: () => ({ client, ipam: {} as IpamOperations, close: async () => undefined }),
      usageError: (message) => new Error(`usage: ${message}`),
    };
  }

  it('prints the table by default, JSON with -o json, in the namespace -n names', async () => {
    const client = await datastore();
    const ctx = context(client);
    const table = await policyCommand(['show', '--endpoint', 'node1-k8s-web--0-eth0'], ctx);
    assert.match(table, /^Workload endpoint default\/node1-k8s-web--0-eth0\n/);
    const json = await policyCommand(['show', '--endpoint', 'node1-k8s-lone-eth0', '-n', 'default', '-o', 'json'], ctx);
    assert.equal(JSON.parse(json).endpoint.name, 'node1-k8s-lone-eth0');
  });

  it('rejects a missing endpoint, a bad output format and a missing --endpoint', async () => {
    const ctx = context(await datastore());
    await assert.rejects(
      policyCommand(['show', '--endpoint', 'node1-k8s-web--0-eth0', '-n', 'prod'], ctx),
      (err) =>
        isDatastoreError(err, 'NotFound') && err.message === 'WorkloadEndpoint "prod/node1-k8s-web--0-eth0" not found',
    );
    await assert.rejects(policyCommand(['show', '--endpoint', 'x', '-o', 'yaml'], ctx), {
      message: 'usage: -o: output format must be one of table, json, got "yaml"',
    });
    await assert.rejects(policyCommand(['show'], ctx), { message: 'usage: policy show: --endpoint NAME is required' });
    await assert.rejects(policyCommand(['list'], ctx), {
      message: 'usage: policy: unknown subcommand "list" (try: policy show)',
    });
  });
});
