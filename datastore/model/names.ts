// Name and label syntax: Kubernetes' rules (k8s.io/apimachinery validation) and the per-kind name rules of
// Calico's validator. Each check returns what is wrong, or undefined.

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const DNS1123_LABEL_RE = new RegExp(`^${DNS1123_LABEL}$`);
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_SUBDOMAIN}$`);
const DNS1123_LABEL_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;

// A Calico NetworkPolicy name is a label, a label with one dot (historically `<tier>.<name>`), or a subdomain
// behind the prefixes Calico gives converted Kubernetes and OpenStack policies.
const NETWORK_POLICY_NAME_RE = new RegExp(
  `^((${DNS1123_LABEL})(\\.${DNS1123_LABEL})?|((knp|ossg)\\.default\\.(${DNS1123_SUBDOMAIN})))$`,
);
const GLOBAL_NETWORK_POLICY_NAME_RE = new RegExp(`^(${DNS1123_LABEL}\\.)?${DNS1123_LABEL}$`);

const QUALIFIED_NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME_MAX = 63;
const LABEL_VALUE_MAX = 63;

const SUBDOMAIN_RULE = "lower case alphanumeric characters, '-' or '.', starting and ending with an alphanumeric";
const LABEL_RULE = "lower case alphanumeric characters or '-', starting and ending with an alphanumeric";

export function checkDns1123Subdomain(text: string): string | undefined {
  if (text.length > DNS1123_SUBDOMAIN_MAX) return `must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`;
  if (!DNS1123_SUBDOMAIN_RE.test(text)) return `must consist of ${SUBDOMAIN_RULE}, got ${JSON.stringify(text)}`;
  return undefined;
}

export function checkDns1123Label(text: string): string | undefined {
  if (text.length > DNS1123_LABEL_MAX) return `must be no more than ${DNS1123_LABEL_MAX} characters`;
  if (!DNS1123_LABEL_RE.test(text)) return `must consist of ${LABEL_RULE}, got ${JSON.stringify(text)}`;
  return undefined;
}

export function checkNetworkPolicyName(text: string): string | undefined {
  if (text.length > DNS1123_SUBDOMAIN_MAX) return `must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`;
  if (!NETWORK_POLICY_NAME_RE.test(text)) {
    return `must be ${LABEL_RULE}, with at most one '.' (e.g. "my-policy" or "tier.my-policy"), got ${JSON.stringify(text)}`;
  }
  return undefined;
}

export function checkGlobalNetworkPolicyName(text: string): string | undefined {
  if (text.length > DNS1123_SUBDOMAIN_MAX) return `must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`;
  if (!GLOBAL_NETWORK_POLICY_NAME_RE.test(text)) {
    return `must be ${LABEL_RULE}, with at most one '.' (e.g. "my-policy" or "tier.my-policy"), got ${JSON.stringify(text)}`;
  }
  return undefined;
}

/** A label key or annotation key: an optional DNS subdomain prefix and '/', then a name of up to 63 characters. */
export function checkQualifiedName(text: string): string | undefined {
  const slash = text.lastIndexOf('/');
  const name = slash === -1 ? text : text.slice(slash + 1);
  if (slash !== -1) {
    const prefix = text.slice(0, slash);
    if (prefix === '' || text.indexOf('/') !== slash) return `invalid key ${JSON.stringify(text)}: at most one '/'`;
    const problem = checkDns1123Subdomain(prefix);
    if (problem) return `invalid key ${JSON.stringify(text)}: prefix ${problem}`;
  }
  if (name === '') return `invalid key ${JSON.stringify(text)}: name part must not be empty`;
  if (name.length > QUALIFIED_NAME_MAX) {
    return `invalid key ${JSON.stringify(text)}: name part must be no more than ${QUALIFIED_NAME_MAX} characters`;
  }
  if (!QUALIFIED_NAME_RE.test(name)) {
    return `invalid key ${JSON.stringify(text)}: name part must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`;
  }
  return undefined;
}

export function checkLabelValue(text: string): string | undefined {
  if (text.length > LABEL_VALUE_MAX) return `must be no more than ${LABEL_VALUE_MAX} characters`;
  if (!LABEL_VALUE_RE.test(text)) {
    return `invalid value ${JSON.stringify(text)}: must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`;
  }
  return undefined;
}

/** Kubernetes IsValidPortName (an IANA service name): what a named port may be called. */
export function checkPortName(text: string): string | undefined {
  if (text.length === 0 || text.length > 15) return `port name ${JSON.stringify(text)} must be 1-15 characters`;
  if (!/^[-a-z0-9]+$/.test(text)) return `port name ${JSON.stringify(text)} may contain only a-z, 0-9 and '-'`;
  if (!/[a-z]/.test(text)) return `port name ${JSON.stringify(text)} must contain at least one letter`;
  if (text.includes('--')) return `port name ${JSON.stringify(text)} must not contain "--"`;
  if (text.startsWith('-') || text.endsWith('-')) {
    return `port name ${JSON.stringify(text)} must not begin or end with '-'`;
  }
  return undefined;
}

/** The identifying fields of a WorkloadEndpoint, from which its name is built. */
export interface WorkloadEndpointIds {
  node?: string;
  orchestrator?: string;
  pod?: string;
  containerID?: string;
  workload?: string;
  endpoint?: string;
}

/**
 * Calico's WorkloadEndpoint name: `<node>-<orchestrator>-<pod|containerID|workload>-<endpoint>`, each part with
 * its dashes doubled so the name splits back unambiguously (node1, k8s, my-pod, eth0 → node1-k8s-my--pod-eth0).
 * Returns the name, or the field that prevents one and why.
 */
export function workloadEndpointName(
  ids: WorkloadEndpointIds,
): string | { field: keyof WorkloadEndpointIds; problem: string } {
  const orchestrator = ids.orchestrator ?? '';
  const middle: keyof WorkloadEndpointIds =
    orchestrator === 'k8s'
      ? 'pod'
      : orchestrator === 'cni'
        ? 'containerID'
        : orchestrator === 'libnetwork'
          ? 'orchestrator'
          : 'workload';
  const parts: string[] = [];
  for (const field of ['node', 'orchestrator', middle, 'endpoint'] as const) {
    const value = ids[field] ?? '';
    if (value === '') return { field, problem: 'is required to name the endpoint' };
    if (value.startsWith('-') || value.endsWith('-')) return { field, problem: "must not begin or end with '-'" };
    parts.push(value.replaceAll('-', '--'));
  }
  return parts.join('-');
}

// Interface names as Calico accepts them: Linux allows 15 bytes.
const INTERFACE_RE = /^[a-zA-Z0-9_.-]{1,15}$/;
/** Interface patterns with iptables' `+` wildcard (e.g. "docker+"), for Felix's interface filters. */
const INTERFACE_FILTER_RE = /^[a-zA-Z0-9:._+-]{1,15}$/;
/** Interface names with `*` wildcards, as in BGPConfiguration.ignoredInterfaces. */
const INTERFACE_GLOB_RE = /^[a-zA-Z0-9_.*-]{1,15}$/;

export function checkInterfaceName(text: string): string | undefined {
  return INTERFACE_RE.test(text) ? undefined : `must be 1-15 characters of a-z, A-Z, 0-9, '_', '.' or '-'`;
}

export function checkInterfaceFilter(text: string): string | undefined {
  return INTERFACE_FILTER_RE.test(text)
    ? undefined
    : `must be 1-15 characters of a-z, A-Z, 0-9, ':', '.', '_', '+' or '-'`;
}

export function checkInterfaceGlob(text: string): string | undefined {
  if (text === '*') return 'must not be "*" alone (that would ignore every interface)';
  return INTERFACE_GLOB_RE.test(text) ? undefined : `must be 1-15 characters of a-z, A-Z, 0-9, '_', '.', '*' or '-'`;
}
