// Starts N streaming completions at once through the official openai npm
// client against a running `waypoint serve`; each must end normally with
// finish_reason 'length' and exactly <max_tokens> completion tokens.
//
// Usage: node concurrent_streams.mjs <node_modules_parent_dir> <base_url> <model_name> <N> <max_tokens>
//
// Prints `ok N streams, X tokens, Y s` and exits 0, or prints the first error
// and exits 1.
//
// Node's global fetch (undici) puts no per-origin cap on sockets, unlike the
// old http.Agent maxSockets; the client uses it, so all N streams really run
// concurrently, each on its own connection.
import { openaiClient } from './openai_client.mjs';

const [prefix, baseUrl, model, nArg, maxArg] = process.argv.slice(2);
const N = Number(nArg);
const maxTokens = Number(maxArg);
if (!prefix || !baseUrl || !model || !(N >= 1) || !(maxTokens >= 1)) {
  console.error('usage: node concurrent_streams.mjs <node_modules_parent_dir> <base_url> <model_name> <N> <max_tokens>');
  process.exit(2);
}

const { client } = await openaiClient(prefix, baseUrl, 120000);

async function one(i) {
  const stream = await client.completions.create({
    model,
    prompt: `Stream number ${i} says`,
    max_tokens: maxTokens,
    temperature: 0,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
  const finishes = [];
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    for (const c of chunk.choices) if (c.finish_reason) finishes.push(c.finish_reason);
    if (chunk.usage) usage = chunk.usage;
  }
  const where = `stream ${i} (${chunks} chunks)`;
  if (finishes.length !== 1 || finishes[0] !== 'length') {
    throw new Error(`${where}: finish_reasons ${JSON.stringify(finishes)}, expected ["length"]`);
  }
  if (!usage) throw new Error(`${where}: no usage chunk`);
  if (usage.completion_tokens !== maxTokens) {
    throw new Error(`${where}: completion_tokens ${usage.completion_tokens}, expected ${maxTokens}`);
  }
  return usage.completion_tokens;
}

const t0 = performance.now();
try {
  const counts = await Promise.all(Array.from({ length: N }, (_, i) =>
    one(i).catch((err) => {
      const detail = err?.error ? ` ${JSON.stringify(err.error)}` : '';
      throw new Error(`stream ${i}: ${err?.constructor?.name}: ${err?.message}${detail}`,
        { cause: err });
    })));
  const secs = (performance.now() - t0) / 1000;
  const total = counts.reduce((a, b) => a + b, 0);
  console.log(`ok ${N} streams, ${total} tokens, ${secs.toFixed(2)} s`);
  process.exit(0);
} catch (err) {
  console.error(`FAIL: ${err?.message ?? err}`);
  if (err?.cause?.cause) console.error('cause:', err.cause.cause);
  process.exit(1);
}
