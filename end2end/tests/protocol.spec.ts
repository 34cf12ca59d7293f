import { test, expect } from '@playwright/test';
import { DefaultChatTransport, readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import { ALLOWED_SITE, FAST_URL, NGINX_JWT_REINS, PACED_URL } from '../playwright.config';

/**
 * The Reins server as a backend for the AI SDK: its stream is read here by the
 * `ai` package's own transport and reader, the code `useChat` runs, with no
 * browser involved.
 */

const userMessage = (text: string): UIMessage => ({
  id: 'u1',
  role: 'user',
  parts: [{ type: 'text', text }],
});

/** The request id (`x-request-id`) of the last chat response `send` received. */
let lastRequestId = '';

async function send(base: string, text: string, abortSignal?: AbortSignal) {
  const transport = new DefaultChatTransport<UIMessage>({
    api: `${base}/api/chat`,
    // The transport's own fetch, watched: the demo model shows a generation
    // only to whoever has its request id.
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      lastRequestId = response.headers.get('x-request-id') ?? '';
      return response;
    },
  });
  return transport.sendMessages({
    chatId: 'compat',
    trigger: 'submit-message',
    messageId: undefined,
    messages: [userMessage(text)],
    abortSignal,
  });
}

/** The text of a stream, from its raw `text-delta` frames, read without the AI SDK. */
async function rawText(base: string, text: string): Promise<string> {
  const response = await fetch(`${base}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: text }] }),
  });
  return (await response.text())
    .split('\n\n')
    .filter((frame) => frame.startsWith('data: {'))
    .map((frame) => JSON.parse(frame.slice('data: '.length)))
    .filter((part) => part.type === 'text-delta')
    .map((part) => part.delta)
    .join('');
}

test('the AI SDK reads a whole reply from /api/chat', async () => {
  const prompt = 'Hello from the AI SDK';
  const errors: unknown[] = [];
  let message: UIMessage | undefined;
  for await (const snapshot of readUIMessageStream({
    stream: await send(FAST_URL, prompt),
    onError: (error) => errors.push(error),
  })) {
    message = snapshot;
  }

  expect(errors).toEqual([]);
  expect(message?.role).toBe('assistant');
  expect(message?.id).toMatch(/^msg_[0-9a-f]{32}$/);
  const textParts = message!.parts.filter((part) => part.type === 'text');
  expect(textParts).toHaveLength(1);
  expect(textParts[0]).toMatchObject({ state: 'done' });
  const text = (textParts[0] as { text: string }).text;
  expect(text).toContain('Reins demo model');
  // The AI SDK's reading and a plain reading of the frames agree exactly.
  expect(text).toBe(await rawText(FAST_URL, prompt));
  // Usage arrives as the message's metadata.
  expect(message?.metadata).toMatchObject({ usage: { inputTokens: 5 } });
});

test('every part passes the AI SDK schema and the stream ends with finish', async () => {
  const reader = (await send(FAST_URL, 'Check every part')).getReader();
  const types: string[] = [];
  let finish: UIMessageChunk | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    types.push(value.type);
    if (value.type === 'finish') finish = value;
  }
  expect(types.slice(0, 3)).toEqual(['start', 'start-step', 'text-start']);
  expect(types.slice(-3)).toEqual(['text-end', 'finish-step', 'finish']);
  expect(new Set(types.slice(3, -3))).toEqual(new Set(['text-delta']));
  // The demo model counts words as tokens: three in, one per delta out.
  const deltas = types.filter((type) => type === 'text-delta').length;
  expect(finish).toEqual({
    type: 'finish',
    finishReason: 'stop',
    messageMetadata: { usage: { inputTokens: 3, outputTokens: deltas, totalTokens: 3 + deltas } },
  });
});

test("aborting the AI SDK's request stops the model", async ({ request }) => {
  const controller = new AbortController();
  const reader = (await send(PACED_URL, 'Stop me from Node', controller.signal)).getReader();
  let deltas = 0;
  while (deltas < 3) {
    const { value } = await reader.read();
    if (value?.type === 'text-delta') deltas++;
  }
  const abortedUs = Date.now() * 1000;
  controller.abort();
  await reader.read().catch(() => undefined);

  const generationUrl = `${PACED_URL}/api/demo/generations?request_id=${lastRequestId}`;
  await expect.poll(async () => (await (await request.get(generationUrl)).json()).outcome).toBe('client_closed');
  const generation = await (await request.get(generationUrl)).json();
  expect(generation.ended_at_us - abortedUs).toBeLessThan(100_000);
  expect(generation.tokens_sent).toBeLessThan(10);
});

test("the AI SDK transport's headers carry a token to a Reins that wants one", async ({ request }) => {
  const messages = [userMessage('Hello with a token')];
  const withHeaders = (headers: Record<string, string>) =>
    new DefaultChatTransport<UIMessage>({ api: `${NGINX_JWT_REINS}/api/chat`, headers }).sendMessages({
      chatId: 'jwt',
      trigger: 'submit-message',
      messageId: undefined,
      messages,
      abortSignal: undefined,
    });
  // A token from the site that signs its users' tokens (support/host-pages.mjs).
  const token = await (await request.get(`${ALLOWED_SITE}/token`)).text();
  const stream = await withHeaders({ authorization: `Bearer ${token}` });
  let text = '';
  for await (const message of readUIMessageStream({ stream })) {
    text = message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('');
  }
  expect(text.length).toBeGreaterThan(0);

  await expect(withHeaders({})).rejects.toThrow(/Sign in first/);
});
