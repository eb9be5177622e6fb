// response_format json_object / json_schema through the official client: answers (plain and
// streamed, greedy and sampled) parse as JSON and follow the schema; a schema outside the
// supported subset is refused with 400 naming its path; unknown format types are refused.
import assert from 'node:assert/strict';

export async function jsonFormatChecks(check, client, model, expectApiError) {
  const messages = [{ role: 'user', content: 'The settings, as JSON.' }];
  const base = { model, messages, max_tokens: 600 };

  // A 'stop' answer is one JSON object; a sampled one may be cut by max_tokens ('length': the
  // demo model can go on inside a string), and is then left unparsed.
  const parseObject = (choice) => {
    if (choice.finish_reason === 'length') return null;
    assert.equal(choice.finish_reason, 'stop');
    const value = JSON.parse(choice.message.content);
    assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value));
    return value;
  };

  await check('json: json_object answers parse as objects (greedy, sampled, streamed)', async () => {
    const greedy = await client.chat.completions.create({ ...base, temperature: 0,
      response_format: { type: 'json_object' } });
    assert.ok(parseObject(greedy.choices[0]) !== null, 'the greedy answer ends');
    for (const params of [{ temperature: 0.7, seed: 7 }, { temperature: 0.8, top_p: 0.9, seed: 8 }]) {
      parseObject((await client.chat.completions.create({ ...base, ...params,
        response_format: { type: 'json_object' } })).choices[0]);
    }
    const stream = await client.chat.completions.create({ ...base, temperature: 0, stream: true,
      response_format: { type: 'json_object' } });
    let content = '';
    for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(content, greedy.choices[0].message.content);
  });

  await check('json: json_schema answers follow the schema', async () => {
    // Every value is bounded, so every answer ends.
    const schema = {
      type: 'object',
      properties: { on: { type: 'boolean' }, level: { enum: [1, 2, 3] },
        mode: { enum: ['fast', 'slow'] } },
      required: ['on', 'level', 'mode'],
      additionalProperties: false,
    };
    for (const [temperature, seed] of [[0, 0], [0.9, 1], [1, 2]]) {
      const r = await client.chat.completions.create({ ...base, temperature, seed,
        response_format: { type: 'json_schema', json_schema: { name: 'settings', strict: true,
          schema } } });
      const value = parseObject(r.choices[0]);
      assert.deepEqual(Object.keys(value).sort(), ['level', 'mode', 'on']);
      assert.equal(typeof value.on, 'boolean');
      assert.ok([1, 2, 3].includes(value.level));
      assert.ok(['fast', 'slow'].includes(value.mode));
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
