// Who a CNI call is for, and the names Calico gives what tabby makes for it (pure): the workload's identity from
// CNI_ARGS, the host veth's name, the WorkloadEndpoint's name and the endpoint itself.
import { createHash } from 'node:crypto';
import type { Resource } from '../datastore';
// The module itself, not the datastore's index: that loads the etcd client, which the plugin's common path avoids.
import { workloadEndpointName } from '../datastore/model/names';
import type { TabbyNetConf } from './netconf';
import { CniCode, type CniEnvironment, CniError, requireEnv } from './protocol';

export const NAMESPACE_LABEL = 'projectcalico.org/namespace';
export const ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';

/** Felix's default interface prefix: it owns the routes and sysctls of every `cali*` link. */
const HOST_VETH_PREFIX = 'cali';
/** Workloads outside Kubernetes live in this namespace unless their labels name another (as Calico's). */
const DEFAULT_NAMESPACE = 'default';

export interface WorkloadIdentity {
  node: string;
  /** `k8s` when CNI_ARGS name the pod (K8S_POD_NAMESPACE and K8S_POD_NAME), else `cni`. */
  orchestrator: 'k8s' | 'cni';
  namespace: string;
  /** The Kubernetes pod's name (k8s only). */
  pod?: string;
  containerId: string;
  /** CNI_IFNAME: the interface inside the workload, the endpoint's `endpoint` field. */
  ifname: string;
}

/**
 * The workload a call is for. Kubernetes pods are named by CNI_ARGS (both K8S_POD_NAMESPACE and K8S_POD_NAME, as
 * Calico requires); any other workload is its container, in the namespace its `projectcalico.org/namespace` label
 * names (Calico's convention for labels from the runtime), else `default`.
 */
export function workloadIdentity(cni: CniEnvironment, conf: TabbyNetConf, node: string): WorkloadIdentity {
  const containerId = requireEnv(cni, 'containerId');
  const ifname = requireEnv(cni, 'ifname');
  const namespace = cni.args.K8S_POD_NAMESPACE;
  const pod = cni.args.K8S_POD_NAME;
  if (namespace && pod) return { node, orchestrator: 'k8s', namespace, pod, containerId, ifname };
  const labelled = conf.args?.cni?.labels?.[NAMESPACE_LABEL];
  return { node, orchestrator: 'cni', namespace: labelled || DEFAULT_NAMESPACE, containerId, ifname };
}

/**
 * The host end of the workload's veth: `cali` + the first 11 hex digits of sha1("<namespace>.<pod>") for a pod
 * (Calico's VethNameForWorkload, so a pod keeps its interface across sandboxes), of sha1(<container id>) for
 * other workloads (Calico takes the container id's first 11 characters; a hash is always a valid name).
 */
export function hostVethName(id: WorkloadIdentity): string {
  const key = id.orchestrator === 'k8s' ? `${id.namespace}.${id.pod}` : id.containerId;
  return HOST_VETH_PREFIX + createHash('sha1').update(key).digest('hex').slice(0, 11);
}

/** Calico's WorkloadEndpoint name: `<node>-k8s-<pod>-<ifname>` or `<node>-cni-<container id>-<ifname>`. */
export function endpointNameOf(id: WorkloadIdentity): string {
  const name = workloadEndpointName({
    node: id.node,
    orchestrator: id.orchestrator,
    endpoint: id.ifname,
    ...(id.orchestrator === 'k8s' ? { pod: id.pod } : { containerID: id.containerId }),
  });
  if (typeof name !== 'string') {
    const source = {
      node: 'the node name',
      pod: 'K8S_POD_NAME',
      containerID: 'CNI_CONTAINERID',
      endpoint: 'CNI_IFNAME',
    };
    const field = source[name.field as keyof typeof source] ?? name.field;
    throw new CniError(CniCode.InvalidEnvironment, `cannot name the WorkloadEndpoint: ${field} ${name.problem}`);
  }
  return name;
}

/** What ADD made for the workload, as its endpoint records it. */
export interface Attachment {
  hostVeth: string;
  /** The workload's addresses with their prefix length (/32). */
  ipNetworks: string[];
  /** The MAC of the workload's own interface. */
  mac: string;
}

/**
 * The WorkloadEndpoint: the identity, the attachment, the labels the config passes (args.cni.labels) with
 * Calico's namespace and orchestrator labels, and the namespace's profile `kns.<namespace>`.
 */
export function buildEndpoint(id: WorkloadIdentity, conf: TabbyNetConf, attachment: Attachment): Resource {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: {
      name: endpointNameOf(id),
      namespace: id.namespace,
      labels: {
        ...conf.args?.cni?.labels,
        [NAMESPACE_LABEL]: id.namespace,
        [ORCHESTRATOR_LABEL]: id.orchestrator,
      },
    },
    spec: {
      orchestrator: id.orchestrator,
      node: id.node,
      ...(id.pod !== undefined ? { pod: id.pod } : {}),
      endpoint: id.ifname,
      containerID: id.containerId,
      interfaceName: attachment.hostVeth,
      ipNetworks: attachment.ipNetworks,
      mac: attachment.mac,
      profiles: [`kns.${id.namespace}`],
    },
  };
}
