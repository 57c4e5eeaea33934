// Reading our sets out of the kernel: one `ipset save` of everything, or, when that fails (a foreign set of a type
// revision this ipset binary cannot print: "Kernel and userspace incompatible"), one `ipset save` per set of ours
// so that a set it cannot list is rebuilt rather than the whole resync failing.
import { type IpsetBackend, IpsetError } from './backend';
import { isMainIpSetName, isOurIpSetName, isTempIpSetName } from './ipset';
import { isMissingSetError, parseIpsetSave, type SavedIpSet } from './save-format';

export interface KernelListing {
  /** Our main sets by name; 'unreadable' for one ipset could not list. */
  sets: Map<string, SavedIpSet | 'unreadable'>;
  /** Our temporary sets (their members do not matter: they are only ever destroyed). */
  temps: string[];
}

export async function readOurIpSets(backend: IpsetBackend): Promise<KernelListing> {
  let saved: Map<string, SavedIpSet>;
  try {
    saved = parseIpsetSave(await backend.saveAll(), isOurIpSetName);
  } catch (saveAllError) {
    let names: string[];
    try {
      names = await backend.listNames();
    } catch {
      throw saveAllError;
    }
    return readOneByOne(backend, names.filter(isOurIpSetName));
  }
  const listing: KernelListing = { sets: new Map(), temps: [] };
  for (const [name, set] of saved) {
    if (isTempIpSetName(name)) listing.temps.push(name);
    else listing.sets.set(name, set);
  }
  return listing;
}

async function readOneByOne(backend: IpsetBackend, names: string[]): Promise<KernelListing> {
  const listing: KernelListing = { sets: new Map(), temps: names.filter(isTempIpSetName) };
  for (const name of names.filter(isMainIpSetName)) {
    try {
      const set = parseIpsetSave(await backend.save(name), (listed) => listed === name).get(name);
      listing.sets.set(name, set ?? 'unreadable');
    } catch (err) {
      // Destroyed since it was listed: absent. Anything else: it must be rebuilt from scratch.
      if (!(err instanceof IpsetError && isMissingSetError(err.stderr))) listing.sets.set(name, 'unreadable');
    }
  }
  return listing;
}
