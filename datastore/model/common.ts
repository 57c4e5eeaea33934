// Schema building blocks shared by the kinds: metadata, int-or-string values, durations and policy rules.
// Objects are closed (additionalProperties: false) because calicoctl decodes strictly: an unknown or
// misspelt field is an error, not something silently dropped. Value rules a JSON schema cannot state well
// (CIDRs, selectors, cross-field rules) are checked in validate*.ts.
import { type SchemaOptions, type Static, type TLiteral, type TProperties, type TUnion, Type } from '@sinclair/typebox';
import { GO_DURATION_PATTERN } from './duration';

/** A closed object: properties not listed are rejected. */
export function Struct<T extends TProperties>(properties: T, options: SchemaOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

/** One of a fixed set of strings (a Go string enum), keeping the literal types for Static<>. */
export function OneOf<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as unknown as TUnion<Literals<T>>;
}

export const StringMap = (options: SchemaOptions = {}) => Type.Record(Type.String(), Type.String(), options);

/** Go's numorstring types (and Kubernetes' IntOrString) accept either a JSON number or a string. */
export const IntOrString = (options: SchemaOptions = {}) => Type.Union([Type.Integer(), Type.String()], options);

export const AsNumber = (options: SchemaOptions = {}) =>
  IntOrString({
    description: 'An AS number: 0-4294967295, or dotted "high.low" (e.g. "1.10")',
    errorMessage: 'must be an AS number (integer or dotted "high.low")',
    ...options,
  });

export const Port = () =>
  IntOrString({
    description: 'A port (80), a range ("1000:2000") or a named port ("http")',
    errorMessage: 'must be a port number, a "min:max" range or a port name',
  });

export const Protocol = (options: SchemaOptions = {}) =>
  IntOrString({
    description: 'TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite, or an IP protocol number 1-255',
    errorMessage: 'must be a protocol name or number',
    ...options,
  });

/** A Go duration (metav1.Duration), e.g. "90s", "1m30s". */
export const Duration = (options: SchemaOptions = {}) =>
  Type.String({
    pattern: GO_DURATION_PATTERN,
    description: 'A Go duration such as "90s", "1m30s" or "1.5h"',
    errorMessage: 'must be a duration such as "90s", "1m30s" or "1.5h"',
    ...options,
  });

export const SelectorText = (options: SchemaOptions = {}) =>
  Type.String({ maxLength: 1024, description: 'A Calico selector expression', ...options });

const OwnerReferenceSchema = Struct({
  apiVersion: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  uid: Type.String(),
  controller: Type.Optional(Type.Boolean()),
  blockOwnerDeletion: Type.Optional(Type.Boolean()),
});

/** Kubernetes ObjectMeta, as Calico's v3 types embed it. */
export const ObjectMetaSchema = Struct({
  name: Type.String(),
  generateName: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  selfLink: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  generation: Type.Optional(Type.Integer()),
  creationTimestamp: Type.Optional(Type.String()),
  deletionTimestamp: Type.Optional(Type.String()),
  deletionGracePeriodSeconds: Type.Optional(Type.Integer()),
  labels: Type.Optional(StringMap()),
  annotations: Type.Optional(StringMap()),
  ownerReferences: Type.Optional(Type.Array(OwnerReferenceSchema)),
  finalizers: Type.Optional(Type.Array(Type.String())),
  // Written by Kubernetes' server-side apply; kept so `kubectl get -o yaml` output can be re-applied.
  managedFields: Type.Optional(Type.Array(Type.Object({}))),
});

/** metav1.Condition, used in status. */
export const ConditionSchema = Struct({
  type: Type.String(),
  status: OneOf(['True', 'False', 'Unknown']),
  observedGeneration: Type.Optional(Type.Integer()),
  lastTransitionTime: Type.String(),
  reason: Type.String(),
  message: Type.String(),
});

/** A BGP password from a Kubernetes secret (core/v1 SecretKeySelector). */
export const BGPPasswordSchema = Struct({
  secretKeyRef: Type.Optional(
    Struct({
      name: Type.Optional(Type.String()),
      key: Type.String(),
      optional: Type.Optional(Type.Boolean()),
    }),
  ),
});

// ---- Policy rules (Rule, EntityRule and friends), shared by NetworkPolicy, GlobalNetworkPolicy and Profile.

const ACTIONS = ['Allow', 'Deny', 'Log', 'Pass'] as const;
export const POLICY_TYPES = ['Ingress', 'Egress'] as const;

const ICMPFieldsSchema = Struct({
  type: Type.Optional(Type.Integer({ minimum: 0, maximum: 254 })),
  code: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
});

const EntityRuleSchema = Struct({
  nets: Type.Optional(Type.Array(Type.String(), { maxItems: 256 })),
  selector: Type.Optional(SelectorText()),
  namespaceSelector: Type.Optional(SelectorText()),
  services: Type.Optional(
    Struct({
      name: Type.Optional(Type.String({ maxLength: 253 })),
      namespace: Type.Optional(Type.String({ maxLength: 253 })),
    }),
  ),
  ports: Type.Optional(Type.Array(Port(), { maxItems: 50 })),
  notNets: Type.Optional(Type.Array(Type.String(), { maxItems: 256 })),
  notSelector: Type.Optional(SelectorText()),
  notPorts: Type.Optional(Type.Array(Port(), { maxItems: 50 })),
  serviceAccounts: Type.Optional(
    Struct({
      names: Type.Optional(Type.Array(Type.String())),
      selector: Type.Optional(SelectorText()),
    }),
  ),
});

const HTTPMatchSchema = Struct({
  methods: Type.Optional(Type.Array(Type.String(), { maxItems: 20 })),
  paths: Type.Optional(
    Type.Array(
      Struct({
        exact: Type.Optional(Type.String({ maxLength: 1024 })),
        prefix: Type.Optional(Type.String({ maxLength: 1024 })),
      }),
      { maxItems: 20 },
    ),
  ),
});

export const RuleSchema = Struct({
  action: OneOf(ACTIONS),
  ipVersion: Type.Optional(Type.Union([Type.Literal(4), Type.Literal(6)])),
  protocol: Type.Optional(Protocol()),
  icmp: Type.Optional(ICMPFieldsSchema),
  notProtocol: Type.Optional(Protocol()),
  notICMP: Type.Optional(ICMPFieldsSchema),
  source: Type.Optional(EntityRuleSchema),
  destination: Type.Optional(EntityRuleSchema),
  http: Type.Optional(HTTPMatchSchema),
  metadata: Type.Optional(Struct({ annotations: Type.Optional(StringMap()) })),
});

export type Rule = Static<typeof RuleSchema>;
export type EntityRule = Static<typeof EntityRuleSchema>;
