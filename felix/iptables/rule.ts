// The iptables rule model and its rendering, as Calico's felix renders rules (felix/iptables/renderer.go and
// actions.go): matches are iptables match text, actions a small closed set, and every rule we write carries a hash
// comment first, then the user's comments, then the match, then the action.

/** What a rule does with a packet it matches. */
export type Action =
  | { readonly kind: 'accept' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'return' }
  | { readonly kind: 'jump'; readonly target: string }
  | { readonly kind: 'goto'; readonly target: string }
  /** Sets the bits of `mask` to those of `mark`, leaving the other bits of the packet mark alone. */
  | { readonly kind: 'set-mark'; readonly mark: number; readonly mask: number }
  | { readonly kind: 'clear-mark'; readonly mask: number }
  | { readonly kind: 'masquerade' }
  | { readonly kind: 'log'; readonly prefix: string }
  | { readonly kind: 'reject'; readonly with?: string }
  | { readonly kind: 'no-track' }
  /** Any other target, written verbatim, e.g. `--jump CONNMARK --save-mark --mask 0xffffffff`. */
  | { readonly kind: 'fragment'; readonly text: string };

export interface Rule {
  /** iptables match text, e.g. `-i cali+ -m conntrack --ctstate INVALID`; empty matches every packet. */
  readonly match: string;
  readonly action: Action;
  /** Shown in iptables-save; characters a shell would not take literally become `_` (as Calico does). */
  readonly comment?: readonly string[];
}

export interface Chain {
  readonly name: string;
  readonly rules: readonly Rule[];
}

export const Actions = {
  accept: (): Action => ({ kind: 'accept' }),
  drop: (): Action => ({ kind: 'drop' }),
  return: (): Action => ({ kind: 'return' }),
  jump: (target: string): Action => ({ kind: 'jump', target }),
  goto: (target: string): Action => ({ kind: 'goto', target }),
  /** `mask` defaults to `mark` (Calico's SetMark: set exactly these bits). */
  setMark: (mark: number, mask: number = mark): Action => ({ kind: 'set-mark', mark, mask }),
  clearMark: (mask: number): Action => ({ kind: 'clear-mark', mask }),
  masquerade: (): Action => ({ kind: 'masquerade' }),
  log: (prefix: string): Action => ({ kind: 'log', prefix }),
  reject: (withType?: string): Action =>
    withType === undefined ? { kind: 'reject' } : { kind: 'reject', with: withType },
  noTrack: (): Action => ({ kind: 'no-track' }),
  fragment: (text: string): Action => ({ kind: 'fragment', text }),
} as const;

/** iptables refuses longer chain names (Calico's MaxChainNameLength). */
export const MAX_CHAIN_NAME_LENGTH = 28;

/** Longer user comments are cut, as Calico does (the kernel allows 256 bytes). */
const MAX_COMMENT_LENGTH = 256;

/** Characters a user comment cannot keep (Calico's shellUnsafe), each code point replaced by `_`. */
const COMMENT_UNSAFE = /[^\w @%+=:,./-]/gu;

/** Go's `%#x` of a uint32: `0x` and lowercase hex, `0x0` for zero. */
function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

export function renderAction(action: Action): string {
  switch (action.kind) {
    case 'accept':
      return '--jump ACCEPT';
    case 'drop':
      return '--jump DROP';
    case 'return':
      return '--jump RETURN';
    case 'jump':
      return `--jump ${action.target}`;
    case 'goto':
      return `--goto ${action.target}`;
    case 'set-mark':
      return `--jump MARK --set-mark ${hex(action.mark)}/${hex(action.mask)}`;
    case 'clear-mark':
      return `--jump MARK --set-mark 0/${hex(action.mask)}`;
    case 'masquerade':
      return '--jump MASQUERADE';
    case 'log':
      return `--jump LOG --log-prefix "${action.prefix}: " --log-level 5`;
    case 'reject':
      return action.with === undefined ? '--jump REJECT' : `--jump REJECT --reject-with ${action.with}`;
    case 'no-track':
      return '--jump NOTRACK';
    case 'fragment':
      return action.text;
  }
}

export function escapeComment(comment: string): string {
  return comment.replace(COMMENT_UNSAFE, '_').slice(0, MAX_COMMENT_LENGTH);
}

/**
 * The rule after its chain and hash comment: user comments, match, action, each left out when empty. Both the hash
 * and every line written for the rule are built from it.
 */
export function renderRuleBody(rule: Rule): string {
  const fragments = (rule.comment ?? []).map((comment) => `-m comment --comment "${escapeComment(comment)}"`);
  if (rule.match !== '') fragments.push(rule.match);
  const action = renderAction(rule.action);
  if (action !== '') fragments.push(action);
  return fragments.join(' ');
}

/** The rule as iptables takes it after `-A <chain>` (or `-I`, `-R <n>`, `-D`): hash comment first, then the body. */
export function renderRuleSpec(body: string, hashComment: string): string {
  return body === '' ? hashComment : `${hashComment} ${body}`;
}

/** `-m comment --comment "cali:<hash>"`. */
export function renderHashComment(hashPrefix: string, hash: string): string {
  return `-m comment --comment "${hashPrefix}${hash}"`;
}

/** What the hash of a rule is computed over: Calico's append line with `HASH` in place of the hash comment. */
export function renderRuleForHash(chainName: string, body: string): string {
  return body === '' ? `-A ${chainName} HASH` : `-A ${chainName} HASH ${body}`;
}

/**
 * Throws on a name iptables-restore would misread. Chain names travel inside restore lines: whitespace, quotes or a
 * line break would change what the line says.
 */
export function assertChainName(name: string): void {
  // `/`: Calico's policy chains are named after the policy's kind, namespace and name (cali-pi-np/<ns>/<name>).
  if (name.length === 0 || name.length > MAX_CHAIN_NAME_LENGTH || !/^[A-Za-z0-9_.+:/-]+$/.test(name)) {
    throw new Error(
      `bad iptables chain name "${name}": expected 1 to ${MAX_CHAIN_NAME_LENGTH} letters, digits or _ . + : / -`,
    );
  }
}

const LINE_BREAK = /[\r\n]/;

function assertOneLine(what: string, text: string, chainName: string, index: number): void {
  if (LINE_BREAK.test(text)) throw new Error(`chain ${chainName} rule ${index + 1}: ${what} contains a line break`);
}

function assertMark(what: string, value: number, chainName: string, index: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`chain ${chainName} rule ${index + 1}: ${what} ${value} is not a 32-bit unsigned integer`);
  }
}

/** Throws, naming the chain and rule, on a rule that cannot be written as one restore line. */
export function assertRule(rule: Rule, chainName: string, index: number): void {
  assertOneLine('match', rule.match, chainName, index);
  const action = rule.action;
  switch (action.kind) {
    case 'jump':
    case 'goto':
      assertChainName(action.target);
      break;
    case 'set-mark':
      assertMark('mark', action.mark, chainName, index);
      assertMark('mask', action.mask, chainName, index);
      break;
    case 'clear-mark':
      assertMark('mask', action.mask, chainName, index);
      break;
    case 'log':
      // The prefix is written inside double quotes.
      if (action.prefix.includes('"')) throw new Error(`chain ${chainName} rule ${index + 1}: log prefix contains "`);
      assertOneLine('log prefix', action.prefix, chainName, index);
      break;
    case 'reject':
      assertOneLine('reject type', action.with ?? '', chainName, index);
      break;
    case 'fragment':
      assertOneLine('action', action.text, chainName, index);
      break;
  }
}
