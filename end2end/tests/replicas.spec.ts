import { test, expect } from './fixtures/test';
import type { APIRequestContext, Page } from '@playwright/test';
import { DefaultChatTransport, type UIMessage, type UIMessageChunk } from 'ai';
import {
  NGINX_REPLICAS_URL,
  NGINX_RESUME_URL,
  REPLICAS,
  RESUME_REPLICAS,
  SLOW_ECHO_MODEL,
} from '../playwright.config';

/**
 * The hosted chat on two replicas sharing Redis, behind nginx round robin
 * that ignores client aborts, over HTTP/1.1, with a model that thinks for
 * 10 s: with nothing to write, nginx keeps its connection to Reins when the
 * browser aborts, so the model stops only if the stop request reaches the
 * replica holding the stream, wherever nginx sends it.
 */
test.use({ ignoreHTTPSErrors: true });

/** A prompt the echo model thinks about for 10 s before echoing it. */
function thinkingPrompt(tag: string) {
  return `think first: ${tag} ${Date.now()}`;
}

/** Whether the echo model saw its connection for `prompt` close early. */
async function modelStopped(request: APIRequestContext, prompt: string) {
  const closed: { prompt: string }[] = await (await request.get(`${SLOW_ECHO_MODEL}/closed`)).json();
  return closed.some((entry) => entry.prompt === prompt);
}

/** The sum of one counter over `replicas`, from their metrics. */
async function counted(request: APIRequestContext, replicas: string[], metric: string) {
  let total = 0;
  for (const replica of replicas) {
    const metrics = await (await request.get(`${replica}/metrics`)).text();
    const line = metrics.split('\n').find((line) => line.startsWith(`${metric} `));
    total += Number(line?.slice(metric.length + 1) ?? 0);
  }
  return total;
}

/** Stops passed on by each replica to the other. */
const stopsPassedOn = (request: APIRequestContext) =>
  counted(request, REPLICAS, 'reins_stops_passed_on_total');

/**
 * Sends `prompt` and waits until the page holds the reply's id (from its
 * `start` part; seen in the chat as saved, which follows every change):
 * without it, nothing can stop the reply behind a proxy that ignores the
 * browser's abort. (The wait here was a fixed 200 ms after the response
 * head, which a loaded machine does not promise: a CI run once found the
 * model not stopped after a reload.)
 */
async function ask(page: Page, chat: { sendMessage(text: string): Promise<void> }, prompt: string) {
  await chat.sendMessage(prompt);
  await expect
    .poll(() =>
      page.evaluate((prompt) => {
        for (const saved of Object.values(localStorage)) {
          try {
            const messages: { text: string; server_id: string | null }[] = JSON.parse(saved).messages;
            const asked = messages.findIndex((message) => message.text === prompt);
            if (asked >= 0 && messages[asked + 1]?.server_id) return true;
          } catch {
            // Not a saved chat.
          }
        }
        return false;
      }, prompt),
    )
    .toBe(true);
}

test('Stop reaches the model by the stop request alone, through either replica, with its receipt', async ({
  chat,
  page,
}) => {
  await chat.goto(NGINX_REPLICAS_URL);
  const passedOnBefore = await stopsPassedOn(page.request);
  for (const round of [1, 2, 3]) {
    const prompt = thinkingPrompt(`stop ${round}`);
    await ask(page, chat, prompt);
    await chat.stop.click();
    const reply = chat.lastReply();
    await expect(reply).toHaveAttribute('data-status', 'stopped');
    await expect.poll(() => modelStopped(page.request, prompt)).toBe(true);
    await expect(reply.locator('.reins-receipt')).toHaveText(
      /^Stopped after 0 tokens relayed; the model API's connection was closed (under 1|\d+) ms after your stop reached the server\.$/,
    );
  }
  // Round robin sent at least one of the stops to the replica that did not
  // hold the stream (in practice every one: each stop follows its chat).
  expect(await stopsPassedOn(page.request)).toBeGreaterThan(passedOnBefore);
});

test('a reload mid-reply marks the reply stopped and stops the model', async ({ chat, page }) => {
  await chat.goto(NGINX_REPLICAS_URL);
  const prompt = thinkingPrompt('reload');
  await ask(page, chat, prompt);
  await page.reload();
  await expect(page.locator('.reins-chat')).toHaveAttribute('data-ready', 'true');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
  // The page sent the stop as it went: nginx kept its connection to Reins.
  await expect.poll(() => modelStopped(page.request, prompt)).toBe(true);
});

/** Replies resumed by the replicas with the resume window on. */
const repliesResumed = (request: APIRequestContext) =>
  counted(request, RESUME_REPLICAS, 'reins_replies_resumed_total');

test('with the resume window on, a reload mid-reply resumes the reply to its end', async ({ chat, page }) => {
  await chat.goto(NGINX_RESUME_URL);
  const resumedBefore = await repliesResumed(page.request);
  // Forty words, 100 ms apart: four seconds of reply.
  const words = Array.from({ length: 40 }, (_, index) => `w${index}`);
  const prompt = `resume ${Date.now()} ${words.join(' ')}`;
  await chat.sendMessage(prompt);
  await expect.poll(() => chat.lastReplyText()).toContain('w3');
  await page.reload();
  await expect(page.locator('.reins-chat')).toHaveAttribute('data-ready', 'true');
  // Stop is offered while the resumed reply streams, and it streams to the end.
  await expect(chat.stop).toBeVisible();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'done', { timeout: 15_000 });
  expect((await chat.lastReplyText()).trim()).toBe(prompt);
  // Resumed by a replica (either: nginx takes them in turn), and the model
  // was never stopped: no stop went out as the page went away.
  expect(await repliesResumed(page.request)).toBe(resumedBefore + 1);
  expect(await modelStopped(page.request, prompt)).toBe(false);
});

test('with the resume window on, Stop after a reload still stops the model at once', async ({ chat, page }) => {
  await chat.goto(NGINX_RESUME_URL);
  const words = Array.from({ length: 80 }, (_, index) => `w${index}`);
  const prompt = `resume stop ${Date.now()} ${words.join(' ')}`;
  await chat.sendMessage(prompt);
  await expect.poll(() => chat.lastReplyText()).toContain('w3');
  await page.reload();
  await expect.poll(() => chat.lastReplyText()).toContain('w6');
  await chat.stop.click();
  const reply = chat.lastReply();
  await expect(reply).toHaveAttribute('data-status', 'stopped');
  await expect.poll(() => modelStopped(page.request, prompt)).toBe(true);
  await expect(reply.locator('.reins-receipt')).toHaveText(/^Stopped after \d+ tokens relayed;/);
});

/** Every part of `stream`, read to its end. */
async function readAll(stream: ReadableStream<UIMessageChunk>): Promise<UIMessageChunk[]> {
  const parts: UIMessageChunk[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return parts;
    parts.push(value);
  }
}

test("the AI SDK's own client resumes a kept reply by its chat's id, on either replica", async ({ page }) => {
  // The transport `useChat({ resume: true })` runs, against each replica
  // directly: the reply is asked of one and resumed from the other.
  const [first, second] = RESUME_REPLICAS.map(
    (replica) => new DefaultChatTransport<UIMessage>({ api: `${replica}/api/chat` }),
  );
  const chatId = `sdk-${Date.now()}`;
  const words = Array.from({ length: 30 }, (_, index) => `w${index}`);
  const prompt = `resume sdk ${Date.now()} ${words.join(' ')}`;
  const leave = new AbortController();
  const stream = await first.sendMessages({
    chatId,
    trigger: 'submit-message',
    messageId: undefined,
    messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: prompt }] }],
    abortSignal: leave.signal,
  });
  const reader = stream.getReader();
  let deltas = 0;
  while (deltas < 3) {
    const { value } = await reader.read();
    if (value?.type === 'text-delta') deltas += 1;
  }
  // The page goes away mid-reply.
  leave.abort();
  await reader.cancel().catch(() => {});

  const resumed = await second.reconnectToStream({ chatId });
  expect(resumed).not.toBeNull();
  const parts = await readAll(resumed!);
  const text = parts.flatMap((part) => (part.type === 'text-delta' ? [part.delta] : [])).join('');
  expect(text.trim()).toBe(prompt);
  expect(parts[0].type).toBe('start');
  expect(parts[parts.length - 1].type).toBe('finish');
  expect(await modelStopped(page.request, prompt)).toBe(false);

  // A chat with no kept reply: the protocol's "nothing to resume".
  expect(await second.reconnectToStream({ chatId: `none-${Date.now()}` })).toBeNull();
});
