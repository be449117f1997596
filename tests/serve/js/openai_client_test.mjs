// Drives a running `waypoint serve` with the official openai npm client (v6)
// and checks the OpenAI-compatible API, including the vLLM extensions
// (ignore_eos, return_token_ids, stop_reason).
//
// Usage: node openai_client_test.mjs <node_modules_parent_dir> <base_url> <model_name>
//
// <node_modules_parent_dir> is the npm prefix that tests/serve/js/install.cmake
// installed into; the script itself may live elsewhere (the source tree).
// Prints one line per check; exits 1 on the first failure.
import assert from 'node:assert/strict';
import { openaiClient } from './openai_client.mjs';

const [prefix, baseUrl, model] = process.argv.slice(2);
if (!prefix || !baseUrl || !model) {
  console.error('usage: node openai_client_test.mjs <node_modules_parent_dir> <base_url> <model_name>');
  process.exit(2);
}

const { OpenAI, client } = await openaiClient(prefix, baseUrl, 30000);

let passed = 0;
async function check(name, fn) {
  try {
    const note = await fn();
    passed++;
    console.log(`ok   ${name}${note ? ` (${note})` : ''}`);
  } catch (err) {
    console.log(`FAIL ${name}`);
    console.error(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
    if (err && err.error) console.error('server error body:', JSON.stringify(err.error));
    process.exit(1);
  }
}

const PROMPT = 'The quick brown fox';
const greedy = { model, prompt: PROMPT, max_tokens: 8, temperature: 0, ignore_eos: true };
const CHAT = { model, messages: [{ role: 'user', content: 'Hello' }], max_completion_tokens: 6,
  temperature: 0, ignore_eos: true };

let greedyText;
await check('completions: non-streaming, finish_reason length, usage, id, object', async () => {
  const r = await client.completions.create(greedy);
  assert.equal(r.object, 'text_completion');
  assert.ok(typeof r.id === 'string' && r.id.startsWith('cmpl-'), `id ${r.id} must start with cmpl-`);
  assert.equal(r.model, model);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].index, 0);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.usage.completion_tokens, 8);
  assert.ok(r.usage.prompt_tokens > 0, 'prompt_tokens must be positive');
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  greedyText = r.choices[0].text;
  return `prompt_tokens=${r.usage.prompt_tokens}`;
});

await check('completions: list of two prompts gives choices 0 and 1', async () => {
  const r = await client.completions.create({ ...greedy, prompt: ['Hello', 'World wide'] });
  assert.equal(r.choices.length, 2);
  assert.deepEqual(r.choices.map((c) => c.index).sort(), [0, 1]);
  for (const c of r.choices) assert.equal(c.finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 16);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

await check('completions: token-id prompt with return_token_ids', async () => {
  const r = await client.completions.create({ ...greedy, prompt: [1, 2, 3], return_token_ids: true });
  const c = r.choices[0];
  assert.ok(Array.isArray(c.token_ids), 'choices[0].token_ids must be an array');
  assert.equal(c.token_ids.length, 8);
  assert.ok(c.token_ids.every(Number.isInteger), 'token_ids must be integers');
  assert.deepEqual(c.prompt_token_ids, [1, 2, 3]);
  assert.equal(r.usage.prompt_tokens, 3);
});

await check('completions: greedy determinism', async () => {
  const a = await client.completions.create(greedy);
  const b = await client.completions.create(greedy);
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.equal(a.choices[0].text, greedyText);
});

await check('completions: seed determinism at temperature 1.0', async () => {
  const req = { ...greedy, temperature: 1.0, seed: 42, max_tokens: 16 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.choices[0].text, b.choices[0].text);
});

await check('completions: streaming with include_usage matches non-streaming', async () => {
  const stream = await client.completions.create({ ...greedy, stream: true,
    stream_options: { include_usage: true } });
  let text = '';
  let finishes = [];
  let last;
  let n = 0;
  for await (const chunk of stream) {
    n++;
    assert.equal(chunk.object, 'text_completion');
    assert.ok(chunk.id.startsWith('cmpl-'), `chunk id ${chunk.id}`);
    for (const c of chunk.choices) {
      text += c.text ?? '';
      if (c.finish_reason) finishes.push(c.finish_reason);
    }
    last = chunk;
  }
  assert.equal(text, greedyText);
  assert.deepEqual(finishes, ['length']);
  assert.ok(last, 'stream had no chunks');
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage, 'last chunk must carry usage');
  assert.equal(last.usage.completion_tokens, 8);
  assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
  return `${n} chunks`;
});

let chatContent;
await check('chat: non-streaming', async () => {
  const r = await client.chat.completions.create(CHAT);
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.id.startsWith('chatcmpl-'), `id ${r.id} must start with chatcmpl-`);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  chatContent = r.choices[0].message.content;
});

await check('chat: return_token_ids', async () => {
  const r = await client.chat.completions.create({ ...CHAT, return_token_ids: true });
  assert.ok(Array.isArray(r.prompt_token_ids) && r.prompt_token_ids.length > 0,
    'top-level prompt_token_ids must be a non-empty array');
  assert.equal(r.prompt_token_ids.length, r.usage.prompt_tokens);
  assert.ok(Array.isArray(r.choices[0].token_ids), 'choices[0].token_ids must be an array');
  assert.equal(r.choices[0].token_ids.length, 6);
  assert.equal(r.choices[0].message.content, chatContent);
});

await check('chat: streaming matches non-streaming, loop ends on [DONE]', async () => {
  const stream = await client.chat.completions.create({ ...CHAT, stream: true,
    stream_options: { include_usage: true } });
  let content = '';
  let first = true;
  let finishes = [];
  let usage;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (first) {
      assert.ok(chunk.choices.length > 0, 'first chunk must have a choice');
      assert.equal(chunk.choices[0].delta.role, 'assistant');
      first = false;
    }
    for (const c of chunk.choices) {
      content += c.delta?.content ?? '';
      if (c.finish_reason) finishes.push(c.finish_reason);
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(!first, 'stream had no chunks');
  assert.equal(content, chatContent);
  assert.deepEqual(finishes, ['length']);
  assert.ok(usage, 'usage chunk missing');
  assert.equal(usage.completion_tokens, 6);
});

await check('models.list contains the model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(model), `models ${JSON.stringify(ids)} lack ${model}`);
});

async function expectError(cls, status, req) {
  try {
    const r = await client.completions.create(req);
    assert.fail(`expected ${cls.name} (${status}), got a response: ${JSON.stringify(r).slice(0, 200)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, status);
    return err.message;
  }
}

await check('errors: unknown model -> NotFoundError 404', () =>
  expectError(OpenAI.NotFoundError, 404, { ...greedy, model: 'no-such-model' }));
await check('errors: temperature -1 -> BadRequestError 400', () =>
  expectError(OpenAI.BadRequestError, 400, { ...greedy, temperature: -1 }));
await check('errors: max_tokens 0 -> BadRequestError 400', () =>
  expectError(OpenAI.BadRequestError, 400, { ...greedy, max_tokens: 0 }));

await check('completions: stop string', async () => {
  const base = { ...greedy, max_tokens: 30 };
  const r = await client.completions.create(base);
  const text = r.choices[0].text;
  // Pick a 3-6 character substring from the middle, free of U+FFFD, that does
  // not start the text (so the expected prefix is non-trivial when possible).
  let stop = null;
  const mid = Math.floor(text.length / 2);
  outer: for (let d = 0; d < text.length; d++) {
    for (const start of [mid + d, mid - d]) {
      for (const len of [4, 3, 5, 6]) {
        if (start < 1 || start + len > text.length) continue;
        const s = text.slice(start, start + len);
        if (s.includes('\uFFFD')) continue;
        // Code units only: avoid splitting a surrogate pair.
        if (/[\uD800-\uDFFF]/.test(s)) continue;
        stop = s;
        break outer;
      }
    }
  }
  if (stop === null) {
    return `SKIPPED: no 3-6 char substring without U+FFFD in ${JSON.stringify(text)}`;
  }
  const expected = text.slice(0, text.indexOf(stop));
  const s = await client.completions.create({ ...base, stop: [stop] });
  const c = s.choices[0];
  assert.equal(c.finish_reason, 'stop', `stop ${JSON.stringify(stop)} in ${JSON.stringify(text)}`);
  assert.equal(c.text, expected, `stop ${JSON.stringify(stop)} in ${JSON.stringify(text)}`);
  assert.equal(c.stop_reason, stop);
  return `stop=${JSON.stringify(stop)}, ${expected.length} chars kept`;
});

await check('abort via AbortController mid-stream, server still answers', async () => {
  const ac = new AbortController();
  const stream = await client.completions.create(
    { ...greedy, max_tokens: 1500, stream: true }, { signal: ac.signal });
  let n = 0;
  let ended = 'loop ended';
  let finish = null;
  try {
    for await (const chunk of stream) {
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (++n === 3) ac.abort();
      assert.ok(n <= 3 + 64, 'stream kept going long after abort');
    }
  } catch (err) {
    const aborted = err instanceof OpenAI.APIUserAbortError || err?.name === 'AbortError';
    assert.ok(aborted, `unexpected error after abort: ${err?.constructor?.name}: ${err?.message}`);
    ended = err.constructor.name;
  }
  assert.ok(n >= 3, `got only ${n} chunks before the stream ended`);
  assert.equal(finish, null, 'the aborted stream must not have run to completion');
  const t0 = Date.now();
  const r = await client.completions.create(greedy);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.choices[0].text, greedyText);
  return `${n} chunks read, ${ended}; follow-up took ${Date.now() - t0} ms`;
});

console.log(`all ${passed} checks passed`);
