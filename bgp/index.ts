// The BGP component: tabby's speaker (sessions, RIBs, export to peers and the kernel), its configuration, and
// Calico's peering model. tabby-node and tabby-bgp use this surface; the layers below are internal.
export {
  ConfigError,
  parseSpeakerConfig,
  readSpeakerConfig,
  type SpeakerConfig,
  type SpeakerPeerConfig,
} from './config';
export { type PeeringInput, type PeeringPlan, planPeering } from './peering';
export { BgpSpeaker, type PeerStatus, type SpeakerOptions, type SpeakerRoute, type SpeakerStatus } from './speaker';
