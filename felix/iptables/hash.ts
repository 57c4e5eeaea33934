// Rule hashes exactly as Calico computes them (generictables.RuleHashes): SHA-224 chained from the chain name
// through every rule, so a hash names a rule at its place in its chain; base64url of the digest, first 16
// characters. They are written into each rule's comment and read back from iptables-save, so what is in the kernel is
// known without parsing the rules themselves.
import { hash } from 'node:crypto';
import { assertChainName, assertRule, type Chain, type Rule, renderRuleBody, renderRuleForHash } from './rule';

/** 16 base64 characters: 96 bits, Calico's compromise between rule length and collisions. */
export const HASH_LENGTH = 16;

/** Length of a SHA-224 digest. */
const DIGEST_BYTES = 28;

/** The digest bytes that encode to the first HASH_LENGTH base64 characters (4 characters per 3 bytes). */
const HASH_BYTES = (HASH_LENGTH / 4) * 3;

/** Where each digest input is assembled, grown when a rule does not fit. */
let scratch = Buffer.alloc(4096);

/** The hashes of rules whose bodies (renderRuleBody) are given, in chain `chainName`. */
export function hashRuleBodies(chainName: string, bodies: readonly string[]): string[] {
  // Each digest is fed the previous digest (at first, the digest of the chain name) and the rule as Calico renders it
  // for hashing (renderRuleForHash), assembled in one reused buffer and hashed in one call: a hash object per rule,
  // or a string per rule, costs about half as much again, mostly in garbage collection.
  let previous = hash('sha224', chainName, 'buffer');
  const head = Buffer.from(renderRuleForHash(chainName, ''));
  return bodies.map((body) => {
    // At most 3 bytes per UTF-16 code unit.
    const room = DIGEST_BYTES + head.length + 1 + 3 * body.length;
    if (room > scratch.length) scratch = Buffer.alloc(2 * room);
    previous.copy(scratch, 0);
    head.copy(scratch, DIGEST_BYTES);
    let end = DIGEST_BYTES + head.length;
    if (body !== '') {
      scratch[end++] = 0x20;
      end += scratch.write(body, end);
    }
    previous = hash('sha224', scratch.subarray(0, end), 'buffer');
    return previous.toString('base64url', 0, HASH_BYTES);
  });
}

export function ruleHashes(chainName: string, rules: readonly Rule[]): string[] {
  return hashRuleBodies(chainName, rules.map(renderRuleBody));
}

/**
 * A chain as it is written and compared: each rule's body (renderRuleBody), and the hashes, computed when first
 * asked for. Hashing is most of the cost of a big write; done late, it runs while iptables-restore is already
 * reading the first lines.
 */
export class RenderedChain {
  private hashesCache: string[] | undefined;

  constructor(
    readonly name: string,
    readonly bodies: readonly string[],
  ) {}

  get hashes(): readonly string[] {
    this.hashesCache ??= hashRuleBodies(this.name, this.bodies);
    return this.hashesCache;
  }
}

/** Validates and renders a chain; throws, naming the chain and rule, on what cannot be written. */
export function renderChain(chain: Chain): RenderedChain {
  assertChainName(chain.name);
  chain.rules.forEach((rule, index) => {
    assertRule(rule, chain.name, index);
  });
  return new RenderedChain(chain.name, chain.rules.map(renderRuleBody));
}

export function sameStrings(a: readonly (string | null)[], b: readonly (string | null)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
