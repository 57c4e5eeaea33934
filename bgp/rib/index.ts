// The RIBs and the decision process: pure, synchronous, sized for a million prefixes.

export { AdjRibIn, inboundRejection, type RibInContext } from './adj-rib-in';
export {
  AdjRibOut,
  type ExportContext,
  type OutboundAnnouncement,
  type OutboundBatch,
  UpdateGroup,
} from './adj-rib-out';
export { type AttributeEncoder, AttrSet, AttrSetTable, hashBytes } from './attrs';
export { BestPathChanges, BestPathRuns } from './changes';
export { bestIndex, comparePaths } from './decision';
export {
  type ExportTarget,
  exportAttributes,
  exportGroupKey,
  exportTarget,
  NO_ADVERTISE,
  NO_EXPORT,
  NO_EXPORT_SUBCONFED,
  prependAs,
} from './export';
export { type BestPathSink, LocRib } from './loc-rib';
export { asPathLength, DEFAULT_LOCAL_PREF, Path, PathRegistry, type RejectReason } from './path';
export { ipv4ToNumber, LOCAL_PEER_ID, type LocalIdentity, Peer, type PeerInfo } from './peer';
export {
  type AddressFamily,
  IPV4_UNICAST,
  Ipv4PrefixList,
  Ipv4PrefixTable,
  type PrefixIndex,
  type PrefixList,
} from './prefix-table';
export { type OriginateOptions, type PeerCounters, Rib, type RibCounters, type RibOptions } from './rib';
