// WorkloadEndpoint writes for the CNI plugin, the same whether tabby-node does them (node/ipam-server.ts) or the
// plugin itself (cni/direct.ts): create-or-replace on ADD, and on DEL a delete that spares an endpoint a newer
// sandbox of the same pod has written under the same name meanwhile. An endpoint's namespace profile
// (`kns.<namespace>`) is created with it when missing, as Calico's controllers keep one per namespace: it lets the
// namespace's pods talk until a policy selects them (an endpoint without a profile is denied everything).
import {
  DatastoreError,
  DocumentRejected,
  isDatastoreError,
  type KindInfo,
  kindByAlias,
  type Resource,
  type ResourceClient,
} from '../datastore';
import type { EndpointDeletion } from './node-api';

/** A delete that lost a race with another write gives up after this many reads. */
const DELETE_ATTEMPTS = 3;

export class WorkloadEndpointStore {
  private readonly kind: KindInfo = kindByAlias('workloadendpoint')!;
  private readonly profileKind: KindInfo = kindByAlias('profile')!;
  /** Namespace profiles seen to exist: a long-lived store (tabby-node's) reads each once, not once per pod. */
  private readonly knownProfiles = new Set<string>();

  constructor(private readonly client: ResourceClient) {}

  /**
   * Creates or replaces the endpoint; anything but a valid WorkloadEndpoint is refused with a DatastoreError
   * `Invalid` naming the field at fault.
   */
  async apply(endpoint: Resource): Promise<Resource> {
    if (endpoint?.kind !== this.kind.kind) {
      throw new DatastoreError('Invalid', `expected a ${this.kind.kind}, got ${JSON.stringify(endpoint?.kind)}`);
    }
    try {
      await this.ensureNamespaceProfile(endpoint);
      return await this.client.apply(endpoint);
    } catch (err) {
      if (!(err instanceof DocumentRejected)) throw err;
      throw isDatastoreError(err.cause) ? err.cause : new DatastoreError('Invalid', err.message);
    }
  }

  /** Creates `kns.<namespace>` as Calico's namespace controller writes it, unless it exists (it is never changed). */
  private async ensureNamespaceProfile(endpoint: Resource): Promise<void> {
    const namespace = endpoint.metadata.namespace;
    const profiles = (endpoint.spec as { profiles?: string[] } | undefined)?.profiles ?? [];
    const name = `kns.${namespace}`;
    if (!namespace || !profiles.includes(name) || this.knownProfiles.has(name)) return;
    try {
      await this.client.get(this.profileKind, name);
      this.knownProfiles.add(name);
      return;
    } catch (err) {
      if (!isDatastoreError(err, 'NotFound')) throw err;
    }
    const profile: Resource = {
      apiVersion: this.profileKind.apiVersion,
      kind: this.profileKind.kind,
      metadata: { name },
      spec: {
        ingress: [{ action: 'Allow' }],
        egress: [{ action: 'Allow' }],
        labelsToApply: { 'pcns.projectcalico.org/name': namespace },
      },
    };
    try {
      await this.client.create(profile);
    } catch (err) {
      // Another ADD of the same namespace created it first.
      if (!isDatastoreError(err instanceof DocumentRejected ? err.cause : err, 'AlreadyExists')) throw err;
    }
    this.knownProfiles.add(name);
  }

  async get(namespace: string, name: string): Promise<Resource | undefined> {
    try {
      return await this.client.get(this.kind, name, namespace);
    } catch (err) {
      if (isDatastoreError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** Deletes the endpoint unless it names another container (an empty containerId matches any). */
  async delete(namespace: string, name: string, containerId: string): Promise<EndpointDeletion> {
    for (let attempt = 1; ; attempt++) {
      const existing = await this.get(namespace, name);
      if (!existing) return 'absent';
      const owner = (existing.spec as { containerID?: string } | undefined)?.containerID;
      if (owner && containerId && owner !== containerId) return 'another-container';
      try {
        // Only the version just checked: a write in between (a new sandbox's ADD) makes this fail and look again.
        await this.client.delete(this.kind, name, namespace, existing.metadata.resourceVersion);
        return 'deleted';
      } catch (err) {
        if (isDatastoreError(err, 'NotFound')) return 'absent';
        if (!isDatastoreError(err, 'Conflict') || attempt === DELETE_ATTEMPTS) throw err;
      }
    }
  }
}
