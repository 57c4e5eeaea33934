// The generic shape of every stored resource: Kubernetes-style type and object metadata around a kind's spec.
// Kind-specific spec types live in ./model; the datastore itself only needs this envelope.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  /** The etcd mod revision of the stored object, as a decimal string (as Calico and Kubernetes do). */
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Resource<Spec = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
}

/** Identifies one stored object. `namespace` is set only for namespaced kinds. */
export interface ResourceKey {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}
