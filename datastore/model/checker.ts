// The value checks the kinds share (addresses, selectors, labels, ports, ...). A Checker knows which object it
// is looking at, so every failure becomes a ValidationError naming that object and the field at fault.
import { validateSelector } from '../../policy';
import type { Resource } from '../resource';
import { fieldPath, type Subject, show, ValidationError } from './errors';
import { checkDns1123Subdomain, checkLabelValue, checkQualifiedName } from './names';
import {
  type Cidr,
  formatCidr,
  hasHostBits,
  type IpAddress,
  type IpVersion,
  maskCidr,
  parseCidr,
  parseCidrOrIp,
  parseIp,
} from './net';

/** A document whose structure has been checked, with its spec present (an absent spec reads as empty). */
export type Doc<Spec> = Resource<Spec> & { spec: Spec };

const MAX_ANNOTATIONS_BYTES = 256 * 1024;

export interface CidrRules {
  /** Accept a bare address as its /32 or /128 (Calico's ParseCIDROrIP). */
  allowBareIp?: boolean;
  /** Reject host bits ("10.0.0.1/24"): Calico's `net` validator and IP pools require a network address. */
  strict?: boolean;
  version?: IpVersion;
}

export class Checker {
  constructor(readonly subject: Subject) {}

  fail(field: string, detail: string): never {
    throw new ValidationError(this.subject, field, detail);
  }

  /** Reports `detail` at `field` when it is a string (the convention of the parse and check helpers). */
  check(field: string, problem: string | undefined): void {
    if (problem !== undefined) this.fail(field, problem);
  }

  /** A Calico selector. `global()` is only meaningful alone, and only in an entity rule's namespaceSelector. */
  selector(field: string, text: string, options: { globalAllowed?: boolean } = {}): void {
    const problem = validateSelector(text);
    if (problem !== undefined) this.fail(field, problem);
    if (!text.includes('global(')) return;
    if (!options.globalAllowed) this.fail(field, "global() may only be used in a rule's namespaceSelector");
    if (text.replace(/\s+/g, '') !== 'global()') this.fail(field, 'global() cannot be combined with other selectors');
  }

  ip(field: string, text: string, version?: IpVersion): IpAddress {
    const ip = parseIp(text);
    if (ip === undefined) this.fail(field, `invalid IP address ${show(text)}`);
    if (version !== undefined && ip.version !== version) {
      this.fail(field, `must be an IPv${version} address, got ${show(text)}`);
    }
    return ip;
  }

  cidr(field: string, text: string, rules: CidrRules = {}): Cidr {
    const cidr = rules.allowBareIp ? parseCidrOrIp(text) : parseCidr(text);
    if (cidr === undefined) {
      this.fail(field, `invalid CIDR ${show(text)}${rules.allowBareIp ? '' : ' (expected address/prefix-length)'}`);
    }
    if (rules.version !== undefined && cidr.version !== rules.version) {
      this.fail(field, `must be an IPv${rules.version} CIDR, got ${show(text)}`);
    }
    if (rules.strict && hasHostBits(cidr)) {
      this.fail(field, `${show(text)} has host bits set (did you mean ${formatCidr(maskCidr(cidr))}?)`);
    }
    return cidr;
  }

  /** A resource name that Calico's `name` validator accepts: a DNS-1123 subdomain. */
  name(field: string, text: string): void {
    this.check(field, checkDns1123Subdomain(text));
  }

  labels(field: string, labels: Record<string, string>): void {
    for (const [key, value] of Object.entries(labels)) {
      this.check(field, checkQualifiedName(key));
      this.check(fieldPath(field, key), checkLabelValue(value));
    }
  }

  /** Annotation keys are qualified names (compared in lower case); all of them together stay under 256 KiB. */
  annotations(field: string, annotations: Record<string, string>): void {
    let bytes = 0;
    for (const [key, value] of Object.entries(annotations)) {
      this.check(field, checkQualifiedName(key.toLowerCase()));
      bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
    }
    if (bytes > MAX_ANNOTATIONS_BYTES) {
      this.fail(field, `annotations total ${bytes} bytes, more than the limit of ${MAX_ANNOTATIONS_BYTES}`);
    }
  }

  /** The value a parser found, or a failure at `field` when the parser returned its reason for rejecting it. */
  parsed<T extends object | number>(field: string, result: T | string): T {
    if (typeof result === 'string') this.fail(field, result);
    return result;
  }

  /** A regular expression for Go's RE2; JavaScript's syntax agrees on everything Felix's patterns use. */
  regexp(field: string, text: string): void {
    try {
      new RegExp(text);
    } catch (error) {
      this.fail(field, `invalid regular expression ${show(text)}: ${(error as Error).message}`);
    }
  }

  /** A MAC address as Go's net.ParseMAC reads it: EUI-48, EUI-64 or 20-octet IPoIB, in ':', '-' or '.' form. */
  mac(field: string, text: string): void {
    const colonOrDash = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2})*$/.test(text);
    const octets = colonOrDash
      ? (text.length + 1) / 3
      : /^[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4})*$/.test(text)
        ? ((text.length + 1) / 5) * 2
        : 0;
    if (octets !== 6 && octets !== 8 && octets !== 20) this.fail(field, `invalid MAC address ${show(text)}`);
  }

  /** A list must not name the same value twice (Kubernetes' listType=set). */
  unique(field: string, values: readonly unknown[]): void {
    const seen = new Set<string>();
    values.forEach((value, i) => {
      const key = JSON.stringify(value);
      if (seen.has(key)) this.fail(`${field}[${i}]`, `duplicate value ${show(value)}`);
      seen.add(key);
    });
  }
}
