#!/usr/bin/env node
// Compile rewards/contracts/*.sol with solc-js (npm `solc`) into rewards/contracts/build/.
//
// Run at setup (`make contracts`, part of `make install`); the build folder is git-ignored because
// ABI and bytecode are build outputs, not sources. Each artifact is
//   build/<Name>.json = {contractName, abi, bytecode, deployedBytecode, compiler, sourceHash}
// where sourceHash is the sha256 rewards/chain/build.py recomputes to refuse a stale build:
//   sha256 over "settings\0<settings.json>\0solc\0<version>\0" followed by, for every source unit
//   solc compiled (ours and OpenZeppelin's) in sorted order, "<unit name>\0<content>\0".
// Compiler settings live in settings.json so Python can hash exactly what was used.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const nodeModules = join(root, "node_modules");
const buildDir = join(here, "build");
const require = createRequire(import.meta.url);
const solc = require("solc");

const settingsText = readFileSync(join(here, "settings.json"), "utf8");
const settings = JSON.parse(settingsText);
const solcVersion = JSON.parse(readFileSync(join(nodeModules, "solc", "package.json"), "utf8")).version;

// Our sources are unit names relative to this folder; imports starting with "@" come from node_modules.
function sourcePath(unit) {
  return unit.startsWith("@") ? join(nodeModules, unit) : join(here, unit);
}

const sources = {};
for (const name of readdirSync(here).filter((f) => f.endsWith(".sol")).sort()) {
  sources[name] = { content: readFileSync(join(here, name), "utf8") };
}

const contents = new Map(Object.entries(sources).map(([k, v]) => [k, v.content]));
function findImports(unit) {
  if (unit.includes("..")) return { error: `refusing import outside the tree: ${unit}` };
  try {
    const content = readFileSync(sourcePath(unit), "utf8");
    contents.set(unit, content);
    return { contents: content };
  } catch (err) {
    return { error: `cannot read ${unit}: ${err.message}` };
  }
}

const input = { language: "Solidity", sources, settings };
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const hash = createHash("sha256");
hash.update(`settings\0${settingsText}\0solc\0${solcVersion}\0`);
for (const unit of Object.keys(output.sources).sort()) {
  hash.update(`${unit}\0${contents.get(unit)}\0`);
}
const sourceHash = hash.digest("hex");

mkdirSync(buildDir, { recursive: true });
let written = 0;
for (const unit of Object.keys(sources)) {
  for (const [name, c] of Object.entries(output.contracts[unit] || {})) {
    const artifact = {
      contractName: name,
      sourceUnit: unit,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      compiler: { solc: solcVersion, ...settings, outputSelection: undefined },
      sourceHash,
    };
    const target = join(buildDir, `${name}.json`);
    writeFileSync(target + ".tmp", JSON.stringify(artifact, null, 1) + "\n");
    renameSync(target + ".tmp", target); // a reader never sees half a file
    written += 1;
  }
}
writeFileSync(join(buildDir, ".stamp"), sourceHash + "\n");
console.log(`compiled ${written} contracts (${Object.keys(output.sources).length} source units, solc ${solcVersion}) -> ${buildDir}`);
