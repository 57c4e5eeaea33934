// Policy rules: Calico's validateRule, validateEntityRule, validateHTTPRule, the NetworkPolicy and
// GlobalNetworkPolicy spec checks, and the CEL rules on Rule, EntityRule, ICMPFields, GlobalNetworkPolicySpec and
// Tier. Profiles carry rules too.
import type { Checker, Doc } from './checker';
import type { EntityRule, Rule } from './common';
import { show } from './errors';
import type { IpVersion } from './net';
import { isIcmpProtocol, type Protocol, parsePort, parseProtocol, protocolHasPorts } from './numorstring';
import type { GlobalNetworkPolicySpec, NetworkPolicySpec, ProfileSpec, TierSpec } from './types';

type Direction = 'ingress' | 'egress';

interface RuleContext {
  direction: Direction;
  /** GlobalNetworkPolicy rules name Services across namespaces, so they must say which namespace. */
  global: boolean;
}

const PORTS_NEED_PROTOCOL = 'rules with numeric ports or port ranges must set protocol to TCP, UDP or SCTP';
const PROTOCOL_WITHOUT_PORTS = 'rules that specify ports must set protocol to TCP, UDP or SCTP';

function checkIcmp(c: Checker, field: string, icmp: Rule['icmp']): void {
  if (icmp?.code !== undefined && icmp.type === undefined) c.fail(`${field}.code`, 'requires an ICMP type');
}

/** ICMP only exists in IPv4 and ICMPv6 only in IPv6: an ipVersion, when given, must agree. */
function checkProtocolVersion(c: Checker, field: string, protocol: Protocol, ipVersion: IpVersion | undefined): void {
  if (ipVersion === 6 && isIcmpProtocol(protocol, 4)) c.fail(field, 'protocol ICMP requires ipVersion 4');
  if (ipVersion === 4 && isIcmpProtocol(protocol, 6)) c.fail(field, 'protocol ICMPv6 requires ipVersion 6');
}

function checkPorts(c: Checker, field: string, ports: readonly unknown[] | undefined, protocol: Protocol | undefined) {
  if (!ports?.length) return;
  if (protocol !== undefined && !protocolHasPorts(protocol)) c.fail(field, PROTOCOL_WITHOUT_PORTS);
  ports.forEach((value, i) => {
    const port = c.parsed(`${field}[${i}]`, parsePort(value));
    // A named port says its own protocol, so it is the only kind allowed without one.
    if (protocol === undefined && port.kind === 'range') c.fail(`${field}[${i}]`, PORTS_NEED_PROTOCOL);
  });
}

// A Services match picks its endpoints itself, so an entity rule naming services cannot also select them.
const SERVICE_EXCLUSIVE_FIELDS = [
  'namespaceSelector',
  'serviceAccounts',
  'selector',
  'notSelector',
  'nets',
  'notNets',
] as const;

const isSet = (value: unknown) => value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0);

/** The IP versions a rule's CIDRs use so far, and the version the rule is restricted to. */
interface RuleVersions {
  ipVersion?: IpVersion;
  seen: Set<IpVersion>;
}

function checkEntityRule(c: Checker, field: string, entity: EntityRule, versions: RuleVersions): void {
  if (entity.selector) c.selector(`${field}.selector`, entity.selector);
  if (entity.notSelector) c.selector(`${field}.notSelector`, entity.notSelector);
  if (entity.namespaceSelector) {
    c.selector(`${field}.namespaceSelector`, entity.namespaceSelector, { globalAllowed: true });
  }
  if (entity.serviceAccounts?.selector) {
    c.selector(`${field}.serviceAccounts.selector`, entity.serviceAccounts.selector);
  }

  for (const key of ['nets', 'notNets'] as const) {
    entity[key]?.forEach((text, i) => {
      const net = c.cidr(`${field}.${key}[${i}]`, text, { strict: true });
      if (key === 'notNets' && net.prefix === 0) {
        c.fail(`${field}.notNets[${i}]`, `${text} in notNets matches no traffic at all`);
      }
      if (versions.ipVersion !== undefined && net.version !== versions.ipVersion) {
        c.fail(`${field}.${key}[${i}]`, `${text} is not IPv${versions.ipVersion}, the rule's ipVersion`);
      }
      versions.seen.add(net.version);
      if (versions.seen.size > 1) c.fail(`${field}.${key}[${i}]`, 'a rule cannot mix IPv4 and IPv6 CIDRs');
    });
  }

  const services = entity.services;
  if (services) {
    if (!services.name) c.fail(`${field}.services.name`, 'is required');
    c.name(`${field}.services.name`, services.name);
    if (services.namespace) c.name(`${field}.services.namespace`, services.namespace);
    const conflicting = SERVICE_EXCLUSIVE_FIELDS.find((key) => isSet(entity[key]));
    if (conflicting) c.fail(`${field}.services`, `cannot be combined with ${conflicting} in the same rule`);
  }
}

function checkHttp(c: Checker, field: string, rule: Rule, protocol: Protocol | undefined, direction: Direction): void {
  const http = rule.http;
  if (!http) return;
  if (direction === 'egress') c.fail(`${field}.http`, 'is not allowed in egress rules');
  if (rule.action !== 'Allow') c.fail(`${field}.http`, 'HTTP match is only valid on Allow rules');
  const tcp = protocol === undefined || (protocol.kind === 'name' ? protocol.name === 'TCP' : protocol.number === 6);
  if (!tcp) c.fail(`${field}.protocol`, 'rules with an HTTP match must have protocol TCP or none');
  if (http.methods) c.unique(`${field}.http.methods`, http.methods);
  http.paths?.forEach((path, i) => {
    const at = `${field}.http.paths[${i}]`;
    if (path.exact && path.prefix) c.fail(at, "only one of 'exact' and 'prefix' may be set");
    const value = path.exact || path.prefix;
    if (!value) c.fail(at, "one of 'exact' or 'prefix' must be set");
    if (!value.startsWith('/') || /[?# ]/.test(value)) {
      c.fail(at, `invalid path ${show(value)}: must start with '/' and not contain '?', '#' or spaces`);
    }
  });
}

function checkRule(c: Checker, field: string, rule: Rule, context: RuleContext): void {
  const protocol =
    rule.protocol === undefined ? undefined : c.parsed(`${field}.protocol`, parseProtocol(rule.protocol));
  const notProtocol =
    rule.notProtocol === undefined ? undefined : c.parsed(`${field}.notProtocol`, parseProtocol(rule.notProtocol));
  if (protocol) checkProtocolVersion(c, `${field}.protocol`, protocol, rule.ipVersion);
  if (notProtocol) checkProtocolVersion(c, `${field}.notProtocol`, notProtocol, rule.ipVersion);

  checkIcmp(c, `${field}.icmp`, rule.icmp);
  checkIcmp(c, `${field}.notICMP`, rule.notICMP);
  if (rule.icmp && !(protocol && (isIcmpProtocol(protocol, 4) || isIcmpProtocol(protocol, 6)))) {
    c.fail(`${field}.icmp`, 'requires protocol ICMP or ICMPv6');
  }
  checkHttp(c, field, rule, protocol, context.direction);

  const versions: RuleVersions = { ipVersion: rule.ipVersion, seen: new Set() };
  for (const side of ['source', 'destination'] as const) {
    const entity = rule[side];
    if (!entity) continue;
    const at = `${field}.${side}`;
    checkPorts(c, `${at}.ports`, entity.ports, protocol);
    checkPorts(c, `${at}.notPorts`, entity.notPorts, protocol);
    checkEntityRule(c, at, entity, versions);
  }

  // Services name the other end of the connection: the source of ingress traffic, the destination of egress.
  const peerSide = context.direction === 'ingress' ? 'source' : 'destination';
  const localSide = context.direction === 'ingress' ? 'destination' : 'source';
  if (rule[localSide]?.services) {
    c.fail(`${field}.${localSide}.services`, `is not allowed in ${context.direction} rules`);
  }
  const services = rule[peerSide]?.services;
  if (services && context.global && !services.namespace) {
    c.fail(`${field}.${peerSide}.services.namespace`, 'is required in a GlobalNetworkPolicy');
  }
  if (rule.destination?.services && (rule.destination.ports?.length || rule.destination.notPorts?.length)) {
    c.fail(`${field}.destination.ports`, 'ports and notPorts cannot be combined with services');
  }
  if (rule.metadata?.annotations) c.annotations(`${field}.metadata.annotations`, rule.metadata.annotations);
}

function checkRules(c: Checker, spec: { ingress?: Rule[]; egress?: Rule[] }, global: boolean): void {
  spec.ingress?.forEach((rule, i) => {
    checkRule(c, `spec.ingress[${i}]`, rule, { direction: 'ingress', global });
  });
  spec.egress?.forEach((rule, i) => {
    checkRule(c, `spec.egress[${i}]`, rule, { direction: 'egress', global });
  });
}

function checkPolicyCommon(c: Checker, spec: NetworkPolicySpec, global: boolean): void {
  if (spec.tier) c.name('spec.tier', spec.tier);
  if (spec.selector) c.selector('spec.selector', spec.selector);
  if (spec.serviceAccountSelector) c.selector('spec.serviceAccountSelector', spec.serviceAccountSelector);
  if (spec.types) c.unique('spec.types', spec.types);
  if (spec.performanceHints) c.unique('spec.performanceHints', spec.performanceHints);
  checkRules(c, spec, global);
}

export function checkNetworkPolicy(c: Checker, { spec }: Doc<NetworkPolicySpec>): void {
  checkPolicyCommon(c, spec, false);
}

export function checkGlobalNetworkPolicy(c: Checker, { spec }: Doc<GlobalNetworkPolicySpec>): void {
  if (spec.namespaceSelector) c.selector('spec.namespaceSelector', spec.namespaceSelector);
  if (spec.doNotTrack && spec.preDNAT) c.fail('spec.preDNAT', 'preDNAT and doNotTrack cannot both be true');
  if (spec.preDNAT && spec.egress?.length) c.fail('spec.egress', 'a preDNAT policy cannot have egress rules');
  if (spec.preDNAT && spec.types?.includes('Egress')) {
    c.fail('spec.types', "a preDNAT policy cannot have type 'Egress'");
  }
  if ((spec.doNotTrack || spec.preDNAT) && !spec.applyOnForward) {
    c.fail('spec.applyOnForward', 'must be true when doNotTrack or preDNAT is true');
  }
  checkPolicyCommon(c, spec, true);
}

export function checkProfile(c: Checker, { spec }: Doc<ProfileSpec>): void {
  if (spec.labelsToApply) c.labels('spec.labelsToApply', spec.labelsToApply);
  checkRules(c, spec, false);
}

// The tiers Calico creates itself, with the order and default action it insists on.
const WELL_KNOWN_TIERS: Record<string, { order: number; defaultAction: string }> = {
  'kube-admin': { order: 1000, defaultAction: 'Pass' },
  default: { order: 1_000_000, defaultAction: 'Deny' },
  'kube-baseline': { order: 10_000_000, defaultAction: 'Pass' },
};

export function checkTier(c: Checker, { metadata, spec }: Doc<TierSpec>): void {
  const required = WELL_KNOWN_TIERS[metadata.name];
  if (!required) return;
  if (spec.order !== required.order) {
    c.fail('spec.order', `the "${metadata.name}" tier's order must be ${required.order}`);
  }
  if (spec.defaultAction !== required.defaultAction) {
    c.fail('spec.defaultAction', `the "${metadata.name}" tier's defaultAction must be ${required.defaultAction}`);
  }
}
