// WorkloadEndpoint, HostEndpoint, NetworkSet and GlobalNetworkSet rules: Calico's validateWorkloadEndpointSpec,
// validateIPNAT, validateEndpointPort/validateWorkloadEndpointPort, the CEL rules on HostEndpointSpec, and
// clientv3's check that a WorkloadEndpoint's name matches its identifiers.
import type { Checker, Doc } from './checker';
import { checkInterfaceName, checkPortName, workloadEndpointName } from './names';
import { type Cidr, cidrContains } from './net';
import { parseDscp, parseProtocol, protocolHasPorts } from './numorstring';
import type { HostEndpointSpec, NetworkSetSpec, WorkloadEndpointSpec } from './types';

const CONTAINER_ID_RE = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/** Calico reserves this label for the namespace it maps into its v1 data model. */
const NAMESPACE_LABEL = 'projectcalico.org/namespace';

function checkPortProtocol(c: Checker, field: string, protocol: unknown): void {
  if (!protocolHasPorts(c.parsed(field, parseProtocol(protocol)))) {
    c.fail(field, 'must be TCP, UDP or SCTP (a protocol with ports)');
  }
}

export function checkWorkloadEndpoint(c: Checker, { metadata, spec }: Doc<WorkloadEndpointSpec>): void {
  const expected = workloadEndpointName(spec);
  if (typeof expected !== 'string') c.fail(`spec.${expected.field}`, expected.problem);
  if (metadata.name !== expected) {
    c.fail('metadata.name', `does not match the endpoint's identifiers in spec: expected "${expected}"`);
  }
  for (const field of ['orchestrator', 'workload', 'node', 'pod', 'endpoint', 'serviceAccountName'] as const) {
    const value = spec[field];
    if (value) c.name(`spec.${field}`, value);
  }
  if (spec.containerID && !CONTAINER_ID_RE.test(spec.containerID)) {
    c.fail('spec.containerID', 'must consist of alphanumerics and "-", starting and ending with an alphanumeric');
  }

  const networks: Cidr[] = [];
  spec.ipNetworks?.forEach((text, i) => {
    const network = c.cidr(`spec.ipNetworks[${i}]`, text, { allowBareIp: true, strict: true });
    if (network.prefix !== (network.version === 4 ? 32 : 128)) {
      c.fail(`spec.ipNetworks[${i}]`, `must be a single address (/32 or /128), got ${text}`);
    }
    networks.push(network);
  });
  spec.ipNATs?.forEach((nat, i) => {
    const internal = c.ip(`spec.ipNATs[${i}].internalIP`, nat.internalIP);
    const external = c.ip(`spec.ipNATs[${i}].externalIP`, nat.externalIP);
    if (internal.version !== external.version) {
      c.fail(`spec.ipNATs[${i}].externalIP`, 'must be of the same IP version as internalIP');
    }
    if (!networks.some((network) => cidrContains(network, internal))) {
      c.fail(`spec.ipNATs[${i}].internalIP`, "must be one of the endpoint's ipNetworks");
    }
  });
  if (spec.ipv4Gateway) c.ip('spec.ipv4Gateway', spec.ipv4Gateway, 4);
  if (spec.ipv6Gateway) c.ip('spec.ipv6Gateway', spec.ipv6Gateway, 6);
  spec.profiles?.forEach((profile, i) => {
    c.name(`spec.profiles[${i}]`, profile);
  });
  if (!spec.interfaceName) c.fail('spec.interfaceName', 'is required');
  c.check('spec.interfaceName', checkInterfaceName(spec.interfaceName));
  if (spec.mac) c.mac('spec.mac', spec.mac);

  spec.ports?.forEach((port, i) => {
    const field = `spec.ports[${i}]`;
    checkPortProtocol(c, `${field}.protocol`, port.protocol);
    if (port.name) c.check(`${field}.name`, checkPortName(port.name));
    else if (!port.hostPort) c.fail(`${field}.name`, 'is required unless hostPort is set');
    if (port.hostIP) c.cidr(`${field}.hostIP`, port.hostIP, { allowBareIp: true, strict: true });
  });
  spec.allowSpoofedSourcePrefixes?.forEach((prefix, i) => {
    c.cidr(`spec.allowSpoofedSourcePrefixes[${i}]`, prefix, { allowBareIp: true });
  });
  if (spec.qosControls?.dscp !== undefined) c.parsed('spec.qosControls.dscp', parseDscp(spec.qosControls.dscp));
}

export function checkHostEndpoint(c: Checker, { spec }: Doc<HostEndpointSpec>): void {
  if (!spec.node) c.fail('spec.node', 'is required');
  c.name('spec.node', spec.node);
  if (!spec.interfaceName && !spec.expectedIPs?.length) {
    c.fail('spec.interfaceName', 'at least one of interfaceName or expectedIPs must be set');
  }
  if (spec.interfaceName && spec.interfaceName !== '*') {
    c.check('spec.interfaceName', checkInterfaceName(spec.interfaceName));
  }
  spec.expectedIPs?.forEach((ip, i) => {
    c.ip(`spec.expectedIPs[${i}]`, ip);
  });
  spec.profiles?.forEach((profile, i) => {
    c.name(`spec.profiles[${i}]`, profile);
  });
  spec.ports?.forEach((port, i) => {
    c.check(`spec.ports[${i}].name`, checkPortName(port.name));
    checkPortProtocol(c, `spec.ports[${i}].protocol`, port.protocol);
  });
}

/** NetworkSet and GlobalNetworkSet: any CIDR or address (host bits allowed), and no reserved namespace label. */
export function checkNetworkSet(c: Checker, { metadata, spec }: Doc<NetworkSetSpec>): void {
  if (metadata.labels?.[NAMESPACE_LABEL] !== undefined) {
    c.fail('metadata.labels', `${NAMESPACE_LABEL} is reserved for Calico and cannot be set`);
  }
  spec.nets?.forEach((net, i) => {
    c.cidr(`spec.nets[${i}]`, net, { allowBareIp: true });
  });
}
