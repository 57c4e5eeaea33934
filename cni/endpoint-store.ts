// WorkloadEndpoint writes for the CNI plugin, the same whether tabby-node does them (node/ipam-server.ts) or the
// plugin itself (cni/direct.ts): create-or-replace on ADD, and on DEL a delete that spares an endpoint a newer
// sandbox of the same pod has written under the same name meanwhile.
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
      return await this.client.apply(endpoint);
    } catch (err) {
      if (!(err instanceof DocumentRejected)) throw err;
      throw isDatastoreError(err.cause) ? err.cause : new DatastoreError('Invalid', err.message);
    }
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
