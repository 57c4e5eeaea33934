// The policy benchmarks' workload (issue 7: 1,000 policies over 5,000 endpoints). Endpoint i, in namespace
// `bench`, is labelled app=app<i mod 50> and role=client<i mod 20>; NetworkPolicy p<i> selects
// app == 'app<i mod 50>' and allows TCP port 8000+i from role == 'client<i mod 20>'. So every policy selects local
// endpoints (each endpoint 1 in 50 of the policies) and every rule matches on a selector's IP set.
//
// policy.bench.ts writes these to a real node through the datastore; iptables.bench.ts takes felix's rendering of
// them (renderedPolicyWorkload: the calculation and renderer felix runs, on one node) without a datastore.
import type { Resource } from '../../datastore';
import { emptyPolicyInputs, PolicyCalculation, type PolicyInputs } from '../../felix/calc/policy';
import type { Chain } from '../../felix/iptables';
import { type BaseRules, renderBaseRules } from '../../felix/rules';
import { PolicyRenderMemo, policyRulesInput } from '../../felix/rules/policy';

export const BENCH_NAMESPACE = 'bench';
const V3 = 'projectcalico.org/v3';

export function benchLabels(i: number): Record<string, string> {
  return { app: `app${i % 50}`, role: `client${i % 20}` };
}

/** Policy p<i>; `port` other than its own 8000+i makes the changed version of it. */
export function benchPolicy(i: number, port = 8000 + i): Resource {
  return {
    apiVersion: V3,
    kind: 'NetworkPolicy',
    metadata: { name: `p${i}`, namespace: BENCH_NAMESPACE },
    spec: {
      selector: `app == 'app${i % 50}'`,
      types: ['Ingress'],
      ingress: [
        {
          action: 'Allow',
          protocol: 'TCP',
          source: { selector: `role == 'client${i % 20}'` },
          destination: { ports: [port] },
        },
      ],
    },
  };
}

function interfaceName(i: number): string {
  return `cali${i.toString(16).padStart(11, '0')}`;
}

/** The workload as felix on node `n1` renders it, with one policy at a time changed after. */
export class RenderedPolicyWorkload {
  private readonly inputs: PolicyInputs = emptyPolicyInputs();
  private readonly calculation = new PolicyCalculation();
  private readonly memo = new PolicyRenderMemo();
  private readonly locals: { iface: string; endpoint: string }[] = [];
  readonly rules: BaseRules;

  constructor(endpoints: number, policies: number) {
    this.inputs.profiles.set(`kns.${BENCH_NAMESPACE}`, {
      apiVersion: V3,
      kind: 'Profile',
      metadata: { name: `kns.${BENCH_NAMESPACE}` },
      spec: {
        ingress: [{ action: 'Allow' }],
        egress: [{ action: 'Allow' }],
        labelsToApply: { 'pcns.projectcalico.org/name': BENCH_NAMESPACE },
      },
    });
    for (let i = 0; i < endpoints; i++) {
      const key = `${BENCH_NAMESPACE}/ep${i}`;
      this.inputs.endpoints.set(key, {
        apiVersion: V3,
        kind: 'WorkloadEndpoint',
        metadata: {
          name: `ep${i}`,
          namespace: BENCH_NAMESPACE,
          labels: { ...benchLabels(i), 'projectcalico.org/namespace': BENCH_NAMESPACE },
        },
        spec: {
          node: 'n1',
          interfaceName: interfaceName(i),
          ipNetworks: [`10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`],
          profiles: [`kns.${BENCH_NAMESPACE}`],
        },
      });
      this.locals.push({ iface: interfaceName(i), endpoint: key });
    }
    for (let i = 0; i < policies; i++) this.setPolicy(benchPolicy(i));
    this.rules = this.render();
  }

  /** The chains of policy p<i> after its port is changed to `port`. */
  changedPolicyChains(i: number, port: number): Chain[] {
    this.setPolicy(benchPolicy(i, port));
    const name = `${BENCH_NAMESPACE}/p${i}`;
    const chains = this.render().filter.chains.filter((c) => c.name.endsWith(`/${name}`));
    if (chains.length === 0) throw new Error(`no chain of policy ${name}`);
    return chains;
  }

  private setPolicy(policy: Resource): void {
    this.inputs.policies.set(`${V3}/NetworkPolicy/${BENCH_NAMESPACE}/${policy.metadata.name}`, policy);
  }

  private render(): BaseRules {
    const policy = this.calculation.update(this.inputs, this.locals);
    return renderBaseRules({
      workloadInterfaces: this.locals.map((l) => l.iface),
      interfacePrefix: 'cali',
      failsafeInbound: [],
      failsafeOutbound: [],
      defaultEndpointToHostAction: 'Drop',
      ipipEnabled: false,
      ipipTunnelAddress: undefined,
      vxlanEnabled: false,
      vxlanPort: 4789,
      vxlanTunnelAddress: undefined,
      nodeAddress: '192.0.2.11',
      hostAddresses: ['192.0.2.11'],
      natPools: [],
      allPools: ['10.64.0.0/10'],
      natOutgoingAddress: undefined,
      ...policyRulesInput(policy, this.memo),
    });
  }
}
