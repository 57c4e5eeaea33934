#!/usr/bin/env node
// `npm run demo` (CONTRACT §1): the demo is TypeScript in demo/, compiled to dist/demo/main.js by `npm run build`.
const fs = require('node:fs');
const path = require('node:path');

const entry = path.join(__dirname, '..', 'dist', 'demo', 'main.js');
if (!fs.existsSync(entry)) {
  console.error(`demo: ${entry} is missing: run npm run build first`);
  process.exit(1);
}
require(entry).main(process.argv.slice(2));
