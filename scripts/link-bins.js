#!/usr/bin/env node
// Writes the executables of CONTRACT §2 as small shebang launchers into dist/bin and dist/cni-bin.
// Each launcher requires the compiled entry point and calls its main(); a missing entry point is skipped,
// so executables appear as their components land.
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const EXECUTABLES = {
  'bin/tabbyctl': 'cli/main.js',
  'bin/tabby-node': 'node/main.js',
  'bin/tabby-bgp': 'bgp/main.js',
  'bin/tabby-apiserver': 'api/main.js',
  // cni-bin/tabby is the plugin's native front (cni/front/tabby.c, built by build-native.sh); it runs this one.
  'cni-bin/tabby-js': 'cni/main.js',
  'cni-bin/tabby-ipam': 'cni/ipam-main.js',
};

// V8 flags per executable. tabby-node is long-running and its live heap is small (about 25 MB with 1,000 endpoints):
// V8's default young generation (16 MB semi-spaces) costs it 15-20 MB of resident memory for nothing
// (bench/node-memory.bench.ts).
const NODE_FLAGS = { 'bin/tabby-node': ['--max-semi-space-size=2'] };

/** `env -S` splits the flags from the interpreter's name (a shebang line passes everything after it as one word). */
function shebang(flags) {
  return flags.length === 0 ? '#!/usr/bin/env node' : `#!/usr/bin/env -S node ${flags.join(' ')}`;
}

for (const [exe, entry] of Object.entries(EXECUTABLES)) {
  if (!fs.existsSync(path.join(dist, entry))) continue;
  const target = path.join(dist, exe);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // Launchers sit one level below dist/, so the entry point is always ../<entry>.
  fs.writeFileSync(
    target,
    `${shebang(NODE_FLAGS[exe] ?? [])}\n'use strict';\nrequire('../${entry}').main(process.argv.slice(2));\n`,
    {
      mode: 0o755,
    },
  );
}
