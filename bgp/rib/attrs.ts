// Attribute sets, interned by their wire bytes (BIRD's rta cache, rt-attr.c): every distinct attribute content
// exists once, however many prefixes carry it. A full table from one peer holds a few thousand sets for a
// million prefixes; a feed where every UPDATE shares its attributes holds one.

import type { PathAttributes, SessionCodecContext } from '../packet/types';

/** The codec's encodeAttributes, injected: the RIB depends on no codec code, and tests can stand in for it. */
export type AttributeEncoder = (attributes: PathAttributes, ctx: SessionCodecContext) => Uint8Array;

export class AttrSet {
  /** Holders: each Path using the set and each update group's outgoing copy of it. At 0 the set is dropped. */
  refs = 0;

  constructor(
    /** The attribute bytes as on the wire (owned copy): outgoing UPDATEs send them as they are. */
    readonly raw: Uint8Array,
    readonly attributes: PathAttributes,
    /** Whether raw is in the 4-octet-AS dialect; equal bytes mean equal attributes only in the same dialect. */
    readonly fourOctetAs: boolean,
    readonly hash: number,
  ) {}
}

export class AttrSetTable {
  /** Sets by hash; the rare hash collision keeps an array. */
  private readonly byHash = new Map<number, AttrSet | AttrSet[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /**
   * The set with these bytes, created from (a copy of) them and the decoded attributes when new. The caller
   * retains it or passes it to dropIfUnused; a new set starts with no holders.
   */
  intern(raw: Uint8Array, attributes: PathAttributes, fourOctetAs = true): AttrSet {
    const hash = hashBytes(raw, fourOctetAs ? 1 : 0);
    const found = this.byHash.get(hash);
    if (found !== undefined) {
      for (const set of Array.isArray(found) ? found : [found]) {
        if (set.fourOctetAs === fourOctetAs && sameBytes(set.raw, raw)) return set;
      }
    }
    const set = new AttrSet(raw.slice(), attributes, fourOctetAs, hash);
    if (found === undefined) this.byHash.set(hash, set);
    else if (Array.isArray(found)) found.push(set);
    else this.byHash.set(hash, [found, set]);
    this.count++;
    return set;
  }

  retain(set: AttrSet): void {
    set.refs++;
  }

  release(set: AttrSet): void {
    if (--set.refs === 0) this.remove(set);
  }

  /** Drops a set that ended up with no holder (e.g. an UPDATE whose prefixes were all duplicates). */
  dropIfUnused(set: AttrSet): void {
    if (set.refs === 0) this.remove(set);
  }

  private remove(set: AttrSet): void {
    const found = this.byHash.get(set.hash);
    if (found === set) {
      this.byHash.delete(set.hash);
    } else if (Array.isArray(found) && found.includes(set)) {
      const rest = found.filter((other) => other !== set);
      this.byHash.set(set.hash, rest.length === 1 ? rest[0] : rest);
    } else {
      return; // already removed
    }
    this.count--;
  }
}

/** FNV-1a over the bytes, seeded with the dialect. Runs once per UPDATE, not per prefix. */
export function hashBytes(bytes: Uint8Array, seed: number): number {
  let hash = 0x811c9dc5 ^ seed;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  return hash >>> 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
