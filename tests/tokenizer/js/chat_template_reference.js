// Independent reference outputs for chat_template_test: renders each case
// with @huggingface/jinja (the Jinja implementation of transformers.js, which
// applies trim_blocks and lstrip_blocks as Hugging Face does) and writes the
// exact bytes to OUT_DIR/<case>.txt.
//
// usage: node chat_template_reference.js NPM_PREFIX CASES_JSON OUT_DIR
//   NPM_PREFIX  folder for `npm install --prefix` (inside the build tree)
//   CASES_JSON  [{name, template, context}], written by
//               chat_template_test --write-reference-cases=FILE
//   OUT_DIR     receives <name>.txt, reference.json (package and version) or,
//               when npm cannot provide the package, SKIP with the reason
//
// The package is installed at its pinned version only when it is not already
// there, so repeated runs need no network. An npm failure writes SKIP and exits
// 0 (the tests then skip with that reason); a failing render is a real
// disagreement to look at, so it exits 1.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { createRequire } = require('module');

const PACKAGE = '@huggingface/jinja';
const VERSION = '0.5.11';

const [prefixArg, casesPath, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node chat_template_reference.js NPM_PREFIX CASES_JSON OUT_DIR');
  process.exit(2);
}
const prefix = path.resolve(prefixArg);
fs.mkdirSync(outDir, { recursive: true });
for (const f of fs.readdirSync(outDir)) fs.rmSync(path.join(outDir, f));

function skip(reason) {
  fs.writeFileSync(path.join(outDir, 'SKIP'), reason + '\n');
  console.log(`chat template reference skipped: ${reason}`);
  process.exit(0);
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const pkgJson = path.join(prefix, 'node_modules', PACKAGE, 'package.json');
const installedVersion = () =>
  fs.existsSync(pkgJson) ? JSON.parse(fs.readFileSync(pkgJson, 'utf8')).version : null;

if (installedVersion() !== VERSION) {
  const run = (args) =>
    execFileSync(npm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240000 });
  try {
    // Ask the registry what it serves under this name before installing it.
    const info = JSON.parse(run(['view', `${PACKAGE}@${VERSION}`, 'name', 'version', '--json']));
    if (info.name !== PACKAGE || info.version !== VERSION) {
      skip(`npm view ${PACKAGE}@${VERSION} answered ${JSON.stringify(info)}`);
    }
    fs.mkdirSync(prefix, { recursive: true });
    run(['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', '--loglevel=error',
         `${PACKAGE}@${VERSION}`]);
  } catch (e) {
    // The first few error lines say why (offline, proxy, registry); warnings do not.
    const why = String(e.stderr || e.message).split('\n').filter((l) => l.trim() && !/^npm warn/i.test(l));
    skip(`npm could not install ${PACKAGE}@${VERSION}: ${why.slice(0, 3).join(' ').replace(/\s+/g, ' ').trim()}`);
  }
  if (installedVersion() !== VERSION) skip(`npm install did not leave ${PACKAGE}@${VERSION} in ${prefix}`);
}

const { Template } = createRequire(path.join(prefix, 'index.js'))(PACKAGE);
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
let failed = false;
for (const c of cases) {
  try {
    const out = new Template(c.template).render(c.context);
    fs.writeFileSync(path.join(outDir, `${c.name}.txt`), out, 'utf8');
  } catch (e) {
    console.error(`case ${c.name}: ${e.message}`);
    failed = true;
  }
}
fs.writeFileSync(path.join(outDir, 'reference.json'),
                 JSON.stringify({ package: PACKAGE, version: installedVersion(), cases: cases.length }) + '\n');
process.exit(failed ? 1 : 0);
