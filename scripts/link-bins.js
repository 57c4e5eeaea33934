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

for (const [exe, entry] of Object.entries(EXECUTABLES)) {
  if (!fs.existsSync(path.join(dist, entry))) continue;
  const target = path.join(dist, exe);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // Launchers sit one level below dist/, so the entry point is always ../<entry>.
  fs.writeFileSync(
    target,
    `#!/usr/bin/env node\n'use strict';\nrequire('../${entry}').main(process.argv.slice(2));\n`,
    {
      mode: 0o755,
    },
  );
}
