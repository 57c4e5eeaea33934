import { createHash } from 'node:crypto';

/** The kernel's limit on an ipset name (felix ipsets.MaxIPSetNameLength). */
export const MAX_IP_SET_NAME_LENGTH = 31;

/**
 * Prefix of felix's main IPv4 sets: "cali" + IP version + "0", the set-format version token that felix bumps when a
 * set's type changes (temporary sets use "t" instead).
 */
export const IPV4_MAIN_IP_SET_NAME_PREFIX = 'cali40';

/** Prefix of the ids of IP sets that hold the addresses of the endpoints a selector matches. */
export const SELECTOR_IP_SET_ID_PREFIX = 's';

/**
 * Calico's hash.MakeUniqueID: `<prefix>:` + unpadded base64url of SHA-224 over `<prefix>:<content>` (UTF-8),
 * so 38 characters after the prefix. Felix derives every IP set id this way ("s" selectors, "n" named ports).
 */
export function makeUniqueId(prefix: string, content: string): string {
  const digest = createHash('sha224').update(`${prefix}:${content}`, 'utf8').digest('base64url');
  return `${prefix}:${digest}`;
}

/** The IP set id felix gives a selector: its Selector.UniqueID(), computed from the canonical text. */
export function selectorIpSetId(canonical: string): string {
  return makeUniqueId(SELECTOR_IP_SET_ID_PREFIX, canonical);
}

/**
 * The kernel name of the main IPv4 set with this id (felix IPVersionConfig.NameForMainIPSet): prefix + id, cut to
 * the kernel's limit. Ids are hashes already, so the cut keeps as much of the hash as fits. Ids are ASCII
 * (base64url or fixed names such as "all-ipam-pools"), so characters and Go's bytes count alike.
 */
export function ipSetNameForId(id: string): string {
  return (IPV4_MAIN_IP_SET_NAME_PREFIX + id).slice(0, MAX_IP_SET_NAME_LENGTH);
}
