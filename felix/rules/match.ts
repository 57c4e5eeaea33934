// iptables match text exactly as Calico's match builder writes it (felix/iptables/match_builder.go): a rule's hash
// covers its text, so the same words in the same order make the same hash as on a Calico node.

/** Go's `%#x` of a uint32. */
function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

/** Joins match fragments in the order given (Calico's matchCriteria keeps call order). */
export function all(...fragments: string[]): string {
  return fragments.join(' ');
}

/** None of the bits of `mask` is set. */
export function markClear(mask: number): string {
  return `-m mark --mark 0/${hex(mask)}`;
}

/** The single bit `mark` is set. */
export function markSet(mark: number): string {
  return `-m mark --mark ${hex(mark)}/${hex(mark)}`;
}

export function inInterface(name: string): string {
  return `--in-interface ${name}`;
}

export function outInterface(name: string): string {
  return `--out-interface ${name}`;
}

export function conntrackState(states: string): string {
  return `-m conntrack --ctstate ${states}`;
}

export function notConntrackState(states: string): string {
  return `-m conntrack ! --ctstate ${states}`;
}

/** By name: tcp, udp. */
export function protocol(name: string): string {
  return `-p ${name}`;
}

export function protocolNumber(number: number): string {
  return `-p ${number}`;
}

export function sourceNet(cidr: string): string {
  return `--source ${cidr}`;
}

export function destNet(cidr: string): string {
  return `--destination ${cidr}`;
}

export function sourceIpSet(name: string): string {
  return `-m set --match-set ${name} src`;
}

export function destIpSet(name: string): string {
  return `-m set --match-set ${name} dst`;
}

export function notDestIpSet(name: string): string {
  return `-m set ! --match-set ${name} dst`;
}

/** One port, with the protocol's own match (needs `-p tcp|udp` before it). */
export function destPort(port: number): string {
  return `--dport ${port}`;
}

export function destPorts(...ports: number[]): string {
  return `-m multiport --destination-ports ${ports.join(',')}`;
}

export function sourcePorts(...ports: number[]): string {
  return `-m multiport --source-ports ${ports.join(',')}`;
}

export function destAddrTypeLocal(): string {
  return '-m addrtype --dst-type LOCAL';
}

/** The source is one of the host's addresses. */
export function srcAddrTypeLocal(): string {
  return '-m addrtype --src-type LOCAL';
}

/** The source is not an address of the interface the packet leaves through. */
export function notSrcAddrTypeLocalOfOutInterface(): string {
  return '-m addrtype ! --src-type LOCAL --limit-iface-out';
}

/** The reverse path check fails: the route back to the source does not leave through the interface it came in on. */
export function rpfCheckFailed(): string {
  return '-m rpfilter --invert --validmark';
}
