// tests/server/clients/openai.test.mjs — the official `openai` npm client against a running
// `inhouse serve` (INHOUSE_URL) serving "chat" (DeepSeek-R1-distill template: output is reasoning
// until </think>), "plain" (no template) and "embed" (bert). Run by run-tests.sh openai.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: `${process.env.INHOUSE_URL}/v1`,
  apiKey: 'not-needed-on-loopback',
  maxRetries: 0,  // a retry would hide an error status
  timeout: 120_000,
});

const HELLO = [{ role: 'user', content: 'Hello! Who are you?' }];

// The uniform error body: {"error": {"code": STATUS, "message": "...", "type": "..."}}.
// The client exposes the body's "error" object as err.error.
async function expectApiError(promise, ErrorClass, status, messagePart) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, status);
    assert.equal(err.error?.code, status, `error body: ${JSON.stringify(err.error)}`);
    assert.equal(typeof err.error?.message, 'string');
    assert.match(err.error.message, new RegExp(messagePart));
    return true;
  });
}

test('models.list names every served model', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    assert.equal(typeof m.created, 'number');
    ids.push(m.id);
  }
  assert.deepEqual(ids.sort(), ['chat', 'embed', 'plain']);
});

test('chat completion, non-streaming: reasoning_content, finish_reason, usage', async () => {
  const r = await client.chat.completions.create({ model: 'chat', messages: HELLO, max_tokens: 16, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'chat');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
  assert.equal(typeof c.message.content, 'string');
  // The template's generation prompt opens <think>: the reply is reasoning until </think>.
  assert.equal(typeof c.message.reasoning_content, 'string');
  assert.ok(c.message.reasoning_content.length > 0);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 16);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  if (c.finish_reason === 'length') assert.equal(r.usage.completion_tokens, 16);
});

test('chat completion, streaming: deltas, reasoning_content, finish_reason, include_usage', async () => {
  const request = { model: 'chat', messages: HELLO, max_tokens: 16, temperature: 0 };
  const whole = await client.chat.completions.create(request);
  const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  let role = null, reasoning = '', content = '', finish = null, usage = null, reasoningDeltas = 0;
  const ids = new Set();
  for await (const chunk of stream) {
    ids.add(chunk.id);
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) {
      assert.equal(usage, null, 'usage arrives once');
      assert.deepEqual(chunk.choices, [], 'the usage chunk has no choices');
      usage = chunk.usage;
      continue;
    }
    assert.equal(usage, null, 'nothing after the usage chunk');
    const c = chunk.choices[0];
    assert.equal(finish, null, 'nothing after finish_reason but usage');
    if (c.delta.role) role = c.delta.role;
    if (c.delta.reasoning_content) { reasoning += c.delta.reasoning_content; reasoningDeltas++; }
    if (c.delta.content) content += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(ids.size, 1, 'every chunk has the same id');
  assert.equal(role, 'assistant');
  assert.ok(reasoningDeltas >= 1, 'reasoning_content arrives in deltas');
  assert.ok(['stop', 'length'].includes(finish), String(finish));
  assert.ok(usage, 'include_usage: a final usage chunk');
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  // Greedy: the stream says exactly what the whole answer said.
  assert.equal(reasoning, whole.choices[0].message.reasoning_content);
  assert.equal(content, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(
    [usage.prompt_tokens, usage.completion_tokens],
    [whole.usage.prompt_tokens, whole.usage.completion_tokens]);
});

test('streaming without include_usage sends no usage chunk', async () => {
  const stream = await client.chat.completions.create({ model: 'chat', messages: HELLO, max_tokens: 4, stream: true });
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.ok(!chunk.usage, `unexpected usage ${JSON.stringify(chunk.usage)}`);
    assert.equal(chunk.choices.length, 1);
  }
  assert.ok(chunks >= 2);
});

test('stream can be aborted by the client', async () => {
  const stream = await client.chat.completions.create({ model: 'chat', messages: HELLO, max_tokens: 200, stream: true });
  let n = 0;
  for await (const _ of stream) {
    if (++n === 2) break;  // leaves the loop: the client aborts the request
  }
  assert.equal(n, 2);
  // The server keeps serving.
  const r = await client.chat.completions.create({ model: 'chat', messages: HELLO, max_tokens: 2 });
  assert.equal(r.choices.length, 1);
});

test('completions: text, streaming equals non-streaming, max_tokens', async () => {
  const request = { model: 'plain', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 };
  const r = await client.completions.create(request);
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  const c = r.choices[0];
  assert.equal(typeof c.text, 'string');
  assert.ok(['stop', 'length'].includes(c.finish_reason));
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12);
  let text = '', finish = null;
  for await (const chunk of await client.completions.create({ ...request, stream: true })) {
    text += chunk.choices[0].text;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.equal(text, c.text);
  assert.equal(finish, c.finish_reason);
});

test('completions: seeded sampling is reproducible', async () => {
  const request = { model: 'plain', prompt: 'The sky', max_tokens: 10, temperature: 1.0, seed: 1234 };
  const a = await client.completions.create(request);
  const b = await client.completions.create(request);
  assert.equal(a.choices[0].text, b.choices[0].text);
});

function norm(v) {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

test('embeddings: the default base64 encoding decodes to unit vectors equal to float ones', async () => {
  const input = ['hello world', 'the quick brown fox jumps over the lazy dog'];
  const b64 = await client.embeddings.create({ model: 'embed', input });  // client asks for base64
  assert.equal(b64.object, 'list');
  assert.equal(b64.model, 'embed');
  assert.equal(b64.data.length, 2);
  assert.ok(b64.usage.prompt_tokens > 0);
  const floats = await client.embeddings.create({ model: 'embed', input, encoding_format: 'float' });
  for (let i = 0; i < 2; i++) {
    const e = b64.data[i].embedding;
    assert.equal(b64.data[i].index, i);
    assert.ok(Array.isArray(e) && e.length === 64, `dimension ${e.length}`);
    assert.ok(Math.abs(norm(e) - 1) < 1e-3, `norm ${norm(e)}`);
    const f = floats.data[i].embedding;
    assert.equal(f.length, e.length);
    for (let k = 0; k < e.length; k++) assert.ok(Math.abs(e[k] - f[k]) < 1e-6, `component ${k}: ${e[k]} vs ${f[k]}`);
  }
  const single = await client.embeddings.create({ model: 'embed', input: 'hello world' });
  assert.deepEqual(single.data[0].embedding, b64.data[0].embedding);
});

test('errors: unknown model -> NotFoundError 404 with the uniform body', async () => {
  await expectApiError(
    client.chat.completions.create({ model: 'no-such-model', messages: HELLO }), OpenAI.NotFoundError, 404, 'no-such-model');
  await expectApiError(
    client.embeddings.create({ model: 'no-such-model', input: 'x' }), OpenAI.NotFoundError, 404, 'no-such-model');
});

test('errors: bad parameters -> BadRequestError 400 naming the field', async () => {
  await expectApiError(
    client.chat.completions.create({ model: 'chat', messages: HELLO, temperature: 5 }), OpenAI.BadRequestError, 400, 'temperature');
  await expectApiError(
    client.chat.completions.create({ model: 'chat', messages: HELLO, max_tokens: -1 }), OpenAI.BadRequestError, 400, 'max_tokens');
  await expectApiError(
    client.chat.completions.create({ model: 'chat', messages: [] }), OpenAI.BadRequestError, 400, 'messages');
  await expectApiError(
    client.chat.completions.create({ model: 'chat', messages: HELLO, n: 3 }), OpenAI.BadRequestError, 400, "'n'");
  await expectApiError(
    client.embeddings.create({ model: 'embed', input: '' }), OpenAI.BadRequestError, 400, 'empty');
  // A model without a chat template cannot serve chat completions.
  await expectApiError(
    client.chat.completions.create({ model: 'plain', messages: HELLO }), OpenAI.BadRequestError, 400, 'template');
  // A streamed request with a bad parameter fails before the stream starts.
  await expectApiError(
    client.chat.completions.create({ model: 'chat', messages: HELLO, top_p: 2, stream: true }), OpenAI.BadRequestError, 400, 'top_p');
});
