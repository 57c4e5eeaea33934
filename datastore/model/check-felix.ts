// FelixConfiguration rules: Calico's validateFelixConfigSpec, the field validators on FelixConfigurationSpec
// (regexp, ifaceFilter, interface, cidrs, ...), validateProtoPort, validateRouteTableRange(s),
// validateHealthTimeoutOverride, and the CEL rules on FelixConfiguration.
import type { Checker, Doc } from './checker';
import { checkDns1123Label, checkInterfaceFilter, checkInterfaceName } from './names';
import { parseDscp, parsePort } from './numorstring';
import type { FelixConfigurationSpec } from './types';

const PROMETHEUS_HOST_RE = /^[a-zA-Z0-9:._+-]{1,64}$/;
const HEALTH_TIMEOUT_NAME_RE = /^[a-zA-Z0-9_ -]+$/;
const KEY_VALUE_ITEM_RE = /^\s*(\w+)=(.*)$/;
// OpenStack regions become part of namespace names "openstack-region-<region>", which must be DNS labels.
const OPENSTACK_REGION_MAX = 63 - 'openstack-region-'.length;
const MAX_ROUTE_TABLE_INDEX = 0xffffffff;
const MAX_DESIGNATED_ROUTE_TABLES = 0xffff;

const REGEXP_FIELDS = [
  'logDebugFilenameRegex',
  'nftablesFlowTableDataIfacePattern',
  'bpfDataIfacePattern',
  'bpfL3IfacePattern',
  'bpfDisableGROForIfaces',
  'mtuIfacePattern',
] as const;

function checkKeyValueList(c: Checker, field: string, text: string): void {
  for (const item of text.split(',')) {
    if (item !== '' && !KEY_VALUE_ITEM_RE.test(item)) c.fail(field, `invalid item "${item}": expected key=value`);
  }
}

function checkRouteTables(c: Checker, spec: FelixConfigurationSpec): void {
  if (spec.routeTableRange && spec.routeTableRanges) {
    c.fail('spec.routeTableRanges', 'routeTableRange and routeTableRanges cannot both be set');
  }
  const single = spec.routeTableRange;
  if (single && !(single.min >= 1 && single.max >= single.min && single.max <= 250)) {
    c.fail('spec.routeTableRange', 'must be a range of route table indices within 1..250');
  }
  let designated = 0;
  spec.routeTableRanges?.forEach((range, i) => {
    const field = `spec.routeTableRanges[${i}]`;
    if (range.min < 1) c.fail(`${field}.min`, 'must be at least 1');
    if (range.min > range.max) c.fail(field, 'min must not be greater than max');
    if (range.max > MAX_ROUTE_TABLE_INDEX) c.fail(`${field}.max`, `must be at most ${MAX_ROUTE_TABLE_INDEX}`);
    designated += range.max - range.min + 1;
  });
  if (designated > MAX_DESIGNATED_ROUTE_TABLES) {
    c.fail('spec.routeTableRanges', `designate ${designated} tables, more than ${MAX_DESIGNATED_ROUTE_TABLES}`);
  }
}

export function checkFelixConfiguration(c: Checker, { metadata, spec }: Doc<FelixConfigurationSpec>): void {
  if (spec.nodeSelector !== undefined) {
    if (metadata.name === 'default' || metadata.name.startsWith('node.')) {
      c.fail('spec.nodeSelector', 'must not be set on the "default" or a per-node ("node.*") FelixConfiguration');
    }
    c.selector('spec.nodeSelector', spec.nodeSelector);
  }
  for (const field of REGEXP_FIELDS) {
    const pattern = spec[field];
    if (pattern) c.regexp(`spec.${field}`, pattern);
  }
  if (spec.featureDetectOverride) checkKeyValueList(c, 'spec.featureDetectOverride', spec.featureDetectOverride);
  if (spec.featureGates) checkKeyValueList(c, 'spec.featureGates', spec.featureGates);
  if (spec.prometheusMetricsHost && !PROMETHEUS_HOST_RE.test(spec.prometheusMetricsHost)) {
    c.fail('spec.prometheusMetricsHost', 'must be an IP address or host name of at most 64 characters');
  }
  if (spec.iptablesNATOutgoingInterfaceFilter) {
    c.check('spec.iptablesNATOutgoingInterfaceFilter', checkInterfaceFilter(spec.iptablesNATOutgoingInterfaceFilter));
  }
  spec.bpfForceTrackPacketsFromIfaces?.forEach((iface, i) => {
    c.check(`spec.bpfForceTrackPacketsFromIfaces[${i}]`, checkInterfaceFilter(iface));
  });
  for (const field of ['wireguardInterfaceName', 'wireguardInterfaceNameV6'] as const) {
    const name = spec[field];
    if (name) c.check(`spec.${field}`, checkInterfaceName(name));
  }
  for (const iface of Object.keys(spec.bpfLogFilters ?? {})) {
    c.check('spec.bpfLogFilters', checkInterfaceName(iface));
  }

  if (spec.natOutgoingAddress) c.ip('spec.natOutgoingAddress', spec.natOutgoingAddress, 4);
  if (spec.deviceRouteSourceAddress) c.ip('spec.deviceRouteSourceAddress', spec.deviceRouteSourceAddress, 4);
  if (spec.deviceRouteSourceAddressIPv6) {
    c.ip('spec.deviceRouteSourceAddressIPv6', spec.deviceRouteSourceAddressIPv6, 6);
  }
  spec.externalNodesList?.forEach((cidr, i) => {
    c.cidr(`spec.externalNodesList[${i}]`, cidr, { allowBareIp: true, version: 4 });
  });
  for (const field of ['bpfDSROptoutCIDRs', 'bpfExcludeCIDRsFromNAT'] as const) {
    spec[field]?.forEach((cidr, i) => {
      c.cidr(`spec.${field}[${i}]`, cidr, { allowBareIp: true });
    });
  }

  spec.kubeNodePortRanges?.forEach((value, i) => {
    const port = c.parsed(`spec.kubeNodePortRanges[${i}]`, parsePort(value));
    if (port.kind === 'named') {
      c.fail(`spec.kubeNodePortRanges[${i}]`, 'must be a port number or range, not a named port');
    }
  });
  if (spec.natPortRange !== undefined) c.parsed('spec.natPortRange', parsePort(spec.natPortRange));
  if (spec.bpfPSNATPorts !== undefined) c.parsed('spec.bpfPSNATPorts', parsePort(spec.bpfPSNATPorts));
  if (spec.istioDSCPMark !== undefined) c.parsed('spec.istioDSCPMark', parseDscp(spec.istioDSCPMark));

  for (const direction of ['failsafeInboundHostPorts', 'failsafeOutboundHostPorts'] as const) {
    spec[direction]?.forEach((entry, i) => {
      const field = `spec.${direction}[${i}]`;
      if (entry.protocol !== 'TCP' && entry.protocol !== 'UDP' && entry.protocol !== 'SCTP') {
        c.fail(`${field}.protocol`, 'must be TCP, UDP or SCTP');
      }
      if (entry.net) c.cidr(`${field}.net`, entry.net, { allowBareIp: true });
    });
  }
  spec.healthTimeoutOverrides?.forEach((override, i) => {
    if (!HEALTH_TIMEOUT_NAME_RE.test(override.name)) {
      c.fail(`spec.healthTimeoutOverrides[${i}].name`, "must consist of letters, digits, '_', '-' and spaces");
    }
  });
  checkRouteTables(c, spec);

  if (spec.openstackRegion) {
    if (spec.openstackRegion.length > OPENSTACK_REGION_MAX) {
      c.fail('spec.openstackRegion', `must be no more than ${OPENSTACK_REGION_MAX} characters`);
    }
    c.check('spec.openstackRegion', checkDns1123Label(spec.openstackRegion));
  }
}
