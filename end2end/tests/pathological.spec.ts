import type { Locator, Page } from '@playwright/test';
import { expect, test } from './fixtures/test';
import { ChatPage } from './fixtures/chat-page';
import { announceRepliesDone, replyDone } from './fixtures/reply-done';
import { ALLOWED_SITE, ECHO_URL } from '../playwright.config';
import { PATHOLOGICAL } from '../support/pathological.mjs';

/**
 * Replies built to freeze a Markdown renderer: each streams into the hosted
 * chat and into the embed on another site, and is restored from storage
 * after a reload. The page must draw it, keep answering, and carry on with
 * the conversation. The longest main-thread task is printed for each
 * (target: under 50 ms); the assertion is only that nothing freezes for
 * seconds, since CI machines vary.
 */
const FROZEN_MS = 2_000;

/**
 * How long the page is left before the hostile prompt is sent, as a person
 * typing it would. Sent the moment the page was ready, the reply's first
 * frames ran while Chromium was still compiling the wasm (lazily, each
 * function on the main thread the first time it runs; its optimizing tier
 * on worker threads), and on two cores shared with the servers they made
 * tasks of 51-100 ms in a few cases of each run (a different few every
 * time); with this pause, none in three runs. The page's own start-up is
 * printed apart.
 */
const TYPING_MS = 2_000;

/** One chat on a page: the hosted page's, or a <reins-chat> element's. */
type Chat = {
  open(): Promise<void>;
  input: Locator;
  stop: Locator;
  reply: () => Locator;
  /** The CSS selector of the chat's root, in the document or a shadow root. */
  host: string | null;
};

const where = {
  // The page object every other hosted-chat test uses.
  'the hosted chat': (page: Page): Chat => {
    const chat = new ChatPage(page);
    return {
      open: () => chat.goto(ECHO_URL),
      input: chat.input,
      stop: chat.stop,
      reply: () => chat.lastReply(),
      host: null,
    };
  },
  'the embed': (page: Page): Chat => {
    const root = page.locator('reins-chat#echo');
    return {
      async open() {
        await page.goto(`${ALLOWED_SITE}/echo.html`);
        await expect(root.locator('.reins-chat[data-ready="true"]')).toBeVisible();
      },
      input: root.getByRole('textbox', { name: 'Message' }),
      stop: root.getByRole('button', { name: 'Stop', exact: true }),
      reply: () => root.locator('[data-role="assistant"]').last(),
      host: 'reins-chat#echo',
    };
  },
};

/**
 * Records the page's long tasks (50 ms and more) from the start of every
 * document it loads, reloads included: an observer attached later would
 * miss the tasks of loading and restoring. The page also says when a reply
 * turns done, for `replyDone`.
 */
async function watchLongTasks(page: Page) {
  await announceRepliesDone(page);
  await page.addInitScript(() => {
    (window as any).__longest = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        (window as any).__longest = Math.max((window as any).__longest, entry.duration);
      }
    }).observe({ type: 'longtask' });
  });
}

async function longestTask(page: Page): Promise<number> {
  return page.evaluate(() => (window as any).__longest as number);
}

/** How long the page takes to answer: the time until its next frame. */
async function timeToAnswer(page: Page): Promise<number> {
  const started = Date.now();
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
  return Date.now() - started;
}

/**
 * Waits until the last reply is done, looking four times a second with one
 * `querySelector`. Playwright's own waiting (\`expect(locator)\`) runs its
 * visibility and accessibility checks in the page, which force style and
 * layout of the whole reply on every poll: with a megabyte on screen those
 * were most of the long tasks this test measured, and no real page has them.
 */
async function pollUntilReplyDone(page: Page, chat: Chat) {
  await page.waitForFunction(
    (host) => {
      const root = host ? document.querySelector(host)?.shadowRoot : document;
      const replies = root?.querySelectorAll('[data-role="assistant"]');
      return replies?.[replies.length - 1]?.getAttribute('data-status') === 'done';
    },
    chat.host,
    { polling: 250, timeout: 60_000 },
  );
}

async function send(chat: Chat, text: string) {
  await chat.input.fill(text);
  await chat.input.press('Enter');
}

for (const [place, make] of Object.entries(where)) {
  test.describe(`hostile replies in ${place}`, () => {
    for (const name of Object.keys(PATHOLOGICAL)) {
      test(`${name}: drawn, streamed and restored without freezing the page`, async ({ page }) => {
        test.setTimeout(90_000);
        const chat = make(page);
        await watchLongTasks(page);
        await chat.open();
        await page.waitForTimeout(TYPING_MS);
        // Loading the page (compiling the wasm) is measured apart.
        const loaded = await longestTask(page);
        await page.evaluate(() => ((window as any).__longest = 0));
        const done = replyDone(page);
        await send(chat, `pathological: ${name}`);
        await done;
        const streamed = await longestTask(page);
        // The same check as after the reload, now that nothing is measured.
        await pollUntilReplyDone(page, chat);
        expect(await timeToAnswer(page)).toBeLessThan(FROZEN_MS);
        expect((await chat.reply().textContent())!.length).toBeGreaterThan(1_000);

        await page.reload();
        await chat.open();
        await pollUntilReplyDone(page, chat);
        const restored = await longestTask(page);
        expect(await timeToAnswer(page)).toBeLessThan(FROZEN_MS);
        expect((await chat.reply().textContent())!.length).toBeGreaterThan(1_000);

        // The conversation carries on, the hostile reply in its history.
        await send(chat, 'still there?');
        await expect(chat.reply()).toHaveAttribute('data-status', 'done');
        await expect(chat.reply().locator('.reins-markdown')).toHaveText('still there?');
        // 0: no task of 50 ms or more.
        console.log(
          `longest task in ${place}, ${name}: streamed ${streamed} ms; ` +
            `reload with the reply ${restored} ms, against ${loaded} ms for the first load (target: under 50 ms)`,
        );
        expect(Math.max(streamed, restored)).toBeLessThan(FROZEN_MS);
      });
    }

    test('Stop works while a hostile reply streams', async ({ page }) => {
      const chat = make(page);
      await chat.open();
      await send(chat, 'pathological slowly: quote 10 deep, lazy lines');
      await expect(chat.reply()).toHaveAttribute('data-status', 'streaming');
      await chat.stop.click();
      await expect(chat.reply()).toHaveAttribute('data-status', 'stopped');
      // The reply's text stays as it was; the receipt comes in under it.
      const text = chat.reply().locator('.reins-markdown');
      const frozen = await text.textContent();
      await page.waitForTimeout(300);
      expect(await text.textContent()).toBe(frozen);
      await expect(chat.reply().locator('.reins-receipt')).toHaveText(
        /^Stopped after \d+ tokens? relayed; the model API's connection was closed (under 1|\d+) ms after (your stop reached the server|the server saw the page's connection close)\.$/,
      );
    });
  });
}
