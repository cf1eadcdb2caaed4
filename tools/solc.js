#!/usr/bin/env node
// A native-solc look-alike built on solc-js: answers `--version` like solc does, and compiles
// `--standard-json` input from stdin to stdout. hedger's compiler calls it, and `make setup-brownie`
// puts a shim that runs it where py-solc-x (brownie) looks for a native solc (build/solcx/, see
// tools/brownie_env.py), since none can be downloaded here.
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const basePaths = [process.cwd()];
// --solc PACKAGE picks another solc-js from node_modules (an npm alias such as solc-0.6.6) for sources
// whose pragma pins an older compiler; the default is the project's solc.
let solcPackage = 'solc';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--base-path' || args[i] === '--include-path' || args[i] === '--allow-paths') {
    for (const p of String(args[i + 1] || '').split(',')) if (p) basePaths.push(path.resolve(p));
    i++;
  } else if (args[i] === '--solc') {
    solcPackage = String(args[i + 1] || 'solc');
    i++;
  }
}
const solc = require(path.join(__dirname, '..', 'node_modules', solcPackage));

function findImport(importPath) {
  for (const base of basePaths) {
    const candidate = path.resolve(base, importPath);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
  }
  return { error: `File not found: ${importPath} (searched ${basePaths.join(', ')})` };
}

if (args.includes('--version')) {
  const version = solc.version().replace('.Emscripten.clang', '.Linux.g++');
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${version}\n`);
} else if (args.includes('--standard-json')) {
  const input = fs.readFileSync(0, 'utf8');
  process.stdout.write(solc.compile(input, { import: findImport }));
} else {
  process.stderr.write('usage: solc.js --version | --standard-json [--base-path DIR] < input.json\n');
  process.exit(2);
}
