// response_format json_object / json_schema through the official client: answers (plain and
// streamed, greedy and sampled) parse as JSON and follow the schema; a schema outside the
// supported subset is refused with 400 naming its path; unknown format types are refused.
import assert from 'node:assert/strict';

export async function jsonFormatChecks(check, client, model, expectApiError) {
  const messages = [{ role: 'user', content: 'The settings, as JSON.' }];
  const base = { model, messages, max_tokens: 600 };

  await check('json: json_object answers parse as objects (greedy, sampled, streamed)', async () => {
    for (const params of [{ temperature: 0 }, { temperature: 1, seed: 7 },
      { temperature: 0.8, top_p: 0.9, seed: 8 }]) {
      const r = await client.chat.completions.create({ ...base, ...params,
        response_format: { type: 'json_object' } });
      assert.equal(r.choices[0].finish_reason, 'stop');
      const value = JSON.parse(r.choices[0].message.content);
      assert.equal(typeof value, 'object');
      assert.ok(value !== null && !Array.isArray(value));
    }
    const stream = await client.chat.completions.create({ ...base, temperature: 0, stream: true,
      response_format: { type: 'json_object' } });
    let content = '';
    for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
    const plain = await client.chat.completions.create({ ...base, temperature: 0,
      response_format: { type: 'json_object' } });
    assert.equal(content, plain.choices[0].message.content);
    JSON.parse(content);
  });

  await check('json: json_schema answers follow the schema', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, level: { type: 'integer' },
        mode: { enum: ['on', 'off'] } },
      required: ['name', 'level', 'mode'],
      additionalProperties: false,
    };
    for (const seed of [1, 2]) {
      const r = await client.chat.completions.create({ ...base, temperature: 0.9, seed,
        response_format: { type: 'json_schema', json_schema: { name: 'settings', strict: true,
          schema } } });
      const value = JSON.parse(r.choices[0].message.content);
      assert.deepEqual(Object.keys(value).sort(), ['level', 'mode', 'name']);
      assert.equal(typeof value.name, 'string');
      assert.ok(Number.isInteger(value.level));
      assert.ok(['on', 'off'].includes(value.mode));
    }
  });

  await check('json: unsupported schemas and format types are refused', async () => {
    await expectApiError(client.chat.completions.create({ ...base, response_format: {
      type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: {
        a: { type: 'string', pattern: '^x' } } } } } }), 400,
    { param: 'response_format.json_schema.schema', message: /#\/properties\/a.*'pattern'/ });
    await expectApiError(client.chat.completions.create({ ...base,
      response_format: { type: 'yaml' } }), 400,
    { param: 'response_format.type', code: 'unsupported_parameter' });
    const r = await client.chat.completions.create({ ...base, max_tokens: 2, temperature: 0,
      response_format: { type: 'text' } });
    assert.equal(typeof r.choices[0].message.content, 'string');
  });
}
