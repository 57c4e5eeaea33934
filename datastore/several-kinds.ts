// Several kinds read and followed as one: a list of each at one revision, and a watch per kind from there. A
// process then reads and is sent only the kinds it follows (not, say, every node's status reports), yet gets one
// consistent snapshot. Used by the Syncer and by tabby-apiserver's watch of several resources.
import type { ListResult, ResourceStore, Watch, WatchHandlers } from './backend';
import type { KindInfo } from './kinds';

/** Every object of these kinds (at least one), read at the revision of the first kind's list. */
export async function listKinds(store: ResourceStore, kinds: readonly KindInfo[]): Promise<ListResult> {
  const first = await store.list(kinds[0]);
  const rest = await Promise.all(
    kinds.slice(1).map((kind) => store.list(kind, undefined, { revision: first.revision })),
  );
  return { items: [first, ...rest].flatMap((l) => l.items), revision: first.revision };
}

/**
 * The changes of these kinds after a revision: each kind's in order, the kinds' streams interleaved. The first
 * error ends every watch and is reported once.
 */
export function watchKinds(
  store: ResourceStore,
  kinds: readonly KindInfo[],
  afterRevision: string,
  handlers: WatchHandlers,
): Watch {
  const watches: Watch[] = [];
  let ended = false;
  const closeAll = () => {
    ended = true;
    for (const w of watches.splice(0)) w.close();
  };
  for (const kind of kinds) {
    watches.push(
      store.watch(
        { kind, afterRevision },
        {
          onEvents: (events) => {
            if (!ended) handlers.onEvents(events);
          },
          onError: (err) => {
            if (ended) return;
            closeAll();
            handlers.onError(err);
          },
        },
      ),
    );
    // An error reported while this one opened: close it too, and open no more.
    if (ended) {
      closeAll();
      break;
    }
  }
  return { close: closeAll };
}
