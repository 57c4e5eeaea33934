// calicoctl's table columns per kind (calicoctl/resourcemgr): the default `-o ps` set and the `-o wide` set.
import type { KindInfo, Resource } from '../datastore';

type Spec = Record<string, unknown>;
type Column = [header: string, value: (r: Resource, spec: Spec) => string];

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const join = (v: unknown): string => (Array.isArray(v) ? v.join(',') : '');
const joinTruncated = (v: unknown, max: number): string => {
  const s = join(v);
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
};

const NAME: Column = ['NAME', (r) => r.metadata.name];
const col = (header: string, field: string): Column => [header, (_r, s) => str(s[field])];
/** A boolean field prints false when absent, as Go's zero value does in calicoctl. */
const flag = (header: string, field: string): Column => [header, (_r, s) => String(s[field] === true)];

interface KindColumns {
  ps: Column[];
  wide: Column[];
}

const ORDER = col('ORDER', 'order');
const SELECTOR = col('SELECTOR', 'selector');
const TIER = col('TIER', 'tier');
const NETS: Column = ['NETS', (_r, s) => joinTruncated(s.nets, 80)];

const COLUMNS: Record<string, KindColumns> = {
  'projectcalico.org/IPPool': {
    ps: [NAME, col('CIDR', 'cidr'), col('SELECTOR', 'nodeSelector')],
    wide: [
      NAME,
      col('CIDR', 'cidr'),
      flag('NAT', 'natOutgoing'),
      ['IPIPMODE', (_r, s) => str(s.ipipMode || 'Never')],
      ['VXLANMODE', (_r, s) => str(s.vxlanMode || 'Never')],
      flag('DISABLED', 'disabled'),
      flag('DISABLEBGPEXPORT', 'disableBGPExport'),
      col('SELECTOR', 'nodeSelector'),
      col('ASSIGNMENTMODE', 'assignmentMode'),
    ],
  },
  'projectcalico.org/BGPPeer': (() => {
    const cols: Column[] = [
      NAME,
      col('PEERIP', 'peerIP'),
      ['NODE', (_r, s) => str(s.node || s.nodeSelector || '(global)')],
      col('ASN', 'asNumber'),
    ];
    return { ps: cols, wide: cols };
  })(),
  'projectcalico.org/BGPConfiguration': (() => {
    const cols: Column[] = [
      NAME,
      col('LOGSEVERITY', 'logSeverityScreen'),
      ['MESHENABLED', (_r, s) => (s.nodeToNodeMeshEnabled ? str(s.nodeToNodeMeshEnabled) : '-')],
      ['ASNUMBER', (_r, s) => (s.asNumber ? str(s.asNumber) : '-')],
    ];
    return { ps: cols, wide: cols };
  })(),
  'projectcalico.org/FelixConfiguration': { ps: [NAME], wide: [NAME] },
  'projectcalico.org/Node': {
    ps: [NAME],
    wide: [
      NAME,
      ['ASN', (_r, s) => str((s.bgp as Spec | undefined)?.asNumber ?? '(64512)')],
      ['IPV4', (_r, s) => str((s.bgp as Spec | undefined)?.ipv4Address)],
      ['IPV6', (_r, s) => str((s.bgp as Spec | undefined)?.ipv6Address)],
    ],
  },
  'projectcalico.org/WorkloadEndpoint': (() => {
    const workload: Column = ['WORKLOAD', (_r, s) => str(s.workload || s.pod)];
    const node = col('NODE', 'node');
    const networks: Column = ['NETWORKS', (_r, s) => join(s.ipNetworks)];
    const iface = col('INTERFACE', 'interfaceName');
    return {
      ps: [workload, node, networks, iface],
      wide: [
        NAME,
        workload,
        node,
        networks,
        iface,
        ['PROFILES', (_r, s) => join(s.profiles)],
        ['NATS', (_r, s) => join(s.ipNATs)],
      ],
    };
  })(),
  'projectcalico.org/HostEndpoint': {
    ps: [NAME, col('NODE', 'node')],
    wide: [
      NAME,
      col('NODE', 'node'),
      col('INTERFACE', 'interfaceName'),
      ['IPS', (_r, s) => join(s.expectedIPs)],
      ['PROFILES', (_r, s) => join(s.profiles)],
    ],
  },
  'projectcalico.org/NetworkPolicy': { ps: [NAME, TIER], wide: [NAME, TIER, ORDER, SELECTOR] },
  'projectcalico.org/GlobalNetworkPolicy': { ps: [NAME, TIER], wide: [NAME, TIER, ORDER, SELECTOR] },
  'projectcalico.org/NetworkSet': { ps: [NAME], wide: [NAME, NETS] },
  'projectcalico.org/GlobalNetworkSet': { ps: [NAME], wide: [NAME, NETS] },
  'projectcalico.org/Profile': {
    ps: [NAME],
    wide: [
      NAME,
      [
        'LABELS',
        (_r, s) =>
          Object.entries((s.labelsToApply as Record<string, string> | undefined) ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
      ],
    ],
  },
  'projectcalico.org/IPAMConfiguration': {
    ps: [NAME, flag('STRICTAFFINITY', 'strictAffinity'), flag('AUTOALLOCATEBLOCKS', 'autoAllocateBlocks')],
    wide: [
      NAME,
      flag('STRICTAFFINITY', 'strictAffinity'),
      flag('AUTOALLOCATEBLOCKS', 'autoAllocateBlocks'),
      col('MAXBLOCKSPERHOST', 'maxBlocksPerHost'),
    ],
  },
  'projectcalico.org/Tier': { ps: [NAME, ORDER], wide: [NAME, ORDER] },
  'projectcalico.org/CalicoNodeStatus': {
    ps: [NAME, col('NODE', 'node')],
    wide: [NAME, col('NODE', 'node'), ['CLASSES', (_r, s) => join(s.classes)]],
  },
  'networking.k8s.io/NetworkPolicy': {
    ps: [NAME],
    wide: [
      NAME,
      [
        'POD-SELECTOR',
        (_r, s) =>
          Object.entries(((s.podSelector as Spec | undefined)?.matchLabels as Record<string, string>) ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(',') || '<none>',
      ],
    ],
  },
};

/** Renders resources as calicoctl's aligned table; NAMESPACE comes first when listing all namespaces. */
export function renderTable(kind: KindInfo, items: Resource[], wide: boolean, withNamespace: boolean): string {
  const set = COLUMNS[`${kind.group}/${kind.kind}`] ?? { ps: [NAME], wide: [NAME] };
  const columns: Column[] = [
    ...(withNamespace ? [['NAMESPACE', (r: Resource) => str(r.metadata.namespace)] as Column] : []),
    ...(wide ? set.wide : set.ps),
  ];
  const rows = [columns.map(([h]) => h), ...items.map((r) => columns.map(([, f]) => f(r, (r.spec ?? {}) as Spec)))];
  const widths = columns.map((_c, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
