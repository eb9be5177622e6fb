// mimo-server end to end, driven by the official OpenAI client (npm "openai") against the demo
// model on the CPU: chat, completions, streaming, logprobs, stop strings, tools, JSON response
// formats (json_format.mjs), prefix reuse (prefix_reuse.mjs), errors, API key, body limit, a
// load test of 32+ concurrent streaming clients whose greedy answers must equal the
// single-client ones, queue overflow (429), client disconnects, /metrics and a graceful SIGTERM.
//   node e2e.mjs SERVER_BINARY MODEL_DIR DRAFTER_DIR TOOLS_TEMPLATE
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { abortStorm } from './abort_storm.mjs';
import { jsonFormatChecks } from './json_format.mjs';
import { prefixReuseChecks } from './prefix_reuse.mjs';
import OpenAI from 'openai';

const [serverBinary, modelDir, drafterDir, toolsTemplate] = process.argv.slice(2);
const KEY = 'e2e-secret-key';
const failures = [];

async function check(name, body) {
  const start = Date.now();
  try {
    await body();
    console.log(`PASS ${name} (${Date.now() - start} ms)`);
  } catch (error) {
    failures.push(name);
    console.log(`FAIL ${name}: ${error.stack || error}`);
  }
}

// Starts mimo-server on a free port; resolves once it listens.
function startServer(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(serverBinary, ['-m', modelDir, '--port', '0', '-t', '2', ...args], {
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60000);
    child.stderr.on('data', (data) => {
      process.stderr.write(data);
      log += data;
      const m = log.match(/serving '([^']+)' on (http:\/\/[\d.]+:\d+)/);
      if (m && !child.url) {
        child.url = m[2];
        child.model = m[1];
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      child.exitCode_ = code;
      if (!child.url) reject(new Error(`server exited (${code}) before listening:\n${log}`));
    });
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode_ !== undefined) return resolve(child.exitCode_);
    child.on('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

async function expectApiError(promise, status, fields = {}) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OpenAI.APIError, `not an APIError: ${error}`);
    assert.equal(error.status, status, `status of ${error.message}`);
    for (const [key, value] of Object.entries(fields)) {
      if (value instanceof RegExp) assert.match(String(error[key]), value);
      else assert.equal(error[key], value, key);
    }
    return error;
  }
  assert.fail(`expected HTTP ${status}, the request succeeded`);
}

async function streamChat(client, params) {
  const stream = await client.chat.completions.create({ ...params, stream: true,
    stream_options: { include_usage: true } });
  const out = { chunks: [], content: '', logprobs: [], toolCalls: [], finish: null, usage: null };
  for await (const chunk of stream) {
    out.chunks.push(chunk);
    if (chunk.usage) out.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta.content) out.content += choice.delta.content;
      if (choice.delta.tool_calls) out.toolCalls.push(...choice.delta.tool_calls);
      if (choice.logprobs?.content) out.logprobs.push(...choice.logprobs.content);
      if (choice.finish_reason) out.finish = choice.finish_reason;
    }
  }
  return out;
}

const PROMPTS = ['def fibonacci(n):', 'class Graph:', 'import os\n\n\ndef main():',
                 'def quicksort(items):', '# Read a CSV file\n', 'def __init__(self, name):',
                 'for i in range(10):', 'try:\n    import numpy as np'];

async function main() {
  const a = await startServer(['--draft', drafterDir, '--chat-template', toolsTemplate,
                               '--api-key', KEY, '--parallel', '8', '--queue', '64',
                               '--max-body', '65536']);
  const client = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: KEY, maxRetries: 0 });
  const model = a.model;
  const greedy = { model, temperature: 0, max_tokens: 24 };
  const chatOf = (text) => [{ role: 'user', content: text }];

  await check('models: list and retrieve', async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), [model]);
    assert.equal((await client.models.retrieve(model)).id, model);
    await expectApiError(client.models.retrieve('nope'), 404);
  });

  let reference;
  await check('chat: greedy answer, usage with speculation', async () => {
    const r = await client.chat.completions.create({ ...greedy, messages: chatOf(PROMPTS[0]) });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.ok(r.usage.completion_tokens <= 24);
    assert.ok(r.usage.speculation.draft_tokens > 0, 'speculation is on with --draft');
    assert.ok(r.usage.speculation.accepted_tokens <= r.usage.speculation.draft_tokens);
    reference = r;
    const again = await client.chat.completions.create({ ...greedy, messages: chatOf(PROMPTS[0]) });
    assert.equal(again.choices[0].message.content, r.choices[0].message.content);
  });

  await check('chat: streamed deltas add up to the whole answer', async () => {
    const s = await streamChat(client, { ...greedy, messages: chatOf(PROMPTS[0]) });
    assert.deepEqual(s.chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(s.content, reference.choices[0].message.content);
    assert.equal(s.finish, reference.choices[0].finish_reason);
    const last = s.chunks[s.chunks.length - 1];
    assert.deepEqual(last.choices, []);
    const ignored = { speculation: undefined, prompt_tokens_details: undefined };  // cache hits
    assert.deepEqual({ ...s.usage, ...ignored }, { ...reference.usage, ...ignored });
    for (const chunk of s.chunks.slice(0, -1)) assert.equal(chunk.usage, null);
  });

  await check('chat: the raw event stream ends with data: [DONE]', async () => {
    const res = await fetch(`${a.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ ...greedy, messages: chatOf('x = '), stream: true }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/event-stream/);
    const text = await res.text();
    const events = text.split('\n\n').filter((e) => e.length > 0);
    for (const e of events) assert.match(e, /^data: /);
    assert.equal(events[events.length - 1], 'data: [DONE]');
  });

  await check('chat: logprobs and top_logprobs, streamed and not', async () => {
    const params = { ...greedy, messages: chatOf(PROMPTS[1]), logprobs: true, top_logprobs: 3 };
    const r = await client.chat.completions.create(params);
    const entries = r.choices[0].logprobs.content;
    assert.equal(entries.length, r.usage.completion_tokens);
    for (const e of entries) {
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 3);
      // Greedy: the chosen token is the most likely one.
      assert.equal(e.top_logprobs[0].token, e.token);
      assert.ok(Array.isArray(e.bytes));
    }
    const s = await streamChat(client, params);
    assert.deepEqual(s.logprobs.map((e) => e.token), entries.map((e) => e.token));
  });

  await check('chat: stop strings across tokens', async () => {
    const full = reference.choices[0].message.content;
    assert.ok(full.length > 10);
    const stop = full.slice(4, 9);
    const r = await client.chat.completions.create({ ...greedy, messages: chatOf(PROMPTS[0]), stop: [stop] });
    assert.equal(r.choices[0].message.content, full.slice(0, full.indexOf(stop)));
    assert.equal(r.choices[0].finish_reason, 'stop');
    const s = await streamChat(client, { ...greedy, messages: chatOf(PROMPTS[0]), stop });
    assert.equal(s.content, r.choices[0].message.content);
  });

  await check('chat: sampling with a seed repeats, other seeds differ', async () => {
    const params = { model, messages: chatOf(PROMPTS[2]), max_tokens: 24, temperature: 1.2,
                     top_p: 0.95, top_k: 50, min_p: 0.01, presence_penalty: 0.3,
                     frequency_penalty: 0.2, repetition_penalty: 1.05 };
    const texts = [];
    for (const seed of [1, 1, 2, 3]) {
      texts.push((await client.chat.completions.create({ ...params, seed })).choices[0].message.content);
    }
    assert.equal(texts[0], texts[1]);
    assert.ok(new Set(texts).size >= 2, 'three seeds gave one text');
  });

  await check('chat: logit_bias selects a token', async () => {
    // +100 on one id makes it the only choice; its text comes from a token-id prompt echoed.
    const echo = await client.completions.create({ model, prompt: [500], max_tokens: 1,
                                                   temperature: 0, echo: true });
    const r = await client.chat.completions.create({ ...greedy, max_tokens: 5,
      messages: chatOf(PROMPTS[0]), logit_bias: { 500: 100 }, logprobs: true });
    const piece = r.choices[0].logprobs.content[0].token;
    assert.ok(echo.choices[0].text.startsWith(piece), `${piece} vs ${echo.choices[0].text}`);
    assert.equal(r.choices[0].message.content, piece.repeat(5));
    const banned = await client.chat.completions.create({ ...greedy, max_tokens: 5,
      messages: chatOf(PROMPTS[0]), logit_bias: { 500: -100 }, logprobs: true });
    assert.ok(banned.choices[0].logprobs.content.every((e) => e.token !== piece));
  });

  await check('completions: text, logprobs, echo, token prompts, streaming', async () => {
    const r = await client.completions.create({ ...greedy, prompt: PROMPTS[3], logprobs: 2 });
    assert.equal(r.object, 'text_completion');
    const lp = r.choices[0].logprobs;
    assert.equal(lp.tokens.length, r.usage.completion_tokens);
    assert.equal(lp.token_logprobs.length, lp.tokens.length);
    assert.equal(Object.keys(lp.top_logprobs[0]).length, 2);
    assert.equal(lp.tokens.join(''), r.choices[0].text);
    const echo = await client.completions.create({ ...greedy, prompt: PROMPTS[3], echo: true });
    assert.equal(echo.choices[0].text, PROMPTS[3] + r.choices[0].text);
    let streamed = '';
    let finish = null;
    const stream = await client.completions.create({ ...greedy, prompt: PROMPTS[3], stream: true });
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(streamed, r.choices[0].text);
    assert.equal(finish, r.choices[0].finish_reason);
    const ids = await client.completions.create({ ...greedy, prompt: [1, 2, 3, 4] });
    assert.equal(ids.usage.prompt_tokens, 4);
  });

  await check('tools: rendered by the template, tool turns round-trip, tool_choice none', async () => {
    // The demo model never writes a tool-call block (it was trained on Python only), so the
    // parsing of calls into tool_calls is covered by tests/server/tool_calls_test.cpp; here the
    // template's side is checked through the prompt sizes the server reports.
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const question = { role: 'user', content: 'Weather in Paris?' };
    const history = [question,
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function',
        function: { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) } }] },
      { role: 'tool', tool_call_id: 'c1', content: '21C' }];
    const size = async (params) =>
      (await client.chat.completions.create({ ...greedy, max_tokens: 1, ...params })).usage.prompt_tokens;
    const plain = await size({ messages: [question] });
    const withTools = await size({ messages: [question], tools });
    assert.ok(withTools > plain + 40, `tools not rendered: ${withTools} vs ${plain}`);
    assert.equal(await size({ messages: [question], tools, tool_choice: 'none' }), plain);
    // get_weather(Paris) as a Hermes block, and the tool response, are in the prompt.
    const withHistory = await size({ messages: history, tools });
    assert.ok(withHistory > withTools + 20, `tool turns not rendered: ${withHistory}`);
    const r = await client.chat.completions.create({ ...greedy, messages: history, tools });
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  });

  await check('tools: a forced tool_choice the model does not follow is an error with its status', async () => {
    // The prompt ends with the call block's opening; the demo model continues with Python, so
    // no valid call comes and the answer is 500 tool_call_missing - as the HTTP status of a
    // non-streamed request, as an error event before [DONE] of a streamed one.
    const tools = [{ type: 'function', function: { name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const named = { type: 'function', function: { name: 'get_weather' } };
    const params = { ...greedy, max_tokens: 8, messages: chatOf('Weather in Paris?'), tools };
    for (const tool_choice of [named, 'required']) {
      await expectApiError(client.chat.completions.create({ ...params, tool_choice }), 500,
                           { code: 'tool_call_missing', param: 'tool_choice',
                             message: /tool_choice asked for .*<tool_call>/ });
    }
    await expectApiError(client.chat.completions.create({ ...params, tool_choice: {
      type: 'function', function: { name: 'nope' } } }), 400, { param: 'tool_choice.function.name' });
    try {
      await streamChat(client, { ...params, tool_choice: named });
      assert.fail('the stream ended without an error');
    } catch (error) {
      assert.ok(error instanceof OpenAI.APIError, `not an APIError: ${error}`);
      assert.equal(error.code, 'tool_call_missing');
    }
    const res = await fetch(`${a.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ ...params, tool_choice: named, stream: true }),
    });
    assert.equal(res.status, 200);
    const events = (await res.text()).split('\n\n').filter((e) => e.length > 0);
    assert.equal(events[events.length - 1], 'data: [DONE]');
    assert.equal(JSON.parse(events[events.length - 2].slice(6)).error.code, 'tool_call_missing');
  });

  await jsonFormatChecks(check, client, model, expectApiError);

  await check('chat: an answer sent back as a turn, names, content parts', async () => {
    const first = await client.chat.completions.create({ ...greedy, max_tokens: 4,
      messages: [{ role: 'user', content: 'x = ', name: 'ann' }] });
    const r = await client.chat.completions.create({ ...greedy, max_tokens: 4, messages: [
      { role: 'user', content: [{ type: 'text', text: 'x = ' }], name: 'ann' },
      first.choices[0].message, { role: 'user', content: 'y = ' }] });
    assert.equal(typeof r.choices[0].message.content, 'string');
    await expectApiError(client.chat.completions.create({ ...greedy, messages: [{ role: 'user',
      content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] }), 400,
                         { param: 'messages[0].content[0].type', message: /"image_url" is not supported/ });
  });

  await check('errors: OpenAI-style bodies with the right statuses', async () => {
    await expectApiError(client.chat.completions.create({ ...greedy, model: 'gpt-4', messages: chatOf('x') }),
                         404, { code: 'model_not_found' });
    await expectApiError(client.chat.completions.create({ ...greedy, messages: chatOf('x'), n: 2 }),
                         400, { param: 'n', code: 'unsupported_parameter' });
    await expectApiError(client.chat.completions.create({ ...greedy, messages: chatOf('x'), temperature: 'hot' }),
                         400, { param: 'temperature', code: 'invalid_type' });
    await expectApiError(client.chat.completions.create({ ...greedy }), 400, { param: 'messages' });
    await expectApiError(client.chat.completions.create({ ...greedy, messages: [] }), 400);
    await expectApiError(client.chat.completions.create({ ...greedy, messages: chatOf('x'), foo: 1 }),
                         400, { param: 'foo' });
    await expectApiError(client.chat.completions.create({ ...greedy, messages: chatOf('x'),
                                                          tool_choice: 'required' }), 400);
    await expectApiError(client.chat.completions.create({ ...greedy,
      messages: [{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }] }),
                         400, { code: 'chat_template_error' });
    const long = 'x = 1\n'.repeat(2000);
    await expectApiError(client.completions.create({ ...greedy, prompt: long }), 400,
                         { code: 'context_length_exceeded', message: /maximum context length is \d+ tokens/ });
    await expectApiError(client.chat.completions.create({ ...greedy, messages: chatOf('x'),
                                                          max_tokens: 100000 }), 400,
                         { code: 'context_length_exceeded' });
    await expectApiError(client.completions.create({ ...greedy, prompt: [1, 99999] }), 400,
                         { param: 'prompt' });
    const wrongKey = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expectApiError(wrongKey.models.list(), 401, { code: 'invalid_api_key' });
  });

  await check('errors: malformed JSON, oversized bodies, unknown routes (raw HTTP)', async () => {
    const post = (path, body, headers = {}) => fetch(`${a.url}${path}`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}`, ...headers }, body });
    for (const [body, status] of [['{"model": ', 400], ['[1]', 400], ['null', 400],
                                  ['x'.repeat(70000), 413]]) {
      const res = await post('/v1/chat/completions', body);
      assert.equal(res.status, status, body.slice(0, 20));
      const json = await res.json();
      assert.equal(typeof json.error.message, 'string');
      assert.ok('type' in json.error && 'param' in json.error && 'code' in json.error);
    }
    const missing = await fetch(`${a.url}/v1/nothing`, { headers: { Authorization: `Bearer ${KEY}` } });
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'not_found');
    const noKey = await post('/v1/completions', '{}', { Authorization: '' });
    assert.equal(noKey.status, 401);
    assert.equal((await fetch(`${a.url}/health`)).status, 200);
  });

  await check('load: 32 concurrent streaming clients equal their single-client answers', async () => {
    const params = (i) => ({ ...greedy, max_tokens: 16, messages: chatOf(PROMPTS[i % PROMPTS.length]) });
    const single = [];
    for (let i = 0; i < PROMPTS.length; ++i) {
      single.push((await client.chat.completions.create(params(i))).choices[0].message.content);
    }
    const clients = Array.from({ length: 40 }, (_, i) =>
      streamChat(new OpenAI({ baseURL: `${a.url}/v1`, apiKey: KEY, maxRetries: 0 }), params(i)));
    const results = await Promise.all(clients);
    results.forEach((s, i) => {
      assert.ok(s.finish, `client ${i} did not finish`);
      assert.equal(s.content, single[i % PROMPTS.length], `client ${i}`);
    });
  });

  await check('metrics: Prometheus text with requests, tokens, TTFT, speculation, queue', async () => {
    const text = await (await fetch(`${a.url}/metrics`)).text();
    const value = (name) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1]);
    assert.match(text, /mimo_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} \d+/);
    assert.match(text, /mimo_requests_total\{endpoint="\/v1\/chat\/completions",status="404"\} 1/);
    assert.ok(value('mimo_generation_tokens_total') > 500);
    assert.ok(value('mimo_prompt_tokens_total') > 100);
    assert.ok(value('mimo_time_to_first_token_seconds_count') >= 40);
    assert.ok(value('mimo_decode_tokens_per_second') > 0);
    assert.ok(value('mimo_speculative_draft_tokens_total') > 0);
    assert.ok(value('mimo_speculative_acceptance_rate') > 0);
    assert.equal(value('mimo_requests_waiting'), 0);
    assert.equal(value('mimo_requests_running'), 0);
  });

  await check('shutdown: SIGTERM exits cleanly', async () => {
    assert.equal(await stopServer(a), 0);
  });

  await prefixReuseChecks(check, startServer, stopServer, drafterDir);

  // A second server: the demo's own template, one slot, a queue of two, no key, no drafter.
  const b = await startServer(['--parallel', '1', '--queue', '2', '--shutdown-grace', '30']);
  const small = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'unused', maxRetries: 0 });

  await check('lookup first: --draft --lookup-first speculates and gives plain greedy text', async () => {
    const c = await startServer(['--draft', drafterDir, '--lookup-first', '--parallel', '1']);
    try {
      const client = new OpenAI({ baseURL: `${c.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const request = { prompt: 'def f():', max_tokens: 48, temperature: 0, ignore_eos: true };
      const spec = await client.completions.create({ ...request, model: c.model });
      const plain = await small.completions.create({ ...request, model: b.model });
      assert.equal(spec.choices[0].text, plain.choices[0].text);
      assert.ok(spec.usage.speculation.draft_tokens > 0, 'speculation is on');
    } finally {
      assert.equal(await stopServer(c), 0);
    }
  });

  await check('tools: a template that cannot render them is refused', async () => {
    await expectApiError(small.chat.completions.create({ ...greedy, model: b.model, messages: chatOf('x'),
      tools: [{ type: 'function', function: { name: 'f' } }] }), 400, { code: 'tools_unsupported' });
  });

  await check('queue: requests beyond slot + queue get 429', async () => {
    const long = { model: b.model, prompt: 'def f():', max_tokens: 200, temperature: 0, ignore_eos: true };
    const settled = await Promise.allSettled(
      Array.from({ length: 6 }, () => small.completions.create(long)));
    const refused = settled.filter((s) => s.status === 'rejected');
    assert.ok(refused.length >= 2, `${refused.length} refused`);
    for (const r of refused) assert.equal(r.reason.status, 429);
    assert.ok(settled.filter((s) => s.status === 'fulfilled').length >= 2);
  });

  await check('disconnect: a client that leaves cancels its generation', async () => {
    const controller = new AbortController();
    const stream = await small.completions.create({ model: b.model, prompt: 'def f():',
      max_tokens: 900, temperature: 0, ignore_eos: true, stream: true }, { signal: controller.signal });
    let seen = 0;
    try {
      for await (const chunk of stream) { if (++seen === 3) controller.abort(); }
    } catch { /* aborted */ }
    const started = Date.now();
    let cancelled = 0;
    while (Date.now() - started < 10000) {
      const text = await (await fetch(`${b.url}/metrics`)).text();
      cancelled = Number(text.match(/^mimo_generations_cancelled_total (\d+)/m)[1]);
      if (cancelled >= 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(cancelled, 1);
    assert.ok(Date.now() - started < 5000, 'cancelled within 5 s, not after 900 tokens');
  });
  await check('disconnect: 30 clients leaving at random moments', () => abortStorm(b.url, b.model));

  const metricsOf = async (url) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return (name) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? 0);
  };
  const waitFor = async (url, condition, ms = 5000) => {
    const started = Date.now();
    while (Date.now() - started < ms) {
      if (condition(await metricsOf(url))) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  };

  await check('disconnect: a non-streamed client that leaves cancels its generation', async () => {
    const before = (await metricsOf(b.url))('mimo_generations_cancelled_total');
    const controller = new AbortController();
    const request = small.completions.create({ model: b.model, prompt: 'def f():', max_tokens: 900,
      temperature: 0, ignore_eos: true }, { signal: controller.signal }).catch(() => 'aborted');
    assert.ok(await waitFor(b.url, (m) => m('mimo_requests_running') === 1), 'never ran');
    controller.abort();
    assert.equal(await request, 'aborted');
    assert.ok(await waitFor(b.url, (m) => m('mimo_generations_cancelled_total') === before + 1 &&
                                          m('mimo_requests_running') === 0), 'not cancelled');
  });

  await check('queue: a waiting client that leaves leaves the queue at once', async () => {
    const status499 = (m) => m('mimo_requests_total\\{endpoint="/v1/completions",status="499"\\}');
    const before = status499(await metricsOf(b.url));
    const long = small.completions.create({ model: b.model, prompt: 'def f():', max_tokens: 300,
                                            temperature: 0, ignore_eos: true });
    assert.ok(await waitFor(b.url, (m) => m('mimo_requests_running') === 1), 'never ran');
    const controllers = [new AbortController(), new AbortController()];
    const queued = controllers.map((c, i) => (i === 0 ? small.completions.create({ model: b.model,
      prompt: 'x', max_tokens: 5 }, { signal: c.signal }) : small.chat.completions.create({
      model: b.model, messages: chatOf('x'), max_tokens: 5, stream: true }, { signal: c.signal }))
      .catch(() => 'aborted'));
    assert.ok(await waitFor(b.url, (m) => m('mimo_requests_waiting') === 2), 'not queued');
    for (const c of controllers) c.abort();
    assert.ok(await waitFor(b.url, (m) => m('mimo_requests_waiting') === 0 &&
                                          m('mimo_requests_running') === 1, 1000),
              'still counted as waiting while the first runs');
    assert.deepEqual(await Promise.all(queued), ['aborted', 'aborted']);
    assert.equal(status499(await metricsOf(b.url)), before + 1);  // the completions one
    assert.equal((await long).usage.completion_tokens, 300);
  });

  await check('shutdown: SIGTERM lets the running request finish, then exits 0', async () => {
    const running = small.completions.create({ model: b.model, prompt: 'def g():', max_tokens: 200,
                                               temperature: 0, ignore_eos: true });
    await new Promise((r) => setTimeout(r, 300));
    const exited = stopServer(b);
    const r = await running;
    assert.equal(r.usage.completion_tokens, 200);
    assert.equal(await exited, 0);
  });

  if (a.exitCode_ === undefined) a.kill('SIGKILL');
  if (b.exitCode_ === undefined) b.kill('SIGKILL');
  if (failures.length) {
    console.log(`${failures.length} check(s) failed: ${failures.join('; ')}`);
    process.exit(1);
  }
  console.log('all mimo-server end-to-end checks passed');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
