// Resource validation with Calico's rules: first the document's shape (its kind's schema: types, enums and no
// unknown fields), then metadata, then the kind's own value rules. The first problem found is thrown as a
// ValidationError naming the object and the field.
import { KINDS, type KindInfo, kindId, kindOf } from '../kinds';
import type { ObjectMeta, Resource } from '../resource';
import { checkBGPConfiguration, checkBGPPeer, checkCalicoNodeStatus, checkNode } from './check-bgp';
import { checkHostEndpoint, checkNetworkSet, checkWorkloadEndpoint } from './check-endpoints';
import { checkFelixConfiguration } from './check-felix';
import { checkIPAMConfiguration, checkIPPool, checkIPPoolChange } from './check-ipam';
import { checkKubernetesNetworkPolicy } from './check-k8s';
import { checkGlobalNetworkPolicy, checkNetworkPolicy, checkProfile, checkTier } from './check-policy';
import { Checker, type Doc } from './checker';
import { type Subject, show } from './errors';
import {
  checkDns1123Label,
  checkDns1123Subdomain,
  checkGlobalNetworkPolicyName,
  checkNetworkPolicyName,
} from './names';
import { checkStructure } from './structure';
import type { IPPoolSpec } from './types';

// A kind's rules take its document with the spec type of that kind; `never` lets each be registered here.
type KindCheck = (c: Checker, doc: Doc<never>) => void;

const CHECKS_BY_KIND: Record<string, KindCheck> = {
  'projectcalico.org/IPPool': checkIPPool,
  'projectcalico.org/BGPPeer': checkBGPPeer,
  'projectcalico.org/BGPConfiguration': checkBGPConfiguration,
  'projectcalico.org/FelixConfiguration': checkFelixConfiguration,
  'projectcalico.org/Node': checkNode,
  'projectcalico.org/WorkloadEndpoint': checkWorkloadEndpoint,
  'projectcalico.org/HostEndpoint': checkHostEndpoint,
  'projectcalico.org/NetworkPolicy': checkNetworkPolicy,
  'projectcalico.org/GlobalNetworkPolicy': checkGlobalNetworkPolicy,
  'projectcalico.org/NetworkSet': checkNetworkSet,
  'projectcalico.org/GlobalNetworkSet': checkNetworkSet,
  'projectcalico.org/Profile': checkProfile,
  'projectcalico.org/IPAMConfiguration': checkIPAMConfiguration,
  'projectcalico.org/Tier': checkTier,
  'projectcalico.org/CalicoNodeStatus': checkCalicoNodeStatus,
  'networking.k8s.io/NetworkPolicy': checkKubernetesNetworkPolicy,
};

// Names are DNS-1123 subdomains, except where Calico is stricter: tiers appear inside other names, so they are
// single labels; policy names allow at most one dot (outside the prefixes of converted Kubernetes policies).
const NAME_RULES: Record<string, (name: string) => string | undefined> = {
  'projectcalico.org/Tier': checkDns1123Label,
  'projectcalico.org/NetworkPolicy': checkNetworkPolicyName,
  'projectcalico.org/GlobalNetworkPolicy': checkGlobalNetworkPolicyName,
};

/** Who a document is, as far as it says, for error messages — even when it is malformed. */
function subjectOf(r: unknown): Subject {
  const doc = (typeof r === 'object' && r !== null ? r : {}) as Partial<Resource>;
  const metadata = (
    typeof doc.metadata === 'object' && doc.metadata !== null ? doc.metadata : {}
  ) as Partial<ObjectMeta>;
  const subject: Subject = {
    kind: typeof doc.kind === 'string' ? doc.kind : 'Resource',
    name: typeof metadata.name === 'string' ? metadata.name : '',
  };
  if (typeof metadata.namespace === 'string' && metadata.namespace) subject.namespace = metadata.namespace;
  return subject;
}

function unknownKindDetail(apiVersion: unknown, kind: unknown): string {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !apiVersion || !kind) {
    return 'apiVersion and kind are required';
  }
  const served = KINDS.filter((k) => k.kind === kind).map((k) => k.apiVersion);
  if (served.length > 0) return `kind ${kind} has apiVersion ${served.join(' or ')}, not ${show(apiVersion)}`;
  return `unknown kind ${show(kind)} in apiVersion ${show(apiVersion)}`;
}

/** The document's kind, and a Checker reporting against it; throws for a kind tabby does not know. */
function identify(r: Resource): { kind: KindInfo; checker: Checker } {
  const checker: Checker = new Checker(subjectOf(r));
  const kind =
    typeof r?.apiVersion === 'string' && typeof r.kind === 'string' ? kindOf(r.apiVersion, r.kind) : undefined;
  if (kind === undefined) checker.fail('kind', unknownKindDetail(r?.apiVersion, r?.kind));
  return { kind, checker };
}

function checkMetadata(c: Checker, kind: KindInfo, metadata: ObjectMeta): void {
  if (metadata.name === '') c.fail('metadata.name', 'is required');
  c.check('metadata.name', (NAME_RULES[kindId(kind)] ?? checkDns1123Subdomain)(metadata.name));
  if (kind.namespaced) {
    if (!metadata.namespace) c.fail('metadata.namespace', `is required: ${kind.kind} is namespaced`);
    c.check('metadata.namespace', checkDns1123Label(metadata.namespace));
  } else if (metadata.namespace) {
    c.fail('metadata.namespace', `must not be set: ${kind.kind} is not namespaced`);
  }
  if (metadata.labels) c.labels('metadata.labels', metadata.labels);
  if (metadata.annotations) c.annotations('metadata.annotations', metadata.annotations);
}

function withSpec(r: Resource): Doc<never> {
  return { ...r, spec: r.spec ?? {} } as Doc<never>;
}

/** Throws a ValidationError for the first thing wrong with `r` on its own (shape, metadata, values). */
export function validateResource(r: Resource): void {
  const { kind, checker } = identify(r);
  const id = kindId(kind);
  const problem = checkStructure(id, r);
  if (problem) checker.fail(problem.field, problem.detail);
  checkMetadata(checker, kind, r.metadata);
  CHECKS_BY_KIND[id]?.(checker, withSpec(r));
}

/** Whether validateChange looks at the other objects of the kind (IP pools must not overlap): else no need to list them. */
export function checkedAgainstSiblings(kind: KindInfo): boolean {
  return kindId(kind) === 'projectcalico.org/IPPool';
}

export interface ChangeContext {
  /** The stored version of this object, when the write is an update. */
  existing?: Resource;
  /** The other stored objects of the same kind. */
  siblings: Resource[];
}

/**
 * Throws a ValidationError when writing `r` is wrong given what is stored: a change to a field Calico keeps
 * immutable, or an IP pool overlapping another. `r` is expected to have passed validateResource.
 */
export function validateChange(r: Resource, ctx: ChangeContext): void {
  const { kind, checker } = identify(r);
  if (checkedAgainstSiblings(kind)) {
    checkIPPoolChange(checker, withSpec(r) as Doc<IPPoolSpec>, ctx.existing, ctx.siblings);
  }
}
