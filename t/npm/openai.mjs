// The official openai client (npm "openai") against the gateway, as an
// application would use it: base URL = the gateway's /v1, any API key
// (the gateway replaces it with the provider's). Usage:
//   node t/npm/openai.mjs http://localhost:8529/v1
import OpenAI from 'openai';
import { test, assert, eq, done } from './tap.mjs';

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: 'sk-client-key', maxRetries: 0,
                            timeout: 20000 });
const messages = [{ role: 'user', content: 'Hello' }];
const reply = 'Hello from the mock upstream.';

await test('chat.completions.create', async () => {
    const r = await client.chat.completions.create({ model: 'mock-chat',
                                                     messages });
    eq(r.object, 'chat.completion', 'object');
    eq(r.model, 'served/mock-chat', 'model answered by the provider');
    eq(r.choices[0].message.role, 'assistant', 'role');
    eq(r.choices[0].message.content, reply, 'content');
    eq(r.choices[0].finish_reason, 'stop', 'finish_reason');
    assert(r.usage.prompt_tokens > 0 && r.usage.total_tokens > 0, 'usage');
});

await test('chat.completions.create with stream: true', async () => {
    const stream = await client.chat.completions.create({
        model: 'mock-chat', messages, stream: true,
        stream_options: { include_usage: true } });
    let text = '';
    let chunks = 0;
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
        chunks++;
        eq(chunk.object, 'chat.completion.chunk', 'chunk object');
        if (chunk.choices.length) {
            text += chunk.choices[0].delta.content || '';
            finish = chunk.choices[0].finish_reason || finish;
        }
        usage = chunk.usage || usage;
    }
    eq(text, reply, 'streamed text');
    eq(finish, 'stop', 'finish_reason');
    assert(chunks >= 5, `chunks: ${chunks}`);
    assert(usage && usage.completion_tokens > 0, 'usage chunk');
});

await test('chat stream helper (runner) aggregates the message', async () => {
    const runner = client.chat.completions.stream({ model: 'mock-chat',
                                                    messages });
    const final = await runner.finalChatCompletion();
    eq(final.choices[0].message.content, reply, 'final message');
});

await test('embeddings.create (the client asks for base64)', async () => {
    const r = await client.embeddings.create({ model: 'mock-embed',
                                               input: ['first', 'second'] });
    eq(r.object, 'list', 'object');
    eq(r.data.length, 2, 'one embedding per input');
    assert(Array.isArray(r.data[0].embedding)
           && r.data[0].embedding.length === 8
           && r.data[0].embedding.every(Number.isFinite), 'float vector');
});

await test('models.list', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
        ids.push(m.id);
        eq(m.object, 'model', 'object');
    }
    assert(ids.includes('mock-chat') && ids.includes('mock-embed'),
           `ids: ${ids}`);
});

await test('completions.create (legacy)', async () => {
    const r = await client.completions.create({ model: 'mock-chat',
                                                prompt: 'Once upon' });
    eq(r.object, 'text_completion', 'object');
    eq(r.choices[0].text, reply, 'text');
});

await test('responses.create', async () => {
    const r = await client.responses.create({ model: 'mock-chat',
                                              input: 'Hello' });
    eq(r.status, 'completed', 'status');
    eq(r.output_text, reply, 'output_text');
});

await test('responses.create with stream: true', async () => {
    const stream = await client.responses.create({ model: 'mock-chat',
                                                   input: 'Hello',
                                                   stream: true });
    let text = '';
    let completed = false;
    for await (const ev of stream) {
        if (ev.type === 'response.output_text.delta') {
            text += ev.delta;
        }
        completed ||= ev.type === 'response.completed';
    }
    eq(text, reply, 'streamed text');
    assert(completed, 'response.completed seen');
});

await test('unknown model: NotFoundError with our error body', async () => {
    try {
        await client.chat.completions.create({ model: 'no-such', messages });
        throw new Error('no error raised');
    } catch (e) {
        assert(e instanceof OpenAI.NotFoundError, `got ${e.constructor.name}`);
        eq(e.status, 404, 'status');
        eq(e.code, 'model_not_found', 'code');
        eq(e.param, 'model', 'param');
    }
});

await test('bad request: BadRequestError', async () => {
    try {
        await client.chat.completions.create({ model: 'mock-chat',
                                               messages: [] });
        throw new Error('no error raised');
    } catch (e) {
        assert(e instanceof OpenAI.BadRequestError, `got ${e.constructor.name}`);
        eq(e.status, 400, 'status');
    }
});

await test('provider down: InternalServerError 502, no hang', async () => {
    try {
        await client.chat.completions.create({ model: 'dead-model', messages });
        throw new Error('no error raised');
    } catch (e) {
        assert(e instanceof OpenAI.InternalServerError,
               `got ${e.constructor.name}`);
        eq(e.status, 502, 'status');
        eq(e.code, 'upstream_unreachable', 'code');
    }
});

await test('provider rate limit: RateLimitError passed through', async () => {
    const limited = new OpenAI({ baseURL, apiKey: 'k', maxRetries: 0,
        defaultHeaders: { 'X-Mock-Status': '429' } });
    try {
        await limited.chat.completions.create({ model: 'mock-chat', messages });
        throw new Error('no error raised');
    } catch (e) {
        assert(e instanceof OpenAI.RateLimitError, `got ${e.constructor.name}`);
        eq(e.status, 429, 'status');
    }
});

// Providers of another dialect behind the gateway: Ollama's native API
// and Anthropic's Messages API, translated both ways.
for (const model of ['ollama-chat', 'claude-chat']) {
    await test(`chat.completions.create on ${model}`, async () => {
        const r = await client.chat.completions.create({ model, messages,
                                                         max_tokens: 50 });
        eq(r.object, 'chat.completion', 'object');
        eq(r.model, model, 'the model asked for');
        eq(r.choices[0].message.content, reply, 'content');
        eq(r.choices[0].finish_reason, 'stop', 'finish_reason');
        assert(r.usage.completion_tokens === 3, 'usage');
    });
    await test(`chat stream on ${model}`, async () => {
        const stream = await client.chat.completions.create({
            model, messages, stream: true,
            stream_options: { include_usage: true } });
        let text = '';
        let usage = null;
        for await (const chunk of stream) {
            if (chunk.choices.length) {
                text += chunk.choices[0].delta.content || '';
            }
            usage = chunk.usage || usage;
        }
        eq(text, reply, 'streamed text');
        assert(usage && usage.completion_tokens === 3, 'usage chunk');
    });
    await test(`tool call on ${model}`, async () => {
        const r = await client.chat.completions.create({
            model, messages, tools: [{ type: 'function', function: {
                name: 'get_weather', parameters: { type: 'object' } } }] },
            { headers: { 'X-Mock-Tool': 'get_weather' } });
        const call = r.choices[0].message.tool_calls[0];
        eq(call.function.name, 'get_weather', 'tool name');
        eq(typeof JSON.parse(call.function.arguments), 'object', 'arguments');
        eq(r.choices[0].finish_reason, 'tool_calls', 'finish_reason');
    });
}

await test('embeddings.create on an Ollama provider', async () => {
    const r = await client.embeddings.create({ model: 'ollama-embed',
                                               input: ['a', 'b'] });
    eq(r.data.length, 2, 'one embedding per input');
    assert(Array.isArray(r.data[0].embedding)
           && r.data[0].embedding.length > 0, 'vectors (decoded from base64)');
});

await test('a provider that only streams, a client that does not', async () => {
    const r = await client.chat.completions.create(
        { model: 'ollama-chat', messages },
        { headers: { 'X-Mock-Stream-Mode': 'always' } });
    eq(r.choices[0].message.content, reply, 'aggregated by the gateway');
});

await test('a provider that never streams, a client that does', async () => {
    const stream = await client.chat.completions.create(
        { model: 'ollama-chat', messages, stream: true },
        { headers: { 'X-Mock-Stream-Mode': 'never' } });
    let text = '';
    for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content || '';
    }
    eq(text, reply, 'split into chunks by the gateway');
});

done();
