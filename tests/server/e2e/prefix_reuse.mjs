// The prefix cache through the official client: a two-turn conversation whose second turn reuses
// the first turn's session (usage.prompt_tokens_details.cached_tokens > 0, counted in /metrics)
// answers exactly as a server started with --prefix-cache 0, with and without a drafter.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

export async function prefixReuseChecks(check, startServer, stopServer, drafterDir) {
  const conversation = async (client, model) => {
    const greedy = { model, temperature: 0, max_tokens: 24, frequency_penalty: 0.5 };
    const messages = [{ role: 'system', content: 'You write short Python functions.' },
      { role: 'user', content: 'def fibonacci(n):' }];
    const first = await client.chat.completions.create({ ...greedy, messages });
    messages.push(first.choices[0].message, { role: 'user', content: 'def factorial(n):' });
    const second = await client.chat.completions.create({ ...greedy, messages });
    return { first, second };
  };
  const metricsOf = async (url) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return (name) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1]);
  };

  for (const draft of [[], ['--draft', drafterDir]]) {
    const label = draft.length ? 'with a drafter' : 'plain';
    const cached = await startServer(['--parallel', '2', ...draft]);
    const off = await startServer(['--parallel', '2', '--prefix-cache', '0', ...draft]);
    const clientOf = (s) => new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });

    await check(`prefix cache (${label}): the second turn reuses the first, same greedy answers`,
      async () => {
        const reused = await conversation(clientOf(cached), cached.model);
        const fresh = await conversation(clientOf(off), off.model);
        assert.equal(reused.first.usage.prompt_tokens_details.cached_tokens, 0);
        const hit = reused.second.usage.prompt_tokens_details.cached_tokens;
        assert.ok(hit > reused.first.usage.prompt_tokens / 2, `cached_tokens ${hit}`);
        assert.ok(hit < reused.second.usage.prompt_tokens);
        assert.equal(fresh.second.usage.prompt_tokens_details.cached_tokens, 0);
        assert.equal(reused.first.choices[0].message.content,
                     fresh.first.choices[0].message.content);
        assert.equal(reused.second.choices[0].message.content,
                     fresh.second.choices[0].message.content);
        assert.equal(reused.second.usage.prompt_tokens, fresh.second.usage.prompt_tokens);
        const metrics = await metricsOf(cached.url);
        assert.equal(metrics('mimo_prefix_cache_hits_total'), 1);
        assert.equal(metrics('mimo_prefix_reused_tokens_total'), hit);
        assert.equal((await metricsOf(off.url))('mimo_prefix_cache_hits_total'), 0);
      });

    await check(`prefix cache (${label}): concurrent conversations answer as without it`,
      async () => {
        const runs = (s) =>
          Promise.all(Array.from({ length: 4 }, () => conversation(clientOf(s), s.model)));
        const [reused, fresh] = [await runs(cached), await runs(off)];
        for (let i = 0; i < reused.length; ++i) {
          assert.equal(reused[i].second.choices[0].message.content,
                       fresh[i].second.choices[0].message.content);
        }
      });
    assert.equal(await stopServer(cached), 0);
    assert.equal(await stopServer(off), 0);
  }
}
