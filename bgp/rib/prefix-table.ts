// Per-prefix storage of the RIBs. An IPv4 prefix key (address * 64 + length) is above 2^31 for almost every
// prefix, so in a Map<number, V> V8 boxes each key as a heap number and hashes it slowly: measured here, a Map
// costs ~45 bytes and ~300 ns per entry. Ipv4PrefixTable keeps key and value side by side in one Float64Array
// (open addressing, linear probing): 16 bytes per slot, one cache miss per lookup, nothing for the garbage
// collector to trace. Values are numbers (the RIB stores path ids). Queues of prefixes likewise go into
// chunks of Float64Array rather than growing JavaScript arrays.

import { AFI_IPV4, type Ipv4PrefixKey, SAFI_UNICAST } from '../packet/types';

/** A map from prefix to number: what the RIBs need, so another address family can bring its own key type. */
export interface PrefixIndex<K> {
  readonly size: number;
  get(prefix: K): number | undefined;
  /** Stores the value and returns the one it replaced. */
  set(prefix: K, value: number): number | undefined;
  /** Removes the entry and returns its value. */
  delete(prefix: K): number | undefined;
  forEach(visit: (value: number, prefix: K) => void): void;
  /** Gives back memory after removals; called between batches, never during a walk. */
  compact(): void;
}

/** An append-only sequence of prefixes. */
export interface PrefixList<K> {
  readonly length: number;
  push(prefix: K): void;
  at(index: number): K;
}

/** An address family as the RIB sees it: its AFI/SAFI and how to store things by its prefix keys. */
export interface AddressFamily<K> {
  readonly afi: number;
  readonly safi: number;
  newIndex(): PrefixIndex<K>;
  newList(): PrefixList<K>;
}

/** Keys are stored plus one, so 0 (what a new Float64Array holds) marks an empty slot: no fill needed. */
const EMPTY = 0;
const MIN_CAPACITY = 16;
/** Fibonacci hashing: the top bits of key * 2^32/φ spread consecutive prefixes evenly over the slots. */
const GOLDEN = 0x9e3779b1;

export class Ipv4PrefixTable implements PrefixIndex<Ipv4PrefixKey> {
  size = 0;
  /** Slot i: stored key at 2i, value at 2i + 1. */
  private slots: Float64Array;
  private mask: number;
  private shift: number;

  constructor(capacity = MIN_CAPACITY) {
    const count = Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(capacity)));
    this.slots = new Float64Array(2 * count);
    this.mask = count - 1;
    this.shift = 32 - Math.log2(count);
  }

  get(prefix: Ipv4PrefixKey): number | undefined {
    const stored = prefix + 1;
    const slots = this.slots;
    for (let i = this.home(stored); ; i = (i + 1) & this.mask) {
      const key = slots[2 * i];
      if (key === stored) return slots[2 * i + 1];
      if (key === EMPTY) return undefined;
    }
  }

  set(prefix: Ipv4PrefixKey, value: number): number | undefined {
    const stored = prefix + 1;
    let slots = this.slots;
    let i = this.home(stored);
    for (; ; i = (i + 1) & this.mask) {
      const key = slots[2 * i];
      if (key === stored) {
        const previous = slots[2 * i + 1];
        slots[2 * i + 1] = value;
        return previous;
      }
      if (key === EMPTY) break;
    }
    // Grow at 3/4 load: linear probing stays short below that.
    const capacity = this.mask + 1;
    if ((this.size + 1) * 4 > capacity * 3) {
      this.resize(2 * capacity);
      slots = this.slots;
      i = this.emptySlot(stored);
    }
    slots[2 * i] = stored;
    slots[2 * i + 1] = value;
    this.size++;
    return undefined;
  }

  delete(prefix: Ipv4PrefixKey): number | undefined {
    const stored = prefix + 1;
    const slots = this.slots;
    const mask = this.mask;
    let hole = this.home(stored);
    for (; ; hole = (hole + 1) & mask) {
      const key = slots[2 * hole];
      if (key === stored) break;
      if (key === EMPTY) return undefined;
    }
    const removed = slots[2 * hole + 1];
    // Backward-shift deletion: move later entries of the probe run into the hole, so no tombstones pile up.
    for (let i = (hole + 1) & mask; slots[2 * i] !== EMPTY; i = (i + 1) & mask) {
      const home = this.home(slots[2 * i]);
      const stays = hole <= i ? hole < home && home <= i : hole < home || home <= i;
      if (!stays) {
        slots[2 * hole] = slots[2 * i];
        slots[2 * hole + 1] = slots[2 * i + 1];
        hole = i;
      }
    }
    slots[2 * hole] = EMPTY;
    this.size--;
    // No shrinking here: a bulk removal (a peer's whole table) deletes in slot order, and halving the table in the
    // middle of that packs the survivors into one long probe run that every later delete walks (quadratic).
    return removed;
  }

  compact(): void {
    const capacity = this.mask + 1;
    if (this.size * 8 >= capacity || capacity <= MIN_CAPACITY) return;
    this.resize(Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(this.size * 2 + 1))));
  }

  forEach(visit: (value: number, prefix: Ipv4PrefixKey) => void): void {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i += 2) {
      if (slots[i] !== EMPTY) visit(slots[i + 1], slots[i] - 1);
    }
  }

  private home(stored: number): number {
    // stored | 0 is its low 32 bits; the high bits (address top 6 bits) are folded in before the multiply.
    return Math.imul((stored | 0) ^ Math.imul((stored / 4294967296) | 0, GOLDEN), GOLDEN) >>> this.shift;
  }

  private emptySlot(stored: number): number {
    let i = this.home(stored);
    while (this.slots[2 * i] !== EMPTY) i = (i + 1) & this.mask;
    return i;
  }

  private resize(count: number): void {
    const old = this.slots;
    this.slots = new Float64Array(2 * count);
    this.mask = count - 1;
    this.shift = 32 - Math.log2(count);
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] === EMPTY) continue;
      const i = this.emptySlot(old[j]);
      this.slots[2 * i] = old[j];
      this.slots[2 * i + 1] = old[j + 1];
    }
  }
}

const CHUNK_BITS = 14;
const CHUNK_SIZE = 1 << CHUNK_BITS;
const FIRST_CHUNK_SIZE = 64;

/** IPv4 prefix keys in fixed chunks: appending never copies, and the keys stay off the JavaScript heap. */
export class Ipv4PrefixList implements PrefixList<Ipv4PrefixKey> {
  length = 0;
  private readonly chunks: Float64Array[] = [];
  private last = new Float64Array(0);

  push(prefix: Ipv4PrefixKey): void {
    const offset = this.length & (CHUNK_SIZE - 1);
    if (offset === 0) {
      // Most lists stay short (one UPDATE's worth, queued for each of a reflector's clients): the first chunk starts
      // small and grows; later ones are full size.
      this.last = new Float64Array(this.chunks.length === 0 ? FIRST_CHUNK_SIZE : CHUNK_SIZE);
      this.chunks.push(this.last);
    } else if (offset === this.last.length) {
      const grown = new Float64Array(Math.min(CHUNK_SIZE, this.last.length * 4));
      grown.set(this.last);
      this.last = grown;
      this.chunks[this.chunks.length - 1] = grown;
    }
    this.last[offset] = prefix;
    this.length++;
  }

  at(index: number): Ipv4PrefixKey {
    return this.chunks[index >>> CHUNK_BITS][index & (CHUNK_SIZE - 1)];
  }
}

export const IPV4_UNICAST: AddressFamily<Ipv4PrefixKey> = {
  afi: AFI_IPV4,
  safi: SAFI_UNICAST,
  newIndex: () => new Ipv4PrefixTable(),
  newList: () => new Ipv4PrefixList(),
};
