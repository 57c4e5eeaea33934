// networking.k8s.io/v1 NetworkPolicy, validated as the Kubernetes API server does
// (pkg/apis/networking/validation: ValidateNetworkPolicySpec, ValidateNetworkPolicyPort/Peer, ValidateIPBlock,
// and apimachinery's ValidateLabelSelector).
import type { Checker, Doc } from './checker';
import { show } from './errors';
import { checkLabelValue, checkPortName, checkQualifiedName } from './names';
import { cidrContains } from './net';
import type { KubernetesNetworkPolicySpec, LabelSelector } from './types';

type Peer = NonNullable<NonNullable<KubernetesNetworkPolicySpec['ingress']>[number]['from']>[number];
type Port = NonNullable<NonNullable<KubernetesNetworkPolicySpec['ingress']>[number]['ports']>[number];

function checkLabelSelector(c: Checker, field: string, selector: LabelSelector): void {
  if (selector.matchLabels) c.labels(`${field}.matchLabels`, selector.matchLabels);
  selector.matchExpressions?.forEach((expression, i) => {
    const at = `${field}.matchExpressions[${i}]`;
    c.check(`${at}.key`, checkQualifiedName(expression.key));
    const values = expression.values ?? [];
    const takesValues = expression.operator === 'In' || expression.operator === 'NotIn';
    if (takesValues && values.length === 0) {
      c.fail(`${at}.values`, "must be specified when operator is 'In' or 'NotIn'");
    }
    if (!takesValues && values.length > 0) {
      c.fail(`${at}.values`, "may not be specified when operator is 'Exists' or 'DoesNotExist'");
    }
    values.forEach((value, j) => {
      c.check(`${at}.values[${j}]`, checkLabelValue(value));
    });
  });
}

function checkPort(c: Checker, field: string, port: Port): void {
  if (port.port === undefined) {
    if (port.endPort !== undefined) c.fail(`${field}.endPort`, 'may not be specified when port is not specified');
    return;
  }
  if (typeof port.port === 'string') {
    if (port.endPort !== undefined) c.fail(`${field}.endPort`, 'may not be specified when port is non-numeric');
    c.check(`${field}.port`, checkPortName(port.port));
    return;
  }
  if (port.port < 1 || port.port > 65535) {
    c.fail(`${field}.port`, `must be between 1 and 65535, inclusive, got ${port.port}`);
  }
  if (port.endPort !== undefined) {
    if (port.endPort < port.port) c.fail(`${field}.endPort`, `must be greater than or equal to port (${port.port})`);
    if (port.endPort > 65535) c.fail(`${field}.endPort`, `must be between 1 and 65535, inclusive, got ${port.endPort}`);
  }
}

function checkPeer(c: Checker, field: string, peer: Peer): void {
  if (peer.podSelector) checkLabelSelector(c, `${field}.podSelector`, peer.podSelector);
  if (peer.namespaceSelector) checkLabelSelector(c, `${field}.namespaceSelector`, peer.namespaceSelector);
  const block = peer.ipBlock;
  if (block) {
    if (peer.podSelector || peer.namespaceSelector) c.fail(field, 'may not specify both ipBlock and another peer');
    if (block.cidr === '') c.fail(`${field}.ipBlock.cidr`, 'is required');
    const cidr = c.cidr(`${field}.ipBlock.cidr`, block.cidr);
    block.except?.forEach((text, i) => {
      const except = c.cidr(`${field}.ipBlock.except[${i}]`, text);
      if (!cidrContains(cidr, except) || except.prefix <= cidr.prefix) {
        c.fail(`${field}.ipBlock.except[${i}]`, `${show(text)} must be a strict subset of cidr ${block.cidr}`);
      }
    });
  } else if (!peer.podSelector && !peer.namespaceSelector) {
    c.fail(field, 'must specify a peer (podSelector, namespaceSelector or ipBlock)');
  }
}

function checkRule(c: Checker, field: string, ports: Port[] | undefined, peersKey: 'from' | 'to', peers?: Peer[]) {
  ports?.forEach((port, i) => {
    checkPort(c, `${field}.ports[${i}]`, port);
  });
  peers?.forEach((peer, i) => {
    checkPeer(c, `${field}.${peersKey}[${i}]`, peer);
  });
}

export function checkKubernetesNetworkPolicy(c: Checker, { spec }: Doc<KubernetesNetworkPolicySpec>): void {
  if (spec.podSelector) checkLabelSelector(c, 'spec.podSelector', spec.podSelector);
  spec.ingress?.forEach((rule, i) => {
    checkRule(c, `spec.ingress[${i}]`, rule.ports, 'from', rule.from);
  });
  spec.egress?.forEach((rule, i) => {
    checkRule(c, `spec.egress[${i}]`, rule.ports, 'to', rule.to);
  });
  if (spec.policyTypes) c.unique('spec.policyTypes', spec.policyTypes);
}
