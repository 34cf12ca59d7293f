import { readFileSync } from 'node:fs';
import { test, expect } from './fixtures/test';
import type { Page } from '@playwright/test';

/**
 * `app`'s `hydrate` feature, as a Leptos app that renders the chat on its
 * server uses it. The hosted page renders its chat again on the client with
 * the embed's wasm; here the server's own page is served with its script
 * pointed at end2end/hydrated's wasm (built by scripts/build-hydrated), which
 * hydrates it instead. A hydration that does not match the server's HTML
 * panics or logs an error, and any console error fails the test.
 */
const built = '../target/embed/hydrated';

/** Serves the hosted page hydrated, its wasm held until `hold` resolves; returns how many times the wasm was asked for. */
async function serveHydrated(page: Page, hold?: Promise<void>) {
  let requests = 0;
  await page.route(
    (url) => url.pathname === '/',
    async (route) => {
      const response = await route.fetch();
      let html = await response.text();
      // The names of the hosted page's own glue and wasm, which the hydrating
      // build's take the place of.
      for (const [, name] of html.matchAll(/\/pkg\/(reins\.[0-9a-f]{16})\.(?:js|wasm)/g)) {
        html = html.replaceAll(name, 'reins-hydrated');
      }
      // The body is read decoded: its length and encoding are no longer the server's.
      const headers = { ...response.headers() };
      delete headers['content-encoding'];
      delete headers['content-length'];
      await route.fulfill({ status: response.status(), headers, body: html });
    },
  );
  await page.route('**/pkg/reins-hydrated.js', (route) =>
    route.fulfill({ contentType: 'text/javascript', body: readFileSync(`${built}/reins-hydrated.min.js`) }),
  );
  await page.route('**/pkg/reins-hydrated.wasm', async (route) => {
    requests++;
    await hold;
    await route.fulfill({ contentType: 'application/wasm', body: readFileSync(`${built}/reins-hydrated.wasm`) });
  });
  return () => requests;
}

test('the chat hydrates the server-rendered page: it adopts its nodes, streams, stops, and is restored after a reload', async ({ chat, page }) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const wasmRequests = await serveHydrated(page, held);
  const otherWasm: string[] = [];
  page.on('request', (request) => {
    if (/\/pkg\/reins\.[0-9a-f]{16}\.wasm/.test(request.url())) otherWasm.push(request.url());
  });

  await page.goto('/');
  // Marked before the wasm runs: hydration keeps the server's nodes, where
  // rendering again would make new ones.
  await chat.input.evaluate((input) => (input.dataset.fromServer = 'yes'));
  release();
  await expect(page.locator('.reins-chat')).toHaveAttribute('data-ready', 'true');
  await expect(chat.input).toHaveAttribute('data-from-server', 'yes');
  expect(wasmRequests()).toBeGreaterThan(0);
  expect(otherWasm).toEqual([]);

  await chat.sendMessage('Hydrated, then stopped');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
  await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(10);
  await chat.stop.click();
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
  const stoppedText = await chat.lastReplyText();

  // Saved a moment after the change; the reload hydrates again and loads it.
  await page.waitForTimeout(500);
  await chat.goto('/');
  await expect(chat.log.locator('[data-role="user"] .reins-text')).toHaveText('Hydrated, then stopped');
  await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
  expect(await chat.lastReplyText()).toBe(stoppedText);
});
