// Kernel routes as tabby describes them, and their canonical form: one object shape with every default filled in,
// so that a desired route and the route read back from the kernel compare equal exactly when the kernel holds what
// we asked for, and a diff never rewrites an unchanged route.

/** Felix's routes (Calico's protocol number). */
export const FELIX_ROUTE_PROTOCOL = 80;
/** Routes the BGP speaker learned ("bgp" in /etc/iproute2/rt_protos). */
export const BGP_ROUTE_PROTOCOL = 186;
/** RT_TABLE_MAIN. */
export const MAIN_TABLE = 254;
/** How often a route table re-reads the kernel to repair drift (Calico's route refresh interval). */
export const ROUTE_RESYNC_INTERVAL_MS = 90_000;

/** Route types by their iproute2 names; the array index is the kernel's RTN_* number. */
const ROUTE_TYPES = [
  undefined,
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'xresolve',
] as const;
export type RouteType = Exclude<(typeof ROUTE_TYPES)[number], undefined>;

/** Route scopes by their iproute2 names and the kernel's RT_SCOPE_* numbers. */
const ROUTE_SCOPES = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 } as const;
export type RouteScope = keyof typeof ROUTE_SCOPES;
const SCOPE_BY_NUMBER = new Map(Object.entries(ROUTE_SCOPES).map(([name, n]) => [n as number, name as RouteScope]));

/** Types that send nothing anywhere, so they take neither a device nor a gateway. */
const DEVICELESS_TYPES: ReadonlySet<RouteType> = new Set(['blackhole', 'unreachable', 'prohibit', 'throw']);

export interface KernelRoute {
  /** IPv4 CIDR; a bare address means /32 and "default" 0.0.0.0/0. Canonical form: network address + "/" + length. */
  dst: string;
  /** Default unicast. */
  type?: RouteType;
  dev?: string;
  /** Gateway (IPv4). */
  via?: string;
  /** The gateway is reachable on `dev` whatever the device's addresses say (tunl0, vxlan.calico). */
  onlink?: boolean;
  /** Default as iproute2 chooses it: link for a unicast route without gateway, host for local, global otherwise. */
  scope?: RouteScope;
  /** Preferred source address. */
  src?: string;
  /** Default 0. Part of the kernel's key for the route, with dst and table. */
  metric?: number;
  protocol: number;
  mtu?: number;
}

/** A route to program: the protocol is the route table's own, so it may be left out. */
export type RouteSpec = Omit<KernelRoute, 'protocol'> & { protocol?: number };

/**
 * A validated route with every default filled in. Built only by canonicalRoute and trustedRoute, so all of them share
 * one object shape; compare them with sameRoute.
 */
export interface CanonicalRoute extends KernelRoute {
  readonly dst: string;
  readonly type: RouteType;
  readonly dev: string | undefined;
  readonly via: string | undefined;
  readonly onlink: boolean;
  readonly scope: RouteScope;
  readonly src: string | undefined;
  readonly metric: number;
  readonly protocol: number;
  readonly mtu: number | undefined;
}

/**
 * The IPv4 address in text[start, end) as an unsigned number, or -1 unless it is a dotted quad without leading
 * zeros (which inet_aton would read as octal).
 */
function parseIPv4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      digits++;
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  return digits === 0 || dots !== 3 ? -1 : value * 256 + octet;
}

function formatIPv4(address: number): string {
  return `${Math.floor(address / 0x1000000)}.${Math.floor(address / 0x10000) % 256}.${Math.floor(address / 0x100) % 256}.${address % 256}`;
}

export function isIPv4(text: string): boolean {
  return parseIPv4(text, 0, text.length) >= 0;
}

/**
 * The canonical form of an IPv4 destination: "10.65.0.7" → "10.65.0.7/32", "default" → "0.0.0.0/0", host bits
 * cleared ("10.65.0.7/24" → "10.65.0.0/24", as Go's net.ParseCIDR reads it). Returns the argument itself when it is
 * already canonical (the common case, no allocation). Throws on anything else.
 */
export function canonicalDestination(dst: string): string {
  if (dst === 'default') return '0.0.0.0/0';
  const slash = dst.indexOf('/');
  const address = parseIPv4(dst, 0, slash < 0 ? dst.length : slash);
  if (address < 0) throw new Error(`bad route destination "${dst}": expected an IPv4 CIDR such as 10.65.0.0/26`);
  if (slash < 0) return `${dst}/32`;
  const length = parsePrefixLength(dst, slash + 1);
  if (length < 0) throw new Error(`bad route destination "${dst}": prefix length must be 0 to 32`);
  const hostSize = 2 ** (32 - length);
  const network = address - (address % hostSize);
  return network === address ? dst : `${formatIPv4(network)}/${length}`;
}

/** The prefix length text[start..] (0 to 32, no leading zero), or -1. */
function parsePrefixLength(text: string, start: number): number {
  const digits = text.length - start;
  if (digits < 1 || digits > 2) return -1;
  const first = text.charCodeAt(start) - 48;
  if (first < 0 || first > 9) return -1;
  if (digits === 1) return first;
  const second = text.charCodeAt(start + 1) - 48;
  if (first === 0 || second < 0 || second > 9) return -1;
  const length = first * 10 + second;
  return length <= 32 ? length : -1;
}

/** The scope iproute2 gives a route when none is named (ip route's own rule, so reading back compares equal). */
export function defaultScope(type: RouteType, via: string | undefined): RouteScope {
  if (type === 'local' || type === 'nat') return 'host';
  if (type === 'broadcast' || type === 'multicast' || type === 'anycast') return 'link';
  if (type === 'unicast' && via === undefined) return 'link';
  return 'global';
}

/** Linux's dev_valid_name: 1–15 bytes, not "." or "..", no "/", ":" or whitespace. */
function isDeviceName(name: string): boolean {
  return /^[^\s/:]{1,15}$/.test(name) && name !== '.' && name !== '..';
}

function isUint(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

export function isRouteProtocol(protocol: number): boolean {
  return isUint(protocol, 255);
}

function routeError(dst: string, what: string): Error {
  return new Error(`route ${dst}: ${what}`);
}

/** Validates a route and fills in its defaults; throws an Error naming the destination and the field at fault. */
export function canonicalRoute(route: RouteSpec, protocol: number): CanonicalRoute {
  const dst = canonicalDestination(route.dst);
  const { dev, via, src, mtu } = route;
  const type = route.type ?? 'unicast';
  if (dev !== undefined && !isDeviceName(dev)) throw routeError(dst, `bad device name "${dev}"`);
  if (via !== undefined && !isIPv4(via)) throw routeError(dst, `bad gateway "${via}": expected an IPv4 address`);
  if (src !== undefined && !isIPv4(src)) throw routeError(dst, `bad source "${src}": expected an IPv4 address`);
  if (type === 'unicast') {
    if (dev === undefined && via === undefined) throw routeError(dst, 'a unicast route needs a device or a gateway');
  } else if (!ROUTE_TYPES.includes(type)) {
    throw routeError(dst, `unknown type "${type}"`);
  } else if (DEVICELESS_TYPES.has(type) && (dev !== undefined || via !== undefined)) {
    throw routeError(dst, `a ${type} route takes no device or gateway`);
  }
  const onlink = route.onlink ?? false;
  if (onlink && (via === undefined || dev === undefined)) {
    throw routeError(dst, 'onlink needs both a gateway and a device');
  }
  const scope = route.scope ?? defaultScope(type, via);
  if (route.scope !== undefined && !Object.hasOwn(ROUTE_SCOPES, scope)) {
    throw routeError(dst, `unknown scope "${scope}"`);
  }
  const metric = route.metric ?? 0;
  if (route.metric !== undefined && !isUint(metric, 0xffffffff)) throw routeError(dst, `bad metric ${metric}`);
  if (!isRouteProtocol(protocol)) throw routeError(dst, `bad protocol ${protocol}`);
  if (mtu !== undefined && !(isUint(mtu, 0xffffffff) && mtu >= 68)) throw routeError(dst, `bad mtu ${mtu}`);
  // The key order of trustedRoute: one hidden class for all canonical routes.
  return { dst, type, dev, via, onlink, scope, src, metric, protocol, mtu };
}

/**
 * Whether `spec` (with `route`'s protocol) canonicalises to `route`, checked without canonicalising: a cheap way to
 * find an unchanged route when a whole desired set is given again. False for other spellings of the same route.
 */
export function specMatches(spec: RouteSpec, route: CanonicalRoute): boolean {
  return (
    spec.dst === route.dst &&
    (spec.type ?? 'unicast') === route.type &&
    spec.dev === route.dev &&
    spec.via === route.via &&
    (spec.onlink ?? false) === route.onlink &&
    (spec.scope ?? defaultScope(route.type, route.via)) === route.scope &&
    spec.src === route.src &&
    (spec.metric ?? 0) === route.metric &&
    (spec.protocol ?? route.protocol) === route.protocol &&
    spec.mtu === route.mtu
  );
}

/**
 * Copies fields that are canonical already (read from the kernel, or just validated) into the one key order all
 * canonical routes share, so they all have one hidden class. Validates nothing: the kernel can hold routes we would
 * refuse to write, e.g. a multipath route, which has no single device or gateway.
 */
export function trustedRoute(fields: CanonicalRoute): CanonicalRoute {
  return {
    dst: fields.dst,
    type: fields.type,
    dev: fields.dev,
    via: fields.via,
    onlink: fields.onlink,
    scope: fields.scope,
    src: fields.src,
    metric: fields.metric,
    protocol: fields.protocol,
    mtu: fields.mtu,
  };
}

export function sameRoute(a: CanonicalRoute, b: CanonicalRoute): boolean {
  return (
    a.dst === b.dst &&
    a.type === b.type &&
    a.dev === b.dev &&
    a.via === b.via &&
    a.onlink === b.onlink &&
    a.scope === b.scope &&
    a.src === b.src &&
    a.metric === b.metric &&
    a.protocol === b.protocol &&
    a.mtu === b.mtu
  );
}

/** The type with kernel number `n` (RTN_*), as `ip -N` prints it. */
export function routeTypeOfNumber(n: number): RouteType | undefined {
  return ROUTE_TYPES[n];
}

/**
 * The scope with kernel number `n` (RT_SCOPE_*). Numbers without a name (nothing tabby writes) read as "nowhere", so
 * such a route differs from any route we want with a named scope and gets rewritten.
 */
export function routeScopeOfNumber(n: number): RouteScope {
  return SCOPE_BY_NUMBER.get(n) ?? 'nowhere';
}

/** A table option as its number: "main" (or nothing) is 254. */
export function tableNumber(table: number | 'main' | undefined): number {
  if (table === undefined || table === 'main') return MAIN_TABLE;
  if (!isUint(table, 0xffffffff) || table === 0) throw new Error(`bad route table ${table}: expected 1 to 4294967295`);
  return table;
}
