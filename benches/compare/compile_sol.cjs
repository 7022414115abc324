#!/usr/bin/env node
// Compiles a Solidity verifier on stdin with the pinned solc-js of contracts/
// (optimizer on, 1 run: EZKL's generated verifier does not compile without it),
// and prints {"compiler", "contract", "bytecode", "runtime_bytes"} for the
// contract named on the command line.
'use strict';
const path = require('path');
const solc = require(path.join(__dirname, '../../contracts/node_modules/solc'));

const name = process.argv[2] || 'Halo2Verifier';
const src = require('fs').readFileSync(0, 'utf8');
const input = {
  language: 'Solidity',
  sources: { 'Verifier.sol': { content: src } },
  settings: {
    optimizer: { enabled: true, runs: 1 },
    evmVersion: 'cancun',
    outputSelection: { '*': { '*': ['evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const c = out.contracts['Verifier.sol'][name];
if (!c) {
  console.error(`no contract ${name}`);
  process.exit(1);
}
console.log(JSON.stringify({
  compiler: solc.version(),
  contract: name,
  bytecode: c.evm.bytecode.object,
  runtime_bytes: c.evm.deployedBytecode.object.length / 2,
}));
