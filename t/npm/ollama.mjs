// The official ollama client (npm "ollama") against the gateway, as an
// application would use it: host = the gateway's base URL (it serves the
// Ollama API at its root). Most models asked for have a provider of
// another dialect behind (vLLM, Anthropic, LM Studio), so the gateway
// translates both ways. Usage:
//   node t/npm/ollama.mjs http://localhost:8529
import { Ollama } from 'ollama';
import { test, assert, eq, done } from './tap.mjs';

const host = process.argv[2];
const client = new Ollama({ host });
// X-Mock-* request headers are forwarded to the provider (the mock).
const withKnobs = (headers) => new Ollama({ host, headers });
const messages = [{ role: 'user', content: 'Hello' }];
const reply = 'Hello from the mock upstream.';
const weatherArgs = { location: 'Paris, France', unit: 'celsius' };
const tools = [{
    type: 'function',
    function: {
        name: 'get_weather',
        description: 'The weather at a place',
        parameters: {
            type: 'object',
            properties: { location: { type: 'string' },
                          unit: { type: 'string' } },
            required: ['location'],
        },
    },
}];

const isCount = (v) => Number.isInteger(v) && v >= 0;

// The last object of an answer: done, why, and the token counts.
function checkFinal(r, what) {
    eq(r.done, true, `${what}: done`);
    eq(r.done_reason, 'stop', `${what}: done_reason`);
    assert(isCount(r.prompt_eval_count) && r.prompt_eval_count > 0,
           `${what}: prompt_eval_count ${r.prompt_eval_count}`);
    assert(isCount(r.eval_count) && r.eval_count > 0,
           `${what}: eval_count ${r.eval_count}`);
    assert(isCount(r.total_duration),
           `${what}: total_duration ${r.total_duration}`);
    assert(typeof r.created_at === 'string'
           && !Number.isNaN(Date.parse(r.created_at)),
           `${what}: created_at ${r.created_at}`);
}

// Reads a streamed answer: the parts before the last are not done.
async function collect(stream, field) {
    const parts = [];
    for await (const part of stream) {
        parts.push(part);
    }
    assert(parts.length >= 2, `parts: ${parts.length}`);
    parts.slice(0, -1).forEach((p, i) => eq(p.done, false, `part ${i} done`));
    const text = parts.map((p) => field(p) || '').join('');
    return { parts, text, last: parts[parts.length - 1] };
}

for (const [model, behind] of [['mock-chat', 'vLLM'],
                               ['claude-chat', 'Anthropic']]) {
    await test(`chat on ${model} (${behind} behind)`, async () => {
        const r = await client.chat({ model, messages });
        eq(r.model, model, 'model');
        eq(r.message.role, 'assistant', 'role');
        eq(r.message.content, reply, 'content');
        eq(r.message.tool_calls, undefined, 'no tool_calls');
        checkFinal(r, 'answer');
    });

    await test(`chat with stream: true on ${model} (${behind} behind)`,
               async () => {
        const stream = await client.chat({ model, messages, stream: true });
        const { parts, text, last } = await collect(stream,
                                                    (p) => p.message.content);
        eq(text, reply, 'streamed content');
        parts.forEach((p, i) => {
            eq(p.model, model, `part ${i} model`);
            eq(p.message.role, 'assistant', `part ${i} role`);
        });
        assert(parts.filter((p) => p.message.content).length >= 3,
               'the text comes in 3 pieces');
        checkFinal(last, 'last part');
    });
}

await test('chat with stream: true: X-Mock-Content and X-Mock-Chunks reach '
           + 'the provider', async () => {
    const stream = await withKnobs({ 'X-Mock-Content': 'one two three four',
                                     'X-Mock-Chunks': '4' })
        .chat({ model: 'mock-chat', messages, stream: true });
    const { parts, text, last } = await collect(stream,
                                                (p) => p.message.content);
    eq(text, 'one two three four', 'streamed content');
    eq(parts.filter((p) => p.message.content).length, 4, 'pieces');
    checkFinal(last, 'last part');
});

await test('chat with think on mock-chat: reasoning becomes message.thinking',
           async () => {
    const r = await withKnobs({ 'X-Mock-Think': 'Let me think.' })
        .chat({ model: 'mock-chat', messages, think: true });
    eq(r.message.thinking, 'Let me think.', 'thinking');
    eq(r.message.content, reply, 'content');
    checkFinal(r, 'answer');
});

await test('generate on mock-chat (vLLM behind)', async () => {
    const r = await client.generate({ model: 'mock-chat', prompt: 'Hello' });
    eq(r.model, 'mock-chat', 'model');
    eq(r.response, reply, 'response');
    checkFinal(r, 'answer');
});

await test('generate with stream: true on mock-chat (vLLM behind)',
           async () => {
    const stream = await client.generate({ model: 'mock-chat',
                                           prompt: 'Hello', stream: true });
    const { parts, text, last } = await collect(stream, (p) => p.response);
    eq(text, reply, 'streamed response');
    parts.forEach((p, i) => eq(p.model, 'mock-chat', `part ${i} model`));
    assert(parts.filter((p) => p.response).length >= 3,
           'the text comes in 3 pieces');
    checkFinal(last, 'last part');
});

for (const [model, behind] of [['mock-embed', 'LM Studio'],
                               ['ollama-embed', 'Ollama']]) {
    await test(`embed on ${model} (${behind} behind)`, async () => {
        const r = await client.embed({ model, input: ['first', 'second'] });
        assert(typeof r.model === 'string' && r.model, `model ${r.model}`);
        assert(Array.isArray(r.embeddings), 'embeddings is an array');
        eq(r.embeddings.length, 2, 'one embedding per input');
        for (const v of r.embeddings) {
            assert(Array.isArray(v) && v.length === 8
                   && v.every(Number.isFinite), 'vector of 8 numbers');
            const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
            assert(Math.abs(norm - 1) < 1e-3, `normalized: ${norm}`);
        }
        assert(JSON.stringify(r.embeddings[0])
               !== JSON.stringify(r.embeddings[1]), 'inputs differ');
        assert(isCount(r.prompt_eval_count), 'prompt_eval_count');
    });
}

await test('embed: the same vectors whichever dialect is behind', async () => {
    const a = await client.embed({ model: 'mock-embed', input: 'same text' });
    const b = await client.embed({ model: 'ollama-embed', input: 'same text' });
    eq(a.embeddings.length, 1, 'one embedding');
    a.embeddings[0].forEach((x, i) => assert(
        Math.abs(x - b.embeddings[0][i]) < 1e-6, `component ${i}`));
});

await test('embeddings (legacy /api/embeddings) on mock-embed', async () => {
    const r = await client.embeddings({ model: 'mock-embed',
                                        prompt: 'first' });
    assert(Array.isArray(r.embedding) && r.embedding.length === 8
           && r.embedding.every(Number.isFinite), 'vector of 8 numbers');
});

await test('list', async () => {
    const r = await client.list();
    assert(Array.isArray(r.models), 'models is an array');
    const names = r.models.map((m) => m.name);
    for (const want of ['mock-chat', 'vllm-tools', 'ollama-chat',
                        'ollama-embed', 'claude-chat', 'mock-embed']) {
        assert(names.includes(want), `${want} listed in ${names}`);
    }
    assert(!names.includes('not-active'), 'inactive model not listed');
    for (const m of r.models) {
        assert(typeof m.name === 'string' && m.name, 'name');
        eq(m.model, m.name, `${m.name}: model`);
        assert(typeof m.details === 'object' && m.details, 'details');
        assert(!Number.isNaN(Date.parse(m.modified_at)), 'modified_at');
    }
});

await test('show', async () => {
    const r = await client.show({ model: 'mock-chat' });
    assert(typeof r.details === 'object' && r.details, 'details');
    eq(typeof r.details.family, 'string', 'details.family');
    assert(Array.isArray(r.capabilities)
           && r.capabilities.includes('completion')
           && !r.capabilities.includes('embedding'),
           `capabilities ${JSON.stringify(r.capabilities)}`);
});

await test('show of an embedding model', async () => {
    const r = await client.show({ model: 'mock-embed' });
    eq(r.capabilities, ['embedding'], 'capabilities');
});

await test('show of an unknown model: ResponseError 404', async () => {
    try {
        await client.show({ model: 'no-such-model' });
    } catch (e) {
        eq(e.name, 'ResponseError', 'error class');
        eq(e.status_code, 404, 'status');
        return;
    }
    throw new Error('no error');
});

await test('version', async () => {
    const r = await client.version();
    assert(/^\d+\.\d+\.\d+/.test(r.version), `version ${r.version}`);
});

await test('chat with tools on vllm-tools: a tool call', async () => {
    const r = await withKnobs({ 'X-Mock-Tool': 'get_weather' })
        .chat({ model: 'vllm-tools', messages, tools });
    eq(r.message.role, 'assistant', 'role');
    eq(r.message.content, '', 'content');
    assert(Array.isArray(r.message.tool_calls), 'tool_calls is an array');
    eq(r.message.tool_calls.length, 1, 'one tool call');
    const fn = r.message.tool_calls[0].function;
    eq(fn.name, 'get_weather', 'function.name');
    eq(typeof fn.arguments, 'object', 'arguments type');
    eq(fn.arguments, weatherArgs, 'arguments');
    checkFinal(r, 'answer');
});

await test('chat with tools and stream: true on vllm-tools', async () => {
    const stream = await withKnobs({ 'X-Mock-Tool': 'get_weather' })
        .chat({ model: 'vllm-tools', messages, tools, stream: true });
    const { parts, last } = await collect(stream, (p) => p.message.content);
    const calls = parts.flatMap((p) => p.message.tool_calls || []);
    eq(calls.length, 1, 'one tool call in the stream');
    eq(calls[0].function.name, 'get_weather', 'function.name');
    eq(calls[0].function.arguments, weatherArgs, 'arguments (an object)');
    checkFinal(last, 'last part');
});

await test('chat with tools on ollama-chat: the same dialect behind',
           async () => {
    const r = await withKnobs({ 'X-Mock-Tool': 'get_weather' })
        .chat({ model: 'ollama-chat', messages, tools });
    const fn = r.message.tool_calls[0].function;
    eq(fn.name, 'get_weather', 'function.name');
    eq(fn.arguments, weatherArgs, 'arguments');
});

await test('chat on an unknown model: ResponseError 404', async () => {
    try {
        await client.chat({ model: 'no-such-model', messages });
    } catch (e) {
        eq(e.name, 'ResponseError', 'error class');
        eq(e.status_code, 404, 'status');
        eq(e.error,
           "The model 'no-such-model' does not exist or is not active.",
           'message (from the Ollama {"error": ...} body)');
        return;
    }
    throw new Error('no error');
});

await test('stream on an unknown model: ResponseError 404 before iterating',
           async () => {
    try {
        await client.generate({ model: 'no-such-model', prompt: 'Hello',
                                stream: true });
    } catch (e) {
        eq(e.name, 'ResponseError', 'error class');
        eq(e.status_code, 404, 'status');
        return;
    }
    throw new Error('no error');
});

done();
