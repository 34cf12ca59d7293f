import { test, expect } from './fixtures/test';
import type { Page } from '@playwright/test';
import { generationsFor, recordRequestIds, type Generation } from './fixtures/chat-page';
import { ALLOWED_SITE, EMBED_URL, OTHER_SITE, SLOW_ECHO_MODEL } from '../playwright.config';

/** The elements' shadow roots are open: Playwright's locators reach inside. */
const element = (page: Page, id: string) => {
  const root = page.locator(`reins-chat#${id}`);
  return {
    root,
    input: root.getByRole('textbox', { name: 'Message' }),
    send: root.getByRole('button', { name: 'Send', exact: true }),
    stop: root.getByRole('button', { name: 'Stop', exact: true }),
    reply: root.locator('[data-role="assistant"]').last(),
    ready: root.locator('.reins-chat[data-ready="true"]'),
  };
};

/** The request ids of each page's chat requests, recorded from the start. */
const requestIds = new WeakMap<Page, string[]>();
test.beforeEach(({ page }) => {
  requestIds.set(page, recordRequestIds(page));
});

async function generations(page: Page): Promise<Generation[]> {
  return generationsFor(page.request, EMBED_URL, requestIds.get(page) ?? []);
}

test('two chats on another site stream at once, and stopping one leaves the other running', async ({ page }) => {
  await page.goto(`${ALLOWED_SITE}/two.html`);
  const first = element(page, 'first');
  const second = element(page, 'second');
  await expect(first.ready).toBeVisible();
  await expect(second.ready).toBeVisible();
  await expect(first.root.getByRole('heading', { name: 'Chat first' })).toBeVisible();
  await expect(first.input).toHaveAttribute('placeholder', 'Ask first');

  await first.input.fill('Hello from the first');
  await first.send.click();
  await second.input.fill('Hello from the second');
  await second.send.click();
  await expect(first.reply).toHaveAttribute('data-status', 'streaming');
  await expect(second.reply).toHaveAttribute('data-status', 'streaming');

  await first.stop.click();
  await expect(first.reply).toHaveAttribute('data-status', 'stopped');
  const secondText = await second.reply.textContent();
  await expect.poll(() => second.reply.textContent()).not.toBe(secondText);
  await expect(second.reply).toHaveAttribute('data-status', 'streaming');

  // The demo model saw one of its two generations closed by its client.
  await expect.poll(async () => (await generations(page)).slice(0, 2).map((g) => g.outcome).sort())
    .toEqual(['client_closed', 'running']);

  // The page heard about it.
  const events = await page.evaluate(() => (window as any).reinsEvents);
  expect(events).toContainEqual(expect.objectContaining({ name: 'reins-status', id: 'first', detail: { status: 'submitted' } }));
  expect(events).toContainEqual(
    expect.objectContaining({ name: 'reins-finish', id: 'first', detail: expect.objectContaining({ stopped: true }) }),
  );
  await second.stop.click();
});

test("the host page's CSS cannot restyle the chat", async ({ page }) => {
  await page.goto(`${ALLOWED_SITE}/one.html`);
  const only = element(page, 'only');
  await expect(only.ready).toBeVisible();
  await only.input.fill('Styled?');
  // `button { display: none !important }` on the host page: still visible.
  await expect(only.send).toBeVisible();
  await expect(only.send).not.toHaveCSS('background-color', 'rgb(255, 0, 0)');
  await expect(only.input).not.toHaveCSS('color', 'rgb(0, 128, 0)');
  await expect(only.input).not.toHaveCSS('font-family', 'serif');
});

test('send() and stop() drive the element from the page', async ({ page }) => {
  await page.goto(`${ALLOWED_SITE}/one.html`);
  const only = element(page, 'only');
  await expect(only.ready).toBeVisible();
  await page.evaluate(() => (document.getElementById('only') as any).send('Sent by the page'));
  await expect(only.root.locator('[data-role="user"]')).toContainText('Sent by the page');
  await expect(only.reply).toHaveAttribute('data-status', 'streaming');
  await page.evaluate(() => (document.getElementById('only') as any).stop());
  await expect(only.reply).toHaveAttribute('data-status', 'stopped');
});

test('removing the element aborts its request and stops the model', async ({ page }) => {
  await page.goto(`${ALLOWED_SITE}/one.html`);
  const only = element(page, 'only');
  await expect(only.ready).toBeVisible();
  await only.input.fill('Remove me while I talk');
  await only.send.click();
  await expect(only.reply).toHaveAttribute('data-status', 'streaming');
  const removedAtUs = await page.evaluate(() => {
    document.getElementById('only')!.remove();
    return Math.round((performance.timeOrigin + performance.now()) * 1000);
  });
  await expect.poll(async () => (await generations(page))[0]?.outcome).toBe('client_closed');
  const [generation] = await generations(page);
  expect(generation.ended_at_us! - removedAtUs).toBeLessThan(100_000);
});

test('a site not on the list is refused, and the element says why', async ({ page, consoleErrors }) => {
  await page.goto(`${OTHER_SITE}/one.html`);
  const refusal = page.locator('reins-chat#only').getByRole('alert');
  await expect(refusal).toContainText(`does not accept requests from ${OTHER_SITE}`);
  await expect(refusal).toContainText('REINS_ALLOWED_ORIGINS');
  const events = await page.evaluate(() => (window as any).reinsEvents);
  expect(events).toContainEqual(expect.objectContaining({ name: 'reins-error', id: 'only' }));
  // And the API itself refuses that origin.
  const response = await page.evaluate(async (url) => {
    const r = await fetch(`${url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }] }),
    });
    return { status: r.status, body: await r.json() };
  }, EMBED_URL);
  expect(response.status).toBe(403);
  expect(response.body.error.code).toBe('origin_not_allowed');
  // The browser logs each refused request; those, and only those, are expected.
  const refused = consoleErrors.filter((error) => error.includes('status of 403'));
  expect(refused.length).toBeGreaterThan(0);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((error) => !refused.includes(error)));
});

test('the chat streams from an AI SDK backend (streamText) and stops it', async ({ page, request }) => {
  await page.goto(`${ALLOWED_SITE}/ai-sdk.html`);
  const chat = element(page, 'aisdk');
  await expect(chat.ready).toBeVisible();
  const prompt = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
  await chat.input.fill(prompt);
  await chat.send.click();
  await expect(chat.reply).toHaveAttribute('data-status', 'streaming');
  await expect(chat.reply).toContainText('word0 word1 word2');
  await chat.stop.click();
  const stoppedAt = Date.now();
  await expect(chat.reply).toHaveAttribute('data-status', 'stopped');
  const text = await chat.reply.locator('.reins-markdown').textContent();
  expect(text!.length).toBeLessThan(prompt.length);

  // The backend passed the abort on: its model saw the connection close early.
  await expect
    .poll(async () => (await (await request.get(`${SLOW_ECHO_MODEL}/closed`)).json()).map((c: any) => c.prompt))
    .toContain(prompt);
  const closed = (await (await request.get(`${SLOW_ECHO_MODEL}/closed`)).json()).find((c: any) => c.prompt === prompt);
  expect(closed.at - stoppedAt).toBeLessThan(500);
});
