// The official Anthropic client (npm "@anthropic-ai/sdk") against the
// gateway, as an application would use it: baseURL = the gateway's base
// URL (the SDK appends /v1/messages), any API key (the gateway sends the
// provider's own). The models asked for have a provider of another
// dialect behind (vLLM, Ollama) or the same (Anthropic). Usage:
//   node t/npm/anthropic.mjs http://localhost:8529
import Anthropic, { NotFoundError, APIError } from '@anthropic-ai/sdk';
import { test, assert, eq, done } from './tap.mjs';

const baseURL = process.argv[2];
const client = new Anthropic({ baseURL, apiKey: 'sk-ant-client-key',
                               maxRetries: 0, timeout: 20000 });
const messages = [{ role: 'user', content: 'Hello' }];
const reply = 'Hello from the mock upstream.';
const max_tokens = 256;
const weatherArgs = { location: 'Paris, France', unit: 'celsius' };
const tools = [{
    name: 'get_weather',
    description: 'The weather at a place',
    input_schema: {
        type: 'object',
        properties: { location: { type: 'string' },
                      unit: { type: 'string' } },
        required: ['location'],
    },
}];
// X-Mock-* request headers are forwarded to the provider (the mock).
const knobs = (headers) => ({ headers });

// The model each answer names: the client's when the gateway translates,
// the provider's own (model_path) when it passes the answer through.
const models = [['mock-chat', 'vLLM', 'mock-chat'],
                ['ollama-chat', 'Ollama', 'ollama-chat'],
                ['claude-chat', 'Anthropic', 'claude-sonnet-4-5']];

const isCount = (v) => Number.isInteger(v) && v >= 0;

function checkMessage(m, model, what) {
    eq(m.type, 'message', `${what}: type`);
    eq(m.role, 'assistant', `${what}: role`);
    eq(m.model, model, `${what}: model`);
    assert(typeof m.id === 'string' && /^msg_\w+$/.test(m.id),
           `${what}: id ${m.id}`);
    eq(m.stop_sequence, null, `${what}: stop_sequence`);
    assert(isCount(m.usage.input_tokens) && m.usage.input_tokens > 0,
           `${what}: usage.input_tokens ${m.usage.input_tokens}`);
    assert(isCount(m.usage.output_tokens) && m.usage.output_tokens > 0,
           `${what}: usage.output_tokens ${m.usage.output_tokens}`);
}

function checkText(m, model, what) {
    checkMessage(m, model, what);
    eq(m.content.length, 1, `${what}: one content block`);
    eq(m.content[0].type, 'text', `${what}: content[0].type`);
    eq(m.content[0].text, reply, `${what}: content[0].text`);
    eq(m.stop_reason, 'end_turn', `${what}: stop_reason`);
}

function checkToolUse(m, model, what) {
    checkMessage(m, model, what);
    const uses = m.content.filter((b) => b.type === 'tool_use');
    eq(uses.length, 1, `${what}: one tool_use block`);
    eq(m.content.filter((b) => b.type === 'text' && b.text).length, 0,
       `${what}: no text`);
    assert(typeof uses[0].id === 'string' && uses[0].id.length > 0,
           `${what}: tool_use.id ${uses[0].id}`);
    eq(uses[0].name, 'get_weather', `${what}: tool_use.name`);
    eq(typeof uses[0].input, 'object', `${what}: input type`);
    eq(uses[0].input, weatherArgs, `${what}: input`);
    eq(m.stop_reason, 'tool_use', `${what}: stop_reason`);
}

// The raw events of a text answer, in the order the API defines.
function checkEventOrder(types) {
    const seq = types.join(' ');
    assert(/^message_start content_block_start( content_block_delta)+ (?:content_block_stop) message_delta message_stop$/
               .test(seq), `event order: ${seq}`);
}

for (const [model, behind, named] of models) {
    await test(`messages.create on ${model} (${behind} behind)`, async () => {
        const m = await client.messages.create({ model, max_tokens,
                                                 messages });
        checkText(m, named, 'message');
    });
}

for (const [model, behind, named] of models) {
    await test(`messages.stream + finalMessage on ${model} (${behind} behind)`,
               async () => {
        const stream = client.messages.stream({ model, max_tokens,
                                                messages });
        let text = '';
        let pieces = 0;
        stream.on('text', (delta) => { text += delta; pieces++; });
        const m = await stream.finalMessage();
        eq(text, reply, 'text events');
        assert(pieces >= 3, `text pieces: ${pieces}`);
        checkText(m, named, 'final message');
    });
}

for (const [model, behind, named] of models) {
    await test(`messages.create with stream: true on ${model} (${behind} `
               + 'behind): the events in order', async () => {
        const stream = await client.messages.create({ model, max_tokens,
                                                      messages,
                                                      stream: true });
        const types = [];
        let text = '';
        let start = null;
        let delta = null;
        for await (const ev of stream) {
            types.push(ev.type);
            if (ev.type === 'message_start') {
                start = ev.message;
            } else if (ev.type === 'content_block_start') {
                eq(ev.index, 0, 'content_block_start index');
                eq(ev.content_block, { type: 'text', text: '' },
                   'content_block_start block');
            } else if (ev.type === 'content_block_delta') {
                eq(ev.index, 0, 'content_block_delta index');
                eq(ev.delta.type, 'text_delta', 'delta type');
                text += ev.delta.text;
            } else if (ev.type === 'message_delta') {
                delta = ev;
            }
        }
        checkEventOrder(types);
        eq(start.model, named, 'message_start model');
        eq(start.role, 'assistant', 'message_start role');
        eq(start.content, [], 'message_start content');
        eq(text, reply, 'text deltas');
        eq(delta.delta.stop_reason, 'end_turn', 'message_delta stop_reason');
        assert(isCount(delta.usage.output_tokens)
               && delta.usage.output_tokens > 0,
               `message_delta usage.output_tokens ${delta.usage.output_tokens}`);
    });
}

for (const [model, behind, named] of models.slice(0, 2)) {
    await test(`system prompt as a string on ${model} (${behind} behind)`,
               async () => {
        const m = await client.messages.create({
            model, max_tokens, messages, system: 'Answer briefly.' });
        checkText(m, named, 'message');
    });

    await test(`system prompt as text blocks on ${model} (${behind} behind)`,
               async () => {
        const m = await client.messages.create({
            model, max_tokens, messages,
            system: [{ type: 'text', text: 'Answer briefly.' },
                     { type: 'text', text: 'In English.',
                       cache_control: { type: 'ephemeral' } }] });
        checkText(m, named, 'message');
    });
}

await test('a conversation with content blocks and an assistant turn '
           + '(mock-chat)', async () => {
    const m = await client.messages.create({
        model: 'mock-chat', max_tokens,
        messages: [
            { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
            { role: 'assistant', content: 'Hi.' },
            { role: 'user', content: [{ type: 'text', text: 'Again' }] },
        ] });
    checkText(m, 'mock-chat', 'message');
});

const toolModels = [['vllm-tools', 'vLLM', 'vllm-tools'],
                    ['ollama-chat', 'Ollama', 'ollama-chat'],
                    ['claude-chat', 'Anthropic', 'claude-sonnet-4-5']];

for (const [model, behind, named] of toolModels) {
    await test(`tool use on ${model} (${behind} behind)`, async () => {
        const m = await client.messages.create(
            { model, max_tokens, messages, tools },
            knobs({ 'X-Mock-Tool': 'get_weather' }));
        checkToolUse(m, named, 'message');
    });

    await test(`tool use streamed on ${model} (${behind} behind)`,
               async () => {
        const stream = client.messages.stream(
            { model, max_tokens, messages, tools },
            knobs({ 'X-Mock-Tool': 'get_weather' }));
        let json = '';
        stream.on('inputJson', (partial) => { json += partial; });
        const m = await stream.finalMessage();
        eq(JSON.parse(json), weatherArgs, 'input_json_delta pieces');
        checkToolUse(m, named, 'final message');
    });
}

await test('tool result sent back on vllm-tools: the answer is text',
           async () => {
    const m = await client.messages.create({
        model: 'vllm-tools', max_tokens, tools,
        messages: [
            ...messages,
            { role: 'assistant', content: [
                { type: 'tool_use', id: 'toolu_01', name: 'get_weather',
                  input: weatherArgs }] },
            { role: 'user', content: [
                { type: 'tool_result', tool_use_id: 'toolu_01',
                  content: '18 degrees, sunny' }] },
        ] });
    checkText(m, 'vllm-tools', 'message');
});

for (const [model, behind, named] of models) {
    await test(`thinking on ${model} (${behind} behind): a thinking block `
               + 'first', async () => {
        const m = await client.messages.create(
            { model, max_tokens: 2048, messages,
              thinking: { type: 'enabled', budget_tokens: 1024 } },
            knobs({ 'X-Mock-Think': 'Let me think.' }));
        checkMessage(m, named, 'message');
        eq(m.content.map((b) => b.type), ['thinking', 'text'], 'block types');
        eq(m.content[0].thinking, 'Let me think.', 'thinking');
        eq(typeof m.content[0].signature, 'string', 'signature');
        eq(m.content[1].text, reply, 'text');
    });
}

await test('an error inside the stream (vLLM behind): the SDK throws '
           + 'APIError api_error', async () => {
    const stream = client.messages.stream(
        { model: 'mock-chat', max_tokens, messages },
        knobs({ 'X-Mock-Stream-Error': '1' }));
    let text = '';
    stream.on('text', (delta) => { text += delta; });
    try {
        await stream.finalMessage();
    } catch (e) {
        assert(e instanceof APIError, `error class ${e.constructor.name}`);
        eq(e.error.type, 'error', 'error.type');
        eq(e.error.error.type, 'api_error', 'error.error.type');
        eq(text, reply, 'the text before the error');
        return;
    }
    throw new Error('no error');
});

await test('an unknown model: NotFoundError 404, Anthropic error body',
           async () => {
    try {
        await client.messages.create({ model: 'no-such-model', max_tokens,
                                       messages });
    } catch (e) {
        assert(e instanceof NotFoundError,
               `error class ${e.constructor.name}`);
        eq(e.status, 404, 'status');
        eq(e.error.type, 'error', 'error.type');
        eq(e.error.error.type, 'not_found_error', 'error.error.type');
        eq(e.error.error.message,
           "The model 'no-such-model' does not exist or is not active.",
           'error.error.message');
        return;
    }
    throw new Error('no error');
});

await test('an unknown model, streamed: NotFoundError 404', async () => {
    try {
        const stream = client.messages.stream({ model: 'no-such-model',
                                                max_tokens, messages });
        await stream.finalMessage();
    } catch (e) {
        assert(e instanceof NotFoundError,
               `error class ${e.constructor.name}`);
        eq(e.error.error.type, 'not_found_error', 'error.error.type');
        return;
    }
    throw new Error('no error');
});

await test('a request without max_tokens: BadRequestError 400 '
           + 'invalid_request_error', async () => {
    try {
        await client.messages.create({ model: 'mock-chat', messages });
    } catch (e) {
        eq(e.status, 400, 'status');
        eq(e.error.error.type, 'invalid_request_error', 'error.error.type');
        return;
    }
    throw new Error('no error');
});

done();
