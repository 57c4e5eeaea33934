// The policy module's public API. Selector language: Calico v3's, with the same canonical text and IP set ids.
export type {
  AllNode,
  BooleanNode,
  ComparisonKind,
  ComparisonNode,
  GlobalNode,
  HasNode,
  NotNode,
  SelectorNode,
  SetMembershipNode,
} from './selector/ast';
export { SelectorParseError } from './selector/errors';
export type { LabelPredicate, Labels } from './selector/evaluate';
export {
  IPV4_MAIN_IP_SET_NAME_PREFIX,
  ipSetNameForId,
  MAX_IP_SET_NAME_LENGTH,
  makeUniqueId,
  SELECTOR_IP_SET_ID_PREFIX,
  selectorIpSetId,
} from './selector/ipset';
export { parseSelector, Selector, validateSelector } from './selector/selector';
