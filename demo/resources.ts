// What the demo builds, as data (pure): the underlay plan, the resources applied with tabbyctl, the pods, and the
// policy with the verdict it gives each pair of pods once it is enforced.

export const POOL_CIDR = '10.48.0.0/16';
export const NODE_AS = 64512;
export const TOR = { name: 'tor', address: '192.0.2.1', asNumber: 65000 } as const;
export const ETCD = { name: 'etcd', address: '192.0.2.2', clientPort: 2379, peerPort: 2380 } as const;
export const UNDERLAY_PREFIX_LENGTH = 24;

export interface NodePlan {
  name: string;
  address: string;
}

/** node-1 … node-N at 192.0.2.11 upwards. */
export function planNodes(count: number): NodePlan[] {
  return Array.from({ length: count }, (_, i) => ({ name: `node-${i + 1}`, address: `192.0.2.${11 + i}` }));
}

/** The namespaces the pods live in, each with the label their pods carry. */
export const POD_NAMESPACES = [
  { namespace: 'frontend', app: 'web' },
  { namespace: 'backend', app: 'api' },
] as const;

export interface PodPlan {
  node: string;
  namespace: string;
  name: string;
  labels: Record<string, string>;
}

/** One pod per namespace on every node: web-1 and api-1 on node-1, … */
export function planPods(nodes: NodePlan[]): PodPlan[] {
  return nodes.flatMap((node, i) =>
    POD_NAMESPACES.map(({ namespace, app }) => ({
      node: node.name,
      namespace,
      name: `${app}-${i + 1}`,
      labels: { app },
    })),
  );
}

type Document = Record<string, unknown>;

const calico = (kind: string, metadata: Document, spec: Document): Document => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata,
  spec,
});

/**
 * The fabric's configuration: one pool without encapsulation (pod traffic is routed as it is), the mesh off and
 * every node peering with the ToR instead, and the namespaces' profiles as Calico's controllers write them
 * (allow all, the namespace's name as a label for namespaceSelectors).
 */
export function fabricConfig(): Document[] {
  return [
    calico(
      'IPPool',
      { name: 'pods' },
      { cidr: POOL_CIDR, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: true },
    ),
    calico('BGPConfiguration', { name: 'default' }, { asNumber: NODE_AS, nodeToNodeMeshEnabled: false }),
    calico('BGPPeer', { name: 'tor' }, { peerIP: TOR.address, asNumber: TOR.asNumber }),
    ...POD_NAMESPACES.map(({ namespace }) =>
      calico(
        'Profile',
        { name: `kns.${namespace}` },
        {
          ingress: [{ action: 'Allow' }],
          egress: [{ action: 'Allow' }],
          labelsToApply: { 'pcns.projectcalico.org/name': namespace },
        },
      ),
    ),
  ];
}

export const POLICY_NAME = 'backend/allow-from-frontend';

/** Ingress to the backend's pods only from the frontend namespace. */
export function policy(): Document {
  return calico(
    'NetworkPolicy',
    { name: 'allow-from-frontend', namespace: 'backend' },
    {
      selector: 'app == "api"',
      types: ['Ingress'],
      ingress: [{ action: 'Allow', source: { namespaceSelector: 'projectcalico.org/name == "frontend"' } }],
    },
  );
}

/** What policy() decides for traffic between two pods once enforced (a pod's traffic to itself never leaves it). */
export function policyDenies(from: PodPlan, to: PodPlan): boolean {
  if (from === to) return false;
  return to.namespace === 'backend' && from.namespace !== 'frontend';
}
