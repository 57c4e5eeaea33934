#!/usr/bin/env node
// `npm run demo` will bring up a multi-node fabric with a top-of-rack router (CONTRACT §1). The parts it needs
// (tabby-node, the CNI plugin, the BGP speaker) are not built yet, so it says so rather than pretend.
console.error('demo: not available yet: it needs tabby-node, the CNI plugin and the BGP speaker (issues 3-6)');
process.exit(1);
