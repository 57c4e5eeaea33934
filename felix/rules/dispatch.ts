// The workload dispatch chains, after Calico's felix/rules/dispatch.go: `cali-from-wl-dispatch` sends a packet from
// a workload interface to that interface's `cali-fw-` chain, `cali-to-wl-dispatch` one going to a workload
// interface to its `cali-tw-` chain, and both drop packets of interfaces felix does not know (a veth the CNI plugin
// made before its WorkloadEndpoint arrived).
//
// A linear list would make the last of 5,000 endpoints wait behind 4,999 comparisons. Calico splits the sorted names
// once, by the character after their common prefix: the root chain has one rule per character, a `--goto` to a
// child chain `<root>-<character>` listing the names that share it (or, for a single name, the endpoint's chain
// directly). With 5,000 `cali` + hex names, a child still lists about 300. Here a child with more than
// MAX_LINEAR_DISPATCH names is split again the same way (`<root>-<characters>`), so no chain holds more than a few
// dozen rules; up to that many names per child, the chains are Calico's, rule for rule.
import { Actions, type Chain, MAX_CHAIN_NAME_LENGTH, type Rule } from '../iptables';
import {
  CHAIN_FROM_HOST_ENDPOINT,
  CHAIN_FROM_HOST_ENDPOINT_FORWARD,
  CHAIN_FROM_WORKLOAD_DISPATCH,
  CHAIN_TO_HOST_ENDPOINT,
  CHAIN_TO_HOST_ENDPOINT_FORWARD,
  CHAIN_TO_WORKLOAD_DISPATCH,
  HOST_FROM_ENDPOINT_FORWARD_PREFIX,
  HOST_FROM_ENDPOINT_PREFIX,
  HOST_TO_ENDPOINT_FORWARD_PREFIX,
  HOST_TO_ENDPOINT_PREFIX,
  WORKLOAD_FROM_ENDPOINT_PREFIX,
  WORKLOAD_TO_ENDPOINT_PREFIX,
} from './defs';
import { endpointChainName } from './endpoints';
import { inInterface, outInterface } from './match';

/** Names a child dispatch chain lists one by one; more are split into further children. */
export const MAX_LINEAR_DISPATCH = 32;

/** Interface names must be sorted and distinct. Child chains first, then the two roots. */
export function workloadDispatchChains(interfaces: readonly string[]): Chain[] {
  const unknownInterface: Rule = { match: '', action: Actions.drop(), comment: ['Unknown interface'] };
  return [
    ...dispatchTree(interfaces, {
      rootName: CHAIN_FROM_WORKLOAD_DISPATCH,
      matchInterface: inInterface,
      target: (iface) => endpointChainName(WORKLOAD_FROM_ENDPOINT_PREFIX, iface),
      endRule: unknownInterface,
    }),
    ...dispatchTree(interfaces, {
      rootName: CHAIN_TO_WORKLOAD_DISPATCH,
      matchInterface: outInterface,
      target: (iface) => endpointChainName(WORKLOAD_TO_ENDPOINT_PREFIX, iface),
      endRule: unknownInterface,
    }),
  ];
}

/**
 * The host endpoint dispatch chains (Calico's hostDispatchChains): from and to each host endpoint interface, for the
 * host's own traffic and (in the filter table) for forwarded traffic. A packet of another interface returns:
 * host endpoint policy leaves it alone. With no host endpoints, the four chains are empty.
 */
export function hostDispatchChains(interfaces: readonly string[], table: 'filter' | 'raw' | 'mangle'): Chain[] {
  const tree = (rootName: string, matchInterface: (pattern: string) => string, prefix: string) =>
    dispatchTree(interfaces, { rootName, matchInterface, target: (iface) => endpointChainName(prefix, iface) });
  // The mangle table polices arriving traffic only (pre-DNAT policy is ingress policy).
  if (table === 'mangle') return tree(CHAIN_FROM_HOST_ENDPOINT, inInterface, HOST_FROM_ENDPOINT_PREFIX);
  return [
    ...tree(CHAIN_FROM_HOST_ENDPOINT, inInterface, HOST_FROM_ENDPOINT_PREFIX),
    ...tree(CHAIN_TO_HOST_ENDPOINT, outInterface, HOST_TO_ENDPOINT_PREFIX),
    // The raw table polices the host's own traffic only (untracked policy does not apply on forward).
    ...(table === 'filter'
      ? [
          ...tree(CHAIN_FROM_HOST_ENDPOINT_FORWARD, inInterface, HOST_FROM_ENDPOINT_FORWARD_PREFIX),
          ...tree(CHAIN_TO_HOST_ENDPOINT_FORWARD, outInterface, HOST_TO_ENDPOINT_FORWARD_PREFIX),
        ]
      : []),
  ];
}

interface DispatchTree {
  rootName: string;
  /** Match text for an interface name or a `prefix+` wildcard. */
  matchInterface(pattern: string): string;
  /** The chain an interface's packets go to. */
  target(iface: string): string;
  /** Ends every chain of the tree: a packet whose interface no rule matched. None: it returns. */
  endRule?: Rule;
}

function dispatchTree(names: readonly string[], tree: DispatchTree): Chain[] {
  const chains: Chain[] = [];
  const rootPrefix = commonPrefix(names);
  const childName = (prefix: string) => `${tree.rootName}-${prefix.slice(rootPrefix.length)}`;

  /** A chain of one rule per group of names that share the character after their common prefix. */
  const splitChain = (name: string, members: readonly string[]): void => {
    const rules: Rule[] = [];
    for (const [prefix, group] of groupByNextCharacter(members)) {
      if (group.length === 1) {
        // No child chain for a single name: one goto fewer on its packets' way.
        rules.push({ match: tree.matchInterface(group[0]!), action: Actions.goto(tree.target(group[0]!)) });
        continue;
      }
      const child = childName(prefix);
      // A goto: the packet does not come back to try the rest of this chain.
      rules.push({ match: tree.matchInterface(`${prefix}+`), action: Actions.goto(child) });
      if (group.length > MAX_LINEAR_DISPATCH && canSplit(group)) splitChain(child, group);
      else linearChain(child, group);
    }
    if (tree.endRule) rules.push(tree.endRule);
    chains.push({ name, rules });
  };

  const linearChain = (name: string, members: readonly string[]): void => {
    const rules: Rule[] = members.map((iface) => ({
      match: tree.matchInterface(iface),
      action: Actions.goto(tree.target(iface)),
    }));
    // The same end as the root: a packet that reached a child by its prefix but matches no name in it.
    if (tree.endRule) rules.push(tree.endRule);
    chains.push({ name, rules });
  };

  /** Whether the children of a split of `members` get names iptables takes. */
  const canSplit = (members: readonly string[]) =>
    childName(`${commonPrefix(members)}x`).length <= MAX_CHAIN_NAME_LENGTH;

  splitChain(tree.rootName, names);
  return chains;
}

/**
 * Sorted names grouped by their common prefix plus the next character (a name equal to the common prefix is a group
 * of its own, under the prefix itself), in name order.
 */
function groupByNextCharacter(names: readonly string[]): Map<string, string[]> {
  const common = commonPrefix(names);
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const prefix = name.slice(0, common.length + 1);
    const group = groups.get(prefix);
    if (group === undefined) groups.set(prefix, [name]);
    else group.push(name);
  }
  return groups;
}

function commonPrefix(names: readonly string[]): string {
  if (names.length === 0) return '';
  let prefix = names[0]!;
  for (const name of names) {
    let length = 0;
    while (length < prefix.length && length < name.length && prefix[length] === name[length]) length++;
    prefix = prefix.slice(0, length);
  }
  return prefix;
}
