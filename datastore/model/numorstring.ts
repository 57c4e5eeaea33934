// Calico's int-or-string values (api/pkg/lib/numorstring): AS numbers, ports and port ranges, protocols, DSCP.
// Each parser returns the meaning of a value, or a string saying why it has none.

const MAX_AS_NUMBER = 0xffffffff;

/** An AS number: 65000, "65000", or dotted (asdot) "1.10" = 1 × 65536 + 10. */
export function parseAsNumber(value: unknown): number | string {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= MAX_AS_NUMBER) return value;
    return `must be an AS number between 0 and ${MAX_AS_NUMBER}, got ${value}`;
  }
  if (typeof value !== 'string') return 'must be an AS number (integer or "high.low")';
  if (/^[0-9]+$/.test(value) && Number(value) <= MAX_AS_NUMBER) return Number(value);
  const dotted = /^([0-9]+)\.([0-9]+)$/.exec(value);
  if (dotted && Number(dotted[1]) <= 0xffff && Number(dotted[2]) <= 0xffff) {
    return Number(dotted[1]) * 65536 + Number(dotted[2]);
  }
  return `invalid AS number ${JSON.stringify(value)}: must be 0-${MAX_AS_NUMBER} or dotted "high.low" with 16-bit parts`;
}

export type PortMatch = { kind: 'range'; min: number; max: number } | { kind: 'named'; name: string };

const NAMED_PORT_RE = /^[a-zA-Z0-9_.-]{1,128}$/;
const MAX_PORT = 65535;

/** A policy port: 80, "80", "1000:2000", or a named port such as "http". Port 0 is not a port. */
export function parsePort(value: unknown): PortMatch | string {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 1 && value <= MAX_PORT) return { kind: 'range', min: value, max: value };
    return `port must be between 1 and ${MAX_PORT}, got ${value}`;
  }
  if (typeof value !== 'string') return 'must be a port number, a "min:max" range or a port name';
  const range = /^([0-9]+)(?::([0-9]+))?$/.exec(value);
  if (range) {
    const min = Number(range[1]);
    const max = range[2] === undefined ? min : Number(range[2]);
    if (min < 1 || max < 1 || min > MAX_PORT || max > MAX_PORT) {
      return `port must be between 1 and ${MAX_PORT}, got ${JSON.stringify(value)}`;
    }
    if (min > max) return `port range ${JSON.stringify(value)} has its minimum above its maximum`;
    return { kind: 'range', min, max };
  }
  if (!NAMED_PORT_RE.test(value)) return `invalid port ${JSON.stringify(value)}: not a number, "min:max" or port name`;
  return { kind: 'named', name: value };
}

/** The canonical JSON form Calico stores: a number for one port, "min:max" for a range, the name otherwise. */
export function canonicalPort(port: PortMatch): number | string {
  if (port.kind === 'named') return port.name;
  return port.min === port.max ? port.min : `${port.min}:${port.max}`;
}

const PROTOCOL_NAMES = ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];
export type Protocol = { kind: 'number'; number: number } | { kind: 'name'; name: ProtocolName };

/** A rule protocol: one of Calico's names (exact case) or an IP protocol number 1-255 (number or digits). */
export function parseProtocol(value: unknown): Protocol | string {
  const number = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
  if (typeof number === 'number') {
    if (Number.isInteger(number) && number >= 1 && number <= 255) return { kind: 'number', number };
    return `protocol number must be between 1 and 255, got ${JSON.stringify(value)}`;
  }
  if (typeof value === 'string' && (PROTOCOL_NAMES as readonly string[]).includes(value)) {
    return { kind: 'name', name: value as ProtocolName };
  }
  return `invalid protocol ${JSON.stringify(value)}: must be one of ${PROTOCOL_NAMES.join(', ')} or a number 1-255`;
}

export function canonicalProtocol(protocol: Protocol): number | string {
  return protocol.kind === 'number' ? protocol.number : protocol.name;
}

const PORT_PROTOCOL_NUMBERS = new Set([6, 17, 132]);

/** Only TCP, UDP and SCTP have ports. */
export function protocolHasPorts(protocol: Protocol): boolean {
  return protocol.kind === 'number'
    ? PORT_PROTOCOL_NUMBERS.has(protocol.number)
    : protocol.name === 'TCP' || protocol.name === 'UDP' || protocol.name === 'SCTP';
}

export function isIcmpProtocol(protocol: Protocol, version: 4 | 6): boolean {
  return protocol.kind === 'number'
    ? protocol.number === (version === 4 ? 1 : 58)
    : protocol.name === (version === 4 ? 'ICMP' : 'ICMPv6');
}

// Per-hop behaviour names and their DSCP values (RFC 2474, 2597, 3246).
const DSCP_NAMES: Record<string, number> = {
  DF: 0,
  EF: 46,
  AF11: 10,
  AF12: 12,
  AF13: 14,
  AF21: 18,
  AF22: 20,
  AF23: 22,
  AF31: 26,
  AF32: 28,
  AF33: 30,
  AF41: 34,
  AF42: 36,
  AF43: 38,
  CS0: 0,
  CS1: 8,
  CS2: 16,
  CS3: 24,
  CS4: 32,
  CS5: 40,
  CS6: 48,
};

/** A DSCP value: 0-63 or a name such as "EF" or "AF21" (case-insensitive). */
export function parseDscp(value: unknown): number | string {
  const number = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
  if (typeof number === 'number') {
    return Number.isInteger(number) && number >= 0 && number <= 63
      ? number
      : `DSCP must be between 0 and 63, got ${value}`;
  }
  const named = typeof value === 'string' ? DSCP_NAMES[value.trim().toUpperCase()] : undefined;
  return named ?? `invalid DSCP ${JSON.stringify(value)}: must be 0-63 or one of ${Object.keys(DSCP_NAMES).join(', ')}`;
}
