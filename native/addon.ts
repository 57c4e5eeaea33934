// Loading tabby's one native addon (native/src, built by node-gyp into native/build/Release). Every part of tabby
// that needs it (TCP-MD5 sockets, the userspace IPIP datapath) goes through here.
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Where node-gyp builds the addon, seen from this module: it runs compiled from dist/native/, or from native/
 * itself when loaded from source.
 */
const ADDON_FILES = [
  path.resolve(__dirname, '..', '..', 'native', 'build', 'Release', 'tabby_native.node'),
  path.resolve(__dirname, 'build', 'Release', 'tabby_native.node'),
];

let loaded: Record<string, unknown> | Error | undefined;

/** The addon's exports, or an Error saying why it is missing or does not load. */
export function loadNativeAddon(): Record<string, unknown> | Error {
  if (loaded !== undefined) return loaded;
  const file = ADDON_FILES.find((candidate) => fs.existsSync(candidate));
  if (file === undefined) {
    loaded = new Error(`tabby's native addon is not built (no ${ADDON_FILES.join(' or ')}); run npm run build`);
    return loaded;
  }
  try {
    loaded = require(file) as Record<string, unknown>;
  } catch (err) {
    loaded = new Error(`tabby's native addon ${file} does not load: ${(err as Error).message}`);
  }
  return loaded;
}
