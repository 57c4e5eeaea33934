#!/usr/bin/env node
// Runs every compiled benchmark (dist/bench/**/*.bench.js) one after another; each prints its own table
// with the reference measured in the same run. Results are recorded by hand in bench/RESULTS.md.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', 'dist', 'bench');
const files = fs.existsSync(root)
  ? fs
      .readdirSync(root, { recursive: true })
      .filter((f) => String(f).endsWith('.bench.js'))
      .sort()
  : [];
if (files.length === 0) {
  console.log('run-bench: no benchmarks yet (bench/*.bench.ts)');
  process.exit(0);
}
let failed = 0;
for (const f of files) {
  console.log(`\n== ${f}`);
  const r = spawnSync(process.execPath, [path.join(root, String(f))], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
