import { test, expect } from './fixtures/test';
import type { Page } from '@playwright/test';
import { ALLOWED_SITE, NGINX_IMPOSTOR_URL, NGINX_SIGN_IN_URL, NGINX_URL, OTHER_SITE } from '../playwright.config';

/**
 * Reins deployed as the README's "Deploy" says: behind the repository's
 * nginx configuration (HTTPS, HTTP/2, a throwaway certificate), with the
 * hosted chat on nginx's origin, a logged-in site embedding a Reins that
 * wants a JWT, and the hosted chat behind that site's sign-in.
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

/** How many tokens the allowed site has signed so far. */
async function tokensIssued(page: Page): Promise<number> {
  return Number(await (await page.request.get(`${ALLOWED_SITE}/tokens-issued`)).text());
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
  const before = await tokensIssued(page);

  await ask(chat, 'First, with a fresh token');
  await expect(chat.reply).toHaveAttribute('data-status', 'done');
  // The tokens last two seconds: the first one has expired by now.
  await page.waitForTimeout(2_500);
  await ask(chat, 'Second, after the first token expired');
  await expect(chat.reply).toHaveAttribute('data-status', 'done');
  expect(await tokensIssued(page)).toBe(before + 2);
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

/**
 * The hosted chat behind the allowed site's sign-in (deploy/nginx/sign-in.conf):
 * the site's session cookie is all the page has, and nginx asks the site to
 * turn it into the token its Reins wants.
 */
test.describe("the hosted chat behind an app's sign-in", () => {
  const signIn = (page: Page) =>
    page.context().addCookies([{ name: 'session', value: 'ada', url: NGINX_SIGN_IN_URL }]);
  const hello = { messages: [{ role: 'user', content: 'Hello' }], maxOutputTokens: 2 };

  test('a visitor with no session is sent to sign in; signed in, the chat streams and stops', async ({ chat, page }) => {
    await page.goto(NGINX_SIGN_IN_URL);
    await expect(page).toHaveURL(`${ALLOWED_SITE}/sign-in?next=${NGINX_SIGN_IN_URL}/`);

    await signIn(page);
    await chat.goto(NGINX_SIGN_IN_URL);
    const before = await tokensIssued(page);
    await chat.sendMessage('Tell me about backpressure');
    const reply = chat.lastReply();
    await expect(reply).toHaveAttribute('data-status', 'streaming');
    await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(20);
    // The reply streams on the token the site gave nginx for the session.
    expect(await tokensIssued(page)).toBe(before + 1);
    await chat.stop.click();
    await expect(reply).toHaveAttribute('data-status', 'stopped');
  });

  test('a reload mid-reply resumes the reply on a token for the session', async ({ chat, page }) => {
    await signIn(page);
    await chat.goto(NGINX_SIGN_IN_URL);
    await chat.sendMessage('Tell me about backpressure');
    await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(20);
    const resumed = page.waitForResponse((response) => response.url().endsWith('/stream'));
    await page.reload();
    expect((await resumed).status()).toBe(200);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done', { timeout: 15_000 });
  });

  test('when the session ends, Stop still reaches Reins, and the next message says to sign in again', async ({ chat, page, consoleErrors }) => {
    await signIn(page);
    await chat.goto(NGINX_SIGN_IN_URL);
    await chat.sendMessage('Tell me about backpressure');
    const reply = chat.lastReply();
    await expect(reply).toHaveAttribute('data-status', 'streaming');

    await page.context().clearCookies();
    const stopRequest = page.waitForRequest((request) => request.url().endsWith('/stop'));
    await chat.stop.click();
    await expect(reply).toHaveAttribute('data-status', 'stopped');
    // Reins' answer, not nginx's 401.
    expect((await (await stopRequest).response())?.status()).toBe(204);

    await chat.sendMessage('Still there?');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'error');
    await expect(chat.lastReply()).toContainText('Your session has ended: reload the page to sign in again.');
    expectRefusals(consoleErrors, 401);
  });

  test("only the session opens the chat, and not from another site's page: a token the browser sends is replaced", async ({ page }) => {
    const token = await (await page.request.get(`${ALLOWED_SITE}/token`)).text();
    const chat = `${NGINX_SIGN_IN_URL}/api/chat`;

    // A valid token of its own, with no session: nginx refuses.
    const refused = await page.request.post(chat, {
      headers: { authorization: `Bearer ${token}` },
      data: hello,
    });
    expect(refused.status()).toBe(401);
    expect(refused.headers()['www-authenticate']).toBe('Bearer');
    expect((await refused.json()).error).toEqual({
      code: 'unauthorized',
      message: 'Your session has ended: reload the page to sign in again.',
    });

    // A forged token with a session: nginx sends the session's instead.
    await signIn(page);
    const streamed = await page.request.post(chat, {
      headers: { authorization: 'Bearer forged' },
      data: hello,
    });
    expect(streamed.status()).toBe(200);
    expect(await streamed.text()).toContain('"type":"finish"');

    // The session is a cookie, which a browser also sends from another
    // site's page: Reins refuses pages it does not allow, so another site
    // cannot spend a signed-in visitor's session.
    const forged = await page.request.post(chat, { headers: { origin: OTHER_SITE }, data: hello });
    expect(forged.status()).toBe(403);
    expect((await forged.json()).error.code).toBe('origin_not_allowed');
  });

  test('nginx asks the app for tokens over one kept HTTPS connection, not a handshake per request', async ({ page }) => {
    // A session of its own, so only this test's token requests are counted.
    await page.context().addCookies([{ name: 'session', value: 'keptalive', url: NGINX_SIGN_IN_URL }]);
    for (let n = 0; n < 5; n++) {
      const streamed = await page.request.post(`${NGINX_SIGN_IN_URL}/api/chat`, { data: hello });
      expect(streamed.status()).toBe(200);
      await streamed.text();
    }
    const ports: number[] = await (await page.request.get(`${ALLOWED_SITE}/token-requests?session=keptalive`)).json();
    expect(ports).toHaveLength(5);
    expect(new Set(ports).size).toBe(1);
  });

  test("nginx sends a session's cookies only to the app: a server without its certificate gets nothing", async ({ page }) => {
    const before = await (await page.request.get(`${ALLOWED_SITE}/impostor`)).json();
    await page.context().addCookies([{ name: 'session', value: 'ada', url: NGINX_IMPOSTOR_URL }]);
    const shown = await page.request.get(`${NGINX_IMPOSTOR_URL}/`, { maxRedirects: 0 });
    const chat = await page.request.post(`${NGINX_IMPOSTOR_URL}/api/chat`, { data: hello });
    // nginx could not get a token: it fails the request, and never shows the page or passes the chat.
    expect(shown.status()).toBe(500);
    expect(chat.status()).toBe(500);
    const after = await (await page.request.get(`${ALLOWED_SITE}/impostor`)).json();
    expect(after.requests).toBe(before.requests);
    // nginx did connect, twice, and hung up when it saw the certificate.
    expect(after.connections).toBeGreaterThanOrEqual(before.connections + 2);
  });
});
