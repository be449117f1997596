// The official openai client, pointed at a running `waypoint serve`.
// <prefix> is the npm prefix tests/serve/js/install.cmake installed into; the
// scripts themselves live in the source tree, so the package is resolved
// from the prefix, not from here.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export async function openaiClient(prefix, baseUrl, timeoutMs) {
  const require = createRequire(path.join(path.resolve(prefix), 'noop.js'));
  let entry;
  try {
    entry = require.resolve('openai/index.mjs');
  } catch {
    try {
      entry = require.resolve('openai');
    } catch {
      console.error(`FAIL: openai is not installed under ${path.resolve(prefix)}/node_modules ` +
        '(run tests/serve/js/install.cmake)');
      process.exit(1);
    }
  }
  const mod = await import(pathToFileURL(entry).href);
  const OpenAI = mod.default ?? mod.OpenAI;
  const client = new OpenAI({
    baseURL: baseUrl.replace(/\/+$/, '') + '/v1',
    apiKey: 'unused',
    maxRetries: 0,
    timeout: timeoutMs,
  });
  return { OpenAI, client };
}
