import { test, expect } from './fixtures/test';
import type { Page } from '@playwright/test';
import { ALLOWED_SITE, NGINX_URL } from '../playwright.config';

/**
 * Reins deployed as the README's "Deploy" says: behind the repository's
 * nginx configuration (HTTPS, HTTP/2, a throwaway certificate), with the
 * hosted chat on nginx's origin, and a logged-in site embedding a Reins that
 * wants a JWT.
 */
test.use({ ignoreHTTPSErrors: true });

test('the hosted chat streams and stops through nginx over HTTP/2', async ({ chat, page }) => {
  await chat.goto(NGINX_URL);
  const protocol = await page.evaluate(
    () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
  );
  expect(protocol).toBe('h2');

  await chat.sendMessage('Tell me about backpressure');
  const reply = chat.lastReply();
  await expect(reply).toHaveAttribute('data-status', 'streaming');
  await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(20);
  await chat.stop.click();
  await expect(reply).toHaveAttribute('data-status', 'stopped');

  // The model stopped too: nginx closed its connection to Reins, and Reins
  // dropped the model's request.
  await expect.poll(async () => (await chat.generations())[0]?.outcome).toBe('client_closed');
  const [generation] = await chat.generations();
  expect(generation.tokens_sent).toBeLessThan(200);
});

/** The `<reins-chat>` element on a JWT page of the allowed site. */
function element(page: Page, id: string) {
  const root = page.locator(`reins-chat#${id}`);
  return {
    input: root.getByRole('textbox', { name: 'Message' }),
    send: root.getByRole('button', { name: 'Send', exact: true }),
    ready: root.locator('.reins-chat[data-ready="true"]'),
    reply: root.locator('[data-role="assistant"]').last(),
    alert: root.getByRole('alert'),
  };
}

async function ask(chat: ReturnType<typeof element>, text: string) {
  await chat.input.fill(text);
  await chat.send.click();
}

/** The console errors of refused requests, which the browser logs itself. */
function expectRefusals(consoleErrors: string[], status: number) {
  const refused = consoleErrors.filter((error) => error.includes(`status of ${status}`));
  expect(refused.length).toBeGreaterThan(0);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((error) => !refused.includes(error)));
}

test('the embed streams and stops through nginx on another site, with no token needed', async ({ page }) => {
  await page.goto(`${ALLOWED_SITE}/nginx.html`);
  const chat = element(page, 'proxied');
  await expect(chat.ready).toBeVisible();
  await ask(chat, 'Tell me about backpressure');
  await expect(chat.reply).toHaveAttribute('data-status', 'streaming');
  await expect.poll(async () => ((await chat.reply.textContent()) ?? '').length).toBeGreaterThan(40);
  await page.locator('reins-chat#proxied').getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(chat.reply).toHaveAttribute('data-status', 'stopped');
});

test("an embedding site's getToken is asked before each request, so an expired token is refreshed", async ({ page }) => {
  await page.goto(`${ALLOWED_SITE}/jwt-refresh.html`);
  const chat = element(page, 'refresh');
  await expect(chat.ready).toBeVisible();
  const issued = async () => Number(await (await page.request.get(`${ALLOWED_SITE}/tokens-issued`)).text());
  const before = await issued();

  await ask(chat, 'First, with a fresh token');
  await expect(chat.reply).toHaveAttribute('data-status', 'done');
  // The tokens last two seconds: the first one has expired by now.
  await page.waitForTimeout(2_500);
  await ask(chat, 'Second, after the first token expired');
  await expect(chat.reply).toHaveAttribute('data-status', 'done');
  expect(await issued()).toBe(before + 2);
});

test('an expired token written into the page is refused with a reason', async ({ page, consoleErrors }) => {
  await page.goto(`${ALLOWED_SITE}/jwt-fixed.html`);
  const chat = element(page, 'fixed');
  await expect(chat.ready).toBeVisible();
  await ask(chat, 'Works while the token is fresh');
  await expect(chat.reply).toHaveAttribute('data-status', 'done');
  await page.waitForTimeout(2_500);
  await ask(chat, 'Refused once it expired');
  await expect(chat.reply).toHaveAttribute('data-status', 'error');
  await expect(chat.reply).toContainText('The token has expired');
  expectRefusals(consoleErrors, 401);
});

test('without a token the chat says that the server needs one', async ({ page, consoleErrors }) => {
  await page.goto(`${ALLOWED_SITE}/jwt-none.html`);
  const chat = element(page, 'none');
  await expect(chat.ready).toBeVisible();
  await ask(chat, 'Who am I?');
  await expect(chat.reply).toHaveAttribute('data-status', 'error');
  await expect(chat.reply).toContainText('Sign in first');
  expectRefusals(consoleErrors, 401);
});
