// The official clients with mod_llm_access's API keys: openai sends its
// apiKey as "Authorization: Bearer", @anthropic-ai/sdk as "x-api-key",
// ollama sends what "headers" says. A good key answers; a bad one is a
// clear 401 the client maps to its own authentication error. Usage:
//   node t/npm/access.mjs http://127.0.0.1:PORT GOOD_KEY CHAT_ONLY_KEY
import OpenAI, { AuthenticationError, PermissionDeniedError } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import { test, assert, eq, done } from './tap.mjs';

const [base, good, chatOnly] = process.argv.slice(2);
const bad = 'sk-llm-' + 'x'.repeat(48);
const messages = [{ role: 'user', content: 'Hello' }];
const openai = (apiKey) => new OpenAI({ baseURL: `${base}/v1`, apiKey,
                                        maxRetries: 0, timeout: 20000 });
const anthropic = (apiKey) => new Anthropic({ baseURL: base, apiKey,
                                              maxRetries: 0, timeout: 20000 });
const ollama = (key) => new Ollama({ host: base,
    headers: { Authorization: `Bearer ${key}` } });

// The error the client threw, or a failure when none was thrown.
async function failure(fn) {
    try {
        await fn();
    } catch (e) {
        return e;
    }
    throw new Error('no error thrown');
}

await test('openai: a good key (Bearer)', async () => {
    const r = await openai(good).chat.completions.create({
        model: 'mock-chat', messages });
    eq(r.object, 'chat.completion', 'object');
});

await test('openai: a bad key is an AuthenticationError', async () => {
    const e = await failure(() => openai(bad).chat.completions.create({
        model: 'mock-chat', messages }));
    assert(e instanceof AuthenticationError, `class ${e.constructor.name}`);
    eq(e.status, 401, 'status');
    eq(e.code, 'invalid_key', 'code');
    assert(!String(e.message).includes(bad), 'the key is not echoed');
});

await test('openai: a chat-only key on embeddings is PermissionDenied',
           async () => {
    const e = await failure(() => openai(chatOnly).embeddings.create({
        model: 'mock-embed', input: 'hi' }));
    assert(e instanceof PermissionDeniedError, `class ${e.constructor.name}`);
    eq(e.code, 'endpoint_denied_by_policy', 'code');
});

await test('anthropic: a good key (x-api-key)', async () => {
    const m = await anthropic(good).messages.create({
        model: 'claude-chat', max_tokens: 64, messages });
    eq(m.type, 'message', 'type');
});

await test('anthropic: a bad key is an AuthenticationError', async () => {
    const e = await failure(() => anthropic(bad).messages.create({
        model: 'claude-chat', max_tokens: 64, messages }));
    assert(e instanceof Anthropic.AuthenticationError,
           `class ${e.constructor.name}`);
    eq(e.status, 401, 'status');
    eq(e.error && e.error.error && e.error.error.type,
       'authentication_error', 'Anthropic error type');
});

await test('ollama: a good key in headers', async () => {
    const r = await ollama(good).chat({ model: 'ollama-chat', messages });
    eq(r.message.role, 'assistant', 'role');
});

await test('ollama: a bad key is a 401 with a message', async () => {
    const e = await failure(() => ollama(bad).chat({ model: 'ollama-chat',
                                                     messages }));
    eq(e.status_code, 401, 'status_code');
    assert(/API key/.test(e.error), `message ${e.error}`);
});

done();
