#!/usr/bin/env node
// Compiles zkinfer's contracts with the solc-js pinned in package.json.
//
//   node compile.cjs             compile src/*.sol, write artifacts/<Name>.json
//   node compile.cjs --check     compile and fail (exit 1) if artifacts/ differ
//   node compile.cjs --verifier  read a generated EVM verifier (Solidity) on stdin,
//                                print {"compiler", "contracts": {Name: {"bytecode","deployedBytecode"}}}
//
// Market contracts: optimizer on (200 runs). Verifiers: optimizer off (the
// generated inline assembly hits "stack too deep" with it on) and no metadata
// appended. EVM version cancun for both, so the bytecode runs on every current chain.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const ROOT = __dirname;
const SRC = path.join(ROOT, 'src');
const OUT = path.join(ROOT, 'artifacts');
const EVM_VERSION = 'cancun';

function findImport(p) {
  for (const base of [SRC, path.join(ROOT, 'node_modules')]) {
    const f = path.join(base, p);
    if (fs.existsSync(f)) return { contents: fs.readFileSync(f, 'utf8') };
  }
  return { error: `import not found: ${p}` };
}

function compile(sources, optimize, outputs, extra = {}) {
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: optimize, runs: 200 },
      evmVersion: EVM_VERSION,
      outputSelection: { '*': { '*': outputs } },
      ...extra,
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) {
    for (const e of errors) process.stderr.write(e.formattedMessage + '\n');
    process.exit(2);
  }
  return out.contracts;
}

function marketArtifacts() {
  const files = fs.readdirSync(SRC).filter((f) => f.endsWith('.sol')).sort();
  const sources = {};
  for (const f of files) sources[f] = { content: fs.readFileSync(path.join(SRC, f), 'utf8') };
  const contracts = compile(sources, true, ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object']);
  const result = {};
  for (const f of files) {
    for (const [name, c] of Object.entries(contracts[f] || {})) {
      result[name] = JSON.stringify(
        {
          contractName: name,
          source: `src/${f}`,
          compiler: `solc-js ${solc.version()}`,
          evmVersion: EVM_VERSION,
          abi: c.abi,
          bytecode: '0x' + c.evm.bytecode.object,
          deployedBytecode: '0x' + c.evm.deployedBytecode.object,
        },
        null,
        2,
      ) + '\n';
    }
  }
  return result;
}

const args = process.argv.slice(2);
if (args[0] === '--verifier') {
  const source = fs.readFileSync(0, 'utf8');
  // No CBOR metadata: a part's code then depends on its own source only, not on
  // the other parts compiled beside it, so the code hashes the split verifier's
  // parts pin (each part is compiled alone) are those of the combined source too.
  const contracts = compile({ 'Verifier.sol': { content: source } }, false, ['evm.bytecode.object', 'evm.deployedBytecode.object'], {
    metadata: { appendCBOR: false },
  });
  const all = Object.entries(contracts['Verifier.sol'] || {});
  if (all.length === 0) {
    process.stderr.write('no contract in the verifier source\n');
    process.exit(2);
  }
  const out = {};
  for (const [name, c] of all) {
    out[name] = { bytecode: '0x' + c.evm.bytecode.object, deployedBytecode: '0x' + c.evm.deployedBytecode.object };
  }
  process.stdout.write(JSON.stringify({ compiler: `solc-js ${solc.version()}`, contracts: out }) + '\n');
} else if (args[0] === '--check') {
  const fresh = marketArtifacts();
  let stale = [];
  for (const [name, text] of Object.entries(fresh)) {
    const f = path.join(OUT, `${name}.json`);
    if (!fs.existsSync(f) || fs.readFileSync(f, 'utf8') !== text) stale.push(name);
  }
  if (stale.length) {
    process.stderr.write(`contracts/artifacts is stale for: ${stale.join(', ')}; run \`npm run build\` in contracts/\n`);
    process.exit(1);
  }
  process.stdout.write(`contracts/artifacts are current (${Object.keys(fresh).length} contracts, solc-js ${solc.version()})\n`);
} else if (args.length === 0) {
  fs.mkdirSync(OUT, { recursive: true });
  const fresh = marketArtifacts();
  for (const [name, text] of Object.entries(fresh)) fs.writeFileSync(path.join(OUT, `${name}.json`), text);
  process.stdout.write(`wrote ${Object.keys(fresh).length} artifacts to contracts/artifacts (solc-js ${solc.version()})\n`);
} else {
  process.stderr.write('usage: node compile.cjs [--check | --verifier < Verifier.sol]\n');
  process.exit(64);
}
