#!/usr/bin/env node
// Runs every compiled test file with node's own test runner, so its summary shows what ran.
// TABBY_TEST_FILTER=substring limits the files (e.g. TABBY_TEST_FILTER=unit/ for the root-free ones).
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', 'dist', 'test');
const filter = process.env.TABBY_TEST_FILTER ?? '';

function findTests(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (entry.name.endsWith('.test.js') && p.includes(filter)) out.push(p);
  }
  return out.sort();
}

const files = findTests(root);
if (files.length === 0) {
  console.error(`run-tests: no test files under ${root} matching "${filter}"`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=2', ...process.argv.slice(2), ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
