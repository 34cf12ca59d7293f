import { test, expect } from './fixtures/test';

test('the page names its files by their content; they are compressed and cached for good; the page runs under its CSP', async ({ chat, page, request }) => {
  const html = await request.get('/');
  expect(html.headers()['content-security-policy']).toContain("script-src 'self' 'nonce-");
  const names = (await html.text()).match(/\/pkg\/reins\.[0-9A-Za-z_-]+\.(js|wasm|css)/g) ?? [];
  expect(new Set(names.map((name) => name.split('.').pop()))).toEqual(new Set(['js', 'wasm', 'css']));
  for (const name of names) {
    const file = await request.get(name, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(file.status(), name).toBe(200);
    expect(file.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(file.headers()['content-encoding']).toBe('br');
  }
  const wasm = names.find((name) => name.endsWith('.wasm'))!;
  expect((await request.get(wasm)).headers()['content-type']).toBe('application/wasm');

  // The chat comes to life and streams under that policy; a violation would
  // be a console error, which fails every test.
  await chat.goto();
  await chat.sendMessage('Under a strict policy');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
  await chat.stop.click();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
  expect(page.url()).toContain('127.0.0.1');
});

test('what the visitor types before the wasm has loaded is kept, with its cursor and the focus, in the one live chat', async ({ chat, page }) => {
  // The server-rendered chat is on screen at once; the wasm is held back
  // until the visitor has typed.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/pkg/*.wasm', async (route) => {
    await released;
    await route.continue();
  });
  await page.goto('/');
  await chat.input.fill('kept while loading');
  await chat.input.press('Home');
  await expect(page.locator('.reins-chat')).toHaveAttribute('data-ready', 'false');

  release();
  await expect(page.locator('.reins-chat')).toHaveAttribute('data-ready', 'true');
  await expect(page.locator('.reins-chat')).toHaveCount(1);
  // In the server-rendered one's place, under the page's header.
  await expect(page.locator('.reins-page > .reins-header + .reins-chat')).toHaveCount(1);
  await expect(chat.input).toHaveValue('kept while loading');
  await expect(chat.input).toBeFocused();
  // The cursor stayed where it was: at the start.
  await page.keyboard.type('Text ');
  await expect(chat.input).toHaveValue('Text kept while loading');
  // The chat's own draft holds it, not only the box: Send sends it.
  await chat.send.click();
  await expect(chat.log.locator('[data-role="user"] .reins-text')).toHaveText('Text kept while loading');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
  await chat.stop.click();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
});

test("embed.js names the embed's files by their content; they are cached for good, it is revalidated", async ({ request }) => {
  const script = await request.get('/embed.js', { headers: { 'accept-encoding': 'br, gzip' } });
  expect(script.status()).toBe(200);
  expect(script.headers()['cache-control']).toBe('no-cache');
  const names = (await script.text()).match(/embed\/reins-embed\.[0-9a-f]{16}\.(js|wasm|css)/g) ?? [];
  expect(new Set(names.map((name) => name.split('.').pop()))).toEqual(new Set(['js', 'wasm', 'css']));
  for (const name of names) {
    const file = await request.get(`/${name}`, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(file.status()).toBe(200);
    expect(file.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(file.headers()['content-encoding']).toBe('br');
  }
  const wasm = names.find((name) => name.endsWith('.wasm'))!;
  expect((await request.get(`/${wasm}`)).headers()['content-type']).toBe('application/wasm');
});
