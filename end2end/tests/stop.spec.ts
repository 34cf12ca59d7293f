import { test, expect } from './fixtures/test';
import { nowUs } from './fixtures/chat-page';
import { FAST_URL } from '../playwright.config';

/** The model must be stopped this soon after the click, in microseconds. */
const STOP_BUDGET_US = 100_000;

/** Lets the browser run long enough for any late bytes to land, had they been let through. */
const SETTLE_MS = 1_000;

test.beforeEach(async ({ chat }) => {
  await chat.goto();
});

test('a reply streams in, and the button turns into Stop before the first token', async ({ chat }) => {
  await chat.sendMessage('Tell me about streaming');

  // Stop is offered from the moment of submitting, before any text arrives.
  await expect(chat.stop).toBeVisible();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'pending');
  await expect(chat.lastReplyText()).resolves.toBe('');

  await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
  const early = await chat.lastReplyText();
  await expect.poll(() => chat.lastReplyText()).not.toBe(early);
  // Not "only ever appended": rendered Markdown may change as it completes
  // (`**bold` shows its asterisks until the closing `**` arrives).
  await expect(chat.replyBody(chat.lastReply())).toContainText('You wrote: Tell me about streaming');
  await expect(chat.log.locator('[data-role="user"] .reins-text')).toHaveText('Tell me about streaming');
});

test('Stop mid-stream freezes the text, marks it stopped, and stops the model', async ({ chat, page }) => {
  await chat.recordClickTimes();
  const sentAt = nowUs();
  const sendBox = await chat.send.boundingBox();
  await chat.sendMessage('Explain why stopping matters');
  await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(60);

  // The toggle sits still while the text streams beside it.
  expect(await chat.stop.boundingBox()).toEqual(sendBox);

  const stopRequest = page.waitForRequest((request) => /\/api\/chat\/msg_[0-9a-f]{32}\/stop$/.test(request.url()));
  await chat.stop.click();
  const clickedUs = await chat.lastClickUs();
  const textAtStop = await chat.lastReplyText();
  // Besides aborting, the component asks the server to stop the reply by id,
  // for proxies that keep the upstream connection open.
  expect((await stopRequest).method()).toBe('POST');

  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
  await expect(chat.lastReply().getByText('Stopped', { exact: true })).toBeVisible();
  await expect(chat.send).toBeVisible();
  await expect(chat.input).toBeFocused();

  // Nothing that was already in flight may still land.
  await page.waitForTimeout(SETTLE_MS);
  expect(await chat.lastReplyText()).toBe(textAtStop);
  expect(textAtStop.length).toBeGreaterThan(60);

  const generation = await chat.endedGeneration(sentAt);
  expect(generation.outcome).toBe('client_closed');
  const stoppedAfterUs = generation.ended_at_us! - clickedUs;
  console.log(`click to model stop: ${(stoppedAfterUs / 1000).toFixed(1)} ms after ${generation.tokens_sent} tokens`);
  expect(stoppedAfterUs).toBeGreaterThan(-5_000); // clock noise only: it cannot stop before the click
  expect(stoppedAfterUs).toBeLessThan(STOP_BUDGET_US);
  // The model stopped long before the end of its ~300-token reply.
  expect(generation.tokens_sent).toBeLessThan(150);
});

test('Stop before the first token stops the model while it is thinking', async ({ chat, page }) => {
  await chat.recordClickTimes();
  const sentAt = nowUs();
  await chat.sendMessage('Think hard about this');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'pending');
  // Give the request time to reach the model, which thinks for 1.5 s.
  await expect.poll(async () => (await chat.generations())[0]?.started_at_us ?? 0).toBeGreaterThan(sentAt);

  await chat.stop.click();
  const clickedUs = await chat.lastClickUs();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
  await expect(chat.send).toBeVisible();

  // Well past the model's first token, had it not been stopped.
  await page.waitForTimeout(1_500 + SETTLE_MS);
  expect(await chat.lastReplyText()).toBe('');

  const generation = await chat.endedGeneration(sentAt);
  expect(generation.outcome).toBe('client_closed');
  expect(generation.tokens_sent).toBe(0);
  expect(generation.ended_at_us! - clickedUs).toBeLessThan(STOP_BUDGET_US);
});

test('Esc stops the reply', async ({ chat, page }) => {
  const sentAt = nowUs();
  await chat.sendMessage('Escape hatch');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
  await expect(chat.input).toBeFocused();

  await page.keyboard.press('Escape');
  const textAtStop = await chat.lastReplyText();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
  await page.waitForTimeout(SETTLE_MS);
  expect(await chat.lastReplyText()).toBe(textAtStop);
  expect((await chat.endedGeneration(sentAt)).outcome).toBe('client_closed');
});

test('the user can send again at once after Stop, and the stopped reply stays', async ({ chat, page }) => {
  await chat.sendMessage('First question');
  await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(20);
  await chat.stop.click();
  const stoppedReply = chat.log.locator('[data-role="assistant"]').first();
  await expect(stoppedReply).toHaveAttribute('data-status', 'stopped');
  const stoppedText = await chat.replyBody(stoppedReply).textContent();

  // Enter sends, Shift+Enter makes a new line.
  await chat.input.pressSequentially('Second');
  await page.keyboard.press('Shift+Enter');
  await chat.input.pressSequentially('question');
  await page.keyboard.press('Enter');

  const question = chat.log.locator('[data-role="user"]').last().locator('.reins-text');
  await expect.poll(() => question.textContent()).toBe('Second\nquestion');
  await expect(chat.input).toHaveValue('');
  await expect(chat.stop).toBeVisible();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
  await expect(stoppedReply).toHaveAttribute('data-status', 'stopped');
  await expect(chat.replyBody(stoppedReply)).toHaveText(stoppedText!);
  await chat.stop.click();
});

test('a reply that runs to the end is marked done', async ({ chat }) => {
  await chat.goto(FAST_URL);
  await chat.sendMessage('Finish this one');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
  await expect(chat.send).toBeVisible();
  expect(await chat.lastReplyText()).toContain('That is all the demo model has to say');
  const [generation] = await chat.generations();
  expect(generation.outcome).toBe('completed');
});

test('Send is disabled until there is something to send', async ({ chat }) => {
  await expect(chat.send).toBeDisabled();
  await chat.input.fill('   ');
  await expect(chat.send).toBeDisabled();
  await chat.input.fill('Hello');
  await expect(chat.send).toBeEnabled();
});
