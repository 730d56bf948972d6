// tests/server/clients/ollama.test.mjs — the official `ollama` npm client against a running
// `inhouse serve` (INHOUSE_URL) serving "chat" (DeepSeek-R1-distill template: reasoning goes in
// Ollama's "thinking" field), "plain" (no template) and "embed" (bert). Run by run-tests.sh ollama.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ollama } from 'ollama';

const ollama = new Ollama({ host: process.env.INHOUSE_URL });
const GREEDY = { temperature: 0, num_predict: 12 };
const HELLO = [{ role: 'user', content: 'Hello! Who are you?' }];

function norm(v) {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

test('list (/api/tags) names every model with details', async () => {
  const { models } = await ollama.list();
  assert.deepEqual(models.map((m) => m.name).sort(), ['chat', 'embed', 'plain']);
  for (const m of models) {
    assert.equal(m.model, m.name);
    assert.ok(m.size > 0);
    assert.equal(typeof m.digest, 'string');
    assert.ok(!Number.isNaN(Date.parse(m.modified_at)), m.modified_at);
    assert.equal(m.details.format, 'gguf');
  }
  assert.equal(models.find((m) => m.name === 'embed').details.family, 'bert');
  assert.equal(models.find((m) => m.name === 'plain').details.family, 'qwen2');
});

test('show: template, model_info and capabilities', async () => {
  const chat = await ollama.show({ model: 'chat' });
  assert.match(chat.template, /<think>|Assistant/);
  assert.equal(chat.model_info['general.architecture'], 'qwen2');
  assert.ok(chat.model_info['qwen2.context_length'] > 0);
  assert.deepEqual(chat.capabilities, ['completion']);
  const plain = await ollama.show({ model: 'plain' });
  assert.equal(plain.template, '');
  const embed = await ollama.show({ model: 'embed' });
  assert.deepEqual(embed.capabilities, ['embedding']);
  assert.equal(embed.model_info['bert.embedding_length'], 64);
});

test('generate, not streaming: response and counters', async () => {
  const r = await ollama.generate({ model: 'plain', prompt: 'Once upon a time', stream: false, options: GREEDY });
  assert.equal(r.model, 'plain');
  assert.equal(r.done, true);
  assert.ok(['stop', 'length'].includes(r.done_reason), r.done_reason);
  assert.equal(typeof r.response, 'string');
  assert.ok(r.prompt_eval_count > 0);
  assert.ok(r.eval_count >= 1 && r.eval_count <= 12);
  assert.ok(r.total_duration >= 0 && r.eval_duration >= 0);
  assert.equal(r.thinking, undefined, 'a model without a template does not think');
});

test('generate, streaming: parts add up to the whole answer', async () => {
  const request = { model: 'plain', prompt: 'Once upon a time', options: GREEDY };
  const whole = await ollama.generate({ ...request, stream: false });
  let text = '', last = null, parts = 0;
  for await (const part of await ollama.generate({ ...request, stream: true })) {
    assert.equal(last?.done ?? false, false, 'nothing after done');
    text += part.response;
    last = part;
    parts++;
  }
  assert.ok(parts >= 2);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, whole.done_reason);
  assert.equal(last.eval_count, whole.eval_count);
  assert.equal(text, whole.response);
});

test('generate on the chat model: reasoning in "thinking"', async () => {
  const r = await ollama.generate({ model: 'chat', prompt: 'Hi', stream: false, options: GREEDY });
  assert.equal(typeof r.thinking, 'string');
  assert.ok(r.thinking.length > 0);
});

test('chat, not streaming: assistant message with thinking', async () => {
  const r = await ollama.chat({ model: 'chat', messages: HELLO, stream: false, options: GREEDY });
  assert.equal(r.done, true);
  assert.equal(r.message.role, 'assistant');
  assert.equal(typeof r.message.content, 'string');
  assert.equal(typeof r.message.thinking, 'string');
  assert.ok(r.message.thinking.length > 0, 'the template opens <think>: output starts as thinking');
  assert.ok(r.eval_count >= 1 && r.eval_count <= 12);
});

test('chat, streaming: thinking and content deltas add up to the whole answer', async () => {
  const request = { model: 'chat', messages: HELLO, options: GREEDY };
  const whole = await ollama.chat({ ...request, stream: false });
  let thinking = '', content = '', last = null;
  for await (const part of await ollama.chat({ ...request, stream: true })) {
    assert.equal(part.message.role, 'assistant');
    thinking += part.message.thinking ?? '';
    content += part.message.content;
    last = part;
  }
  assert.equal(last.done, true);
  assert.equal(thinking, whole.message.thinking);
  assert.equal(content, whole.message.content);
});

test('chat stream can be aborted by the client', async () => {
  const stream = await ollama.chat({ model: 'chat', messages: HELLO, stream: true, options: { num_predict: 200 } });
  let n = 0;
  try {
    for await (const _ of stream) {
      if (++n === 2) stream.abort();
    }
  } catch (err) {
    assert.equal(err.name, 'AbortError', String(err));  // how ollama-js ends an aborted stream
  }
  assert.ok(n >= 2);
  const r = await ollama.chat({ model: 'chat', messages: HELLO, stream: false, options: { num_predict: 2 } });
  assert.equal(r.done, true);
});

test('embed: unit vectors, one per input; legacy embeddings agrees', async () => {
  const r = await ollama.embed({ model: 'embed', input: ['hello world', 'the cat sat on the mat'] });
  assert.equal(r.model, 'embed');
  assert.equal(r.embeddings.length, 2);
  for (const e of r.embeddings) {
    assert.equal(e.length, 64);
    assert.ok(Math.abs(norm(e) - 1) < 1e-3, `norm ${norm(e)}`);
  }
  assert.ok(r.prompt_eval_count > 0);
  const legacy = await ollama.embeddings({ model: 'embed', prompt: 'hello world' });
  assert.equal(legacy.embedding.length, 64);
  for (let k = 0; k < 64; k++) assert.ok(Math.abs(legacy.embedding[k] - r.embeddings[0][k]) < 1e-6);
});

test('errors: unknown model -> ResponseError with status 404', async () => {
  await assert.rejects(ollama.generate({ model: 'no-such-model', prompt: 'Hi', stream: false }), (err) => {
    assert.equal(err.name, 'ResponseError');
    assert.equal(err.status_code, 404);
    return true;
  });
  await assert.rejects(ollama.embed({ model: 'no-such-model', input: 'x' }), (err) => err.status_code === 404);
  await assert.rejects(ollama.show({ model: 'no-such-model' }), (err) => err.status_code === 404);
});

test('errors: bad options -> ResponseError with status 400', async () => {
  await assert.rejects(
    ollama.generate({ model: 'plain', prompt: 'Hi', stream: false, options: { temperature: 9 } }),
    (err) => err.status_code === 400);
});

// Ollama's own error body is {"error": "<message>"}; ollama-js reads `body.error` as the message.
// Inhouse answers its uniform {"error": {"code", "message", ...}}, so the client's err.message is
// "[object Object]" (the text is only in err.error.message). Reported to the lead; flip `todo`
// off when the Ollama routes answer a string.
test('errors: the Ollama client gets a readable message', { todo: 'Ollama routes answer the uniform error object, not a string' }, async () => {
  await assert.rejects(ollama.generate({ model: 'no-such-model', prompt: 'Hi', stream: false }), (err) => {
    assert.match(err.message, /no-such-model/);
    return true;
  });
});
