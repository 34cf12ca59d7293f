import { test, expect } from './fixtures/test';

test('the wasm is served as application/wasm and compressed; the page under its CSP', async ({ chat, page, request }) => {
  const wasm = await request.get('/pkg/reins.wasm', { headers: { 'accept-encoding': 'br, gzip' } });
  expect(wasm.status()).toBe(200);
  expect(wasm.headers()['content-type']).toBe('application/wasm');
  expect(wasm.headers()['content-encoding']).toBe('br');

  const html = await request.get('/');
  expect(html.headers()['content-security-policy']).toContain("script-src 'self' 'nonce-");
  // The chat hydrates and streams under that policy; a violation would be a
  // console error, which fails every test.
  await chat.goto();
  await chat.sendMessage('Under a strict policy');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
  await chat.stop.click();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
  expect(page.url()).toContain('127.0.0.1');
});
