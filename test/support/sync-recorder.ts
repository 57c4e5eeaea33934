// A syncer consumer for tests: mirrors the datastore from the updates it is given and records every update,
// so a test can assert that the mirror equals the store and that no update came twice.
import type { Resource, SyncerCallbacks, SyncerUpdate, SyncStatus } from '../../datastore';

export class SyncRecorder implements SyncerCallbacks {
  readonly mirror = new Map<string, Resource>();
  readonly updates: SyncerUpdate[] = [];
  readonly statuses: SyncStatus[] = [];
  readonly problems: string[] = [];
  private waiters: (() => void)[] = [];

  static keyOf(r: Resource): string {
    return `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
  }

  onUpdates(updates: SyncerUpdate[]): void {
    for (const u of updates) {
      const key = SyncRecorder.keyOf(u.object);
      const had = this.mirror.has(key);
      if (u.type === 'ADDED' && had) this.problems.push(`ADDED twice: ${key}`);
      if (u.type !== 'ADDED' && !had) this.problems.push(`${u.type} of unknown: ${key}`);
      if (
        u.type === 'MODIFIED' &&
        this.mirror.get(key)?.metadata.resourceVersion === u.object.metadata.resourceVersion
      ) {
        this.problems.push(`MODIFIED repeated: ${key}@${u.object.metadata.resourceVersion}`);
      }
      if (u.type === 'DELETED') this.mirror.delete(key);
      else this.mirror.set(key, u.object);
      this.updates.push(u);
    }
    this.wake();
  }

  onStatus(status: SyncStatus): void {
    this.statuses.push(status);
    this.wake();
  }

  /** Resolves once the predicate holds, or rejects after the timeout with what was seen. */
  async until(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what}; statuses ${this.statuses.join(',')}; ${this.mirror.size} objects`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
