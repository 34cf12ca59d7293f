import AxeBuilder from '@axe-core/playwright';
import { test, expect } from './fixtures/test';
import { nowUs } from './fixtures/chat-page';
import { ECHO_URL, FAST_URL, LONG_URL, MEDIUM_URL, PACED_URL } from '../playwright.config';

/** Everything the chat is not allowed to do with a hostile reply. */
const HOSTILE_REPLY = [
  '<img src=x onerror="window.pwned=1">',
  '',
  'Text with <script>window.pwned=2</script> inline.',
  '',
  '[click me](javascript:window.pwned=3) and [a real link](https://example.com/page)',
  '',
  '![tracking pixel](http://127.0.0.1:9/leak.png?q=secret)',
].join('\n');

test.describe('reading a reply', () => {
  test('Markdown is rendered: headings, lists, quotes, tables, code with a Copy button', async ({ chat, page, context }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await chat.goto(FAST_URL);
    await chat.sendMessage('Show me some Markdown');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    const body = chat.replyBody(chat.lastReply());
    await expect(body.getByRole('heading', { level: 2 }).first()).toBeVisible();
    await expect(body.locator('ul > li').first()).toBeVisible();
    await expect(body.locator('ol > li').first()).toBeVisible();
    await expect(body.locator('blockquote')).toBeVisible();
    await expect(body.getByRole('table').first()).toBeVisible();
    await expect(body.locator('em').first()).toBeVisible();
    await expect(body.locator('strong').first()).toBeVisible();

    const code = body.locator('.reins-code pre code');
    await expect(code).toHaveClass('language-rust');
    await expect(code).toHaveCSS('font-family', /mono/i);
    await expect(body.locator('.reins-code pre')).toHaveCSS('overflow-x', 'auto');
    await body.getByRole('button', { name: 'Copy code' }).click();
    await expect(body.getByRole('button', { name: 'Copy code' })).toHaveText('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await code.textContent());
  });

  test('text, list items and table rows added to the block being written are drawn in place, and the reply is drawn as it is when drawn at once', async ({ chat, page, context }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    // Word by word, each block grows at its end (the last text of a
    // paragraph, an item, a quote, a heading, a code block, a table's last
    // cell) and now and then changes its shape (emphasis closed, a new
    // item, a table row).
    const reply = [
      '## A *plan* for `today`',
      '',
      'Some prose that goes on, with a [link](https://example.com/page) and **bold** text,',
      'over a soft break and a hard one  ',
      'to the end &amp; beyond.',
      '',
      '> quoted words',
      '> that go on',
      '',
      '1. one item',
      '2. two with `code` in it',
      '   and more',
      '',
      '```rust',
      'fn main() {',
      '    let answer = 42;',
      '}',
      '```',
      '',
      // A table that grows by its rows, and its last cell by its words.
      '| name | value |',
      '|---|---|',
      '| a | 1 |',
      '| b, a longer name | 2 |',
      '| c | three words here |',
      '| d | 4 |',
      // Rows of one word each, which come whole; the rows above come word
      // by word, and their first word, `|`, waits for the next (alone it
      // is a paragraph after the table, which drew the table again).
      '|e|5|',
      '|f|6|',
      '|g|7|',
      '|h|8|',
      '',
      // And one inside a quote: its rows go one level further down.
      '> | q | r |',
      '> |---|---|',
      '> | 5 | six |',
      '> | 7 | eight nine |',
      '',
      // A list that grows by its items, one of them with a list of its own.
      ...Array.from({ length: 12 }, (_, k) => (k === 5 ? '- six, with\n  - a *sub* item\n  - and another' : `- item ${k + 1} of the list`)),
      '',
      // A paragraph of many words: it grows over many frames.
      Array.from({ length: 80 }, (_, k) => `word${k}`).join(' '),
    ].join('\n');
    await chat.goto(ECHO_URL);
    // Counts the texts of replies that grew where they were, the items
    // added to a list already drawn, and the boxes drawn anew (other texts
    // of the page, a label or a status, change too).
    await page.evaluate(() => {
      const counts = { grown: 0, items: 0, rows: 0, drawn: 0 };
      (window as unknown as { drawing: typeof counts }).drawing = counts;
      new MutationObserver((records) => {
        for (const record of records) {
          const added = [...record.addedNodes];
          if (record.type === 'characterData') counts.grown += record.target.parentElement?.closest('.reins-markdown') ? 1 : 0;
          else if (record.target instanceof HTMLUListElement) counts.items += added.filter((node) => node instanceof HTMLLIElement).length;
          else if (record.target instanceof HTMLTableSectionElement) counts.rows += added.filter((node) => node instanceof HTMLTableRowElement).length;
          else counts.drawn += added.filter((node) => node instanceof HTMLElement && node.matches('.reins-piece')).length;
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await chat.sendMessage(reply);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    const drawing = await page.evaluate(() => (window as unknown as { drawing: { grown: number; items: number; rows: number; drawn: number } }).drawing);
    // Fourteen blocks, each drawn when it starts and again when its shape
    // changes; the last paragraph grows in place over some twenty frames,
    // and the list gets most of its 14 items where it is. How many depends
    // on how many arrive in one frame: 34-56 texts and 8-12 items over 25
    // runs (2026-12-03), 8 items once on a loaded machine. With the view
    // refusing new nodes (the break tried when this test was written), no
    // item is added: 0. The tables get rows where they are (6-8 of their
    // 10 in five runs beside a CI run, 2026-12-04; 6-9 in four runs,
    // 2026-12-05, once a row's lone `|` waited: each table's first row
    // draws it again, and rows that come in one frame are one update);
    // drawn whole on every update, as they were before 2026-12-04, none.
    const counted = `${drawing.grown} texts grew in place, ${drawing.items} items and ${drawing.rows} rows were added, ${drawing.drawn} boxes were drawn`;
    expect(drawing.grown, counted).toBeGreaterThan(10);
    expect(drawing.items, counted).toBeGreaterThan(4);
    expect(drawing.rows, counted).toBeGreaterThan(0);

    // The nodes the reply ends with, but for the boxes they are drawn in
    // and Leptos's markers: the same as a fresh draw of the saved reply.
    const drawn = () =>
      chat.replyBody(chat.lastReply()).evaluate((markdown) => {
        const shape = (node: Node): string => {
          if (node.nodeType === Node.TEXT_NODE) return (node as Text).data;
          if (!(node instanceof Element)) return '';
          const inner = [...node.childNodes].map(shape).join('');
          if (node.matches('.reins-piece')) return inner;
          const attributes = [...node.attributes].map((a) => ` ${a.name}="${a.value}"`).join('');
          return `<${node.localName}${attributes}>${inner}</${node.localName}>`;
        };
        return [...markdown.childNodes].map(shape).join('');
      });
    const streamed = await drawn();
    expect(streamed).toContain('<code class="language-rust">fn main() {\n    let answer = 42;\n}\n</code>');
    expect(streamed).toContain('<li>two with <code>code</code> in it\nand more</li>');
    expect(streamed).toContain('<tbody><tr><td>a</td><td>1</td></tr><tr><td>b, a longer name</td><td>2</td></tr><tr><td>c</td><td>three words here</td></tr><tr><td>d</td><td>4</td></tr><tr><td>e</td><td>5</td></tr><tr><td>f</td><td>6</td></tr><tr><td>g</td><td>7</td></tr><tr><td>h</td><td>8</td></tr></tbody>');
    expect(streamed).toContain('<blockquote><div class="reins-table"><table><thead><tr><th>q</th><th>r</th></tr></thead><tbody><tr><td>5</td><td>six</td></tr><tr><td>7</td><td>eight nine</td></tr></tbody></table></div></blockquote>');
    expect(streamed).toContain('<li>item 5 of the list</li><li>six, with<ul><li>a <em>sub</em> item</li><li>and another</li></ul></li><li>item 7 of the list</li>');
    const code = chat.replyBody(chat.lastReply()).getByRole('button', { name: 'Copy code' });
    await code.click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('fn main() {\n    let answer = 42;\n}\n');
    await page.waitForTimeout(500);
    await chat.goto(ECHO_URL);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    expect(await drawn()).toBe(streamed);
  });

  test('a hostile reply runs no script, loads no image and makes no request', async ({ chat, page }) => {
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await chat.goto(ECHO_URL);
    requests.length = 0;
    await chat.sendMessage(HOSTILE_REPLY);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    const body = chat.replyBody(chat.lastReply());

    // Raw HTML is shown as text, never parsed.
    await expect(body).toContainText('<img src=x onerror="window.pwned=1">');
    await expect(body).toContainText('<script>window.pwned=2</script>');
    await expect(body.locator('img, script, iframe, object, embed')).toHaveCount(0);

    // Only the https link is a link, and it cannot reach back to this page.
    const links = body.getByRole('link');
    await expect(links).toHaveCount(2);
    const real = body.getByRole('link', { name: 'a real link' });
    await expect(real).toHaveAttribute('href', 'https://example.com/page');
    await expect(real).toHaveAttribute('rel', 'noopener noreferrer nofollow');
    await expect(real).toHaveAttribute('target', '_blank');
    await expect(body.getByText('click me')).toBeVisible();
    await expect(body.locator('a[href^="javascript"]')).toHaveCount(0);

    // The image is a link to click, not a picture that loads.
    const image = body.getByRole('link', { name: /tracking pixel/ });
    await expect(image).toHaveAttribute('href', 'http://127.0.0.1:9/leak.png?q=secret');
    await expect(image).toHaveAttribute('rel', 'noopener noreferrer nofollow');

    await page.waitForTimeout(500);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    const origin = new URL(ECHO_URL).origin;
    expect(requests.filter((url) => !url.startsWith(origin))).toEqual([]);
    expect(requests.filter((url) => url.includes('leak.png'))).toEqual([]);
  });

  test('the pending indicator shows between submit and the first token', async ({ chat }) => {
    await chat.goto(PACED_URL);
    await chat.sendMessage('Take your time');
    await expect(chat.lastReply().getByRole('status', { name: 'Waiting for the reply' })).toBeVisible();
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
    await expect(chat.lastReply().getByRole('status', { name: 'Waiting for the reply' })).toHaveCount(0);
    await chat.stop.click();
  });

  test('the log announces a reply once: busy while it streams, not after', async ({ chat }) => {
    await chat.goto(MEDIUM_URL);
    await chat.sendMessage('Announce this');
    await expect(chat.log).toHaveAttribute('aria-busy', 'true');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done', { timeout: 15_000 });
    await expect(chat.log).toHaveAttribute('aria-busy', 'false');
  });
});

test.describe('scrolling', () => {
  test.use({ viewport: { width: 800, height: 500 } });

  test('follows the text at the bottom, stops when scrolled up, and Jump to latest resumes', async ({ chat, page }) => {
    await chat.goto(LONG_URL);
    await chat.sendMessage('A long one, please');
    const overflow = () => chat.log.evaluate((log) => log.scrollHeight - log.clientHeight);
    await expect.poll(overflow).toBeGreaterThan(400);
    // Following: the newest text stays in view.
    await expect.poll(() => chat.distanceFromBottom()).toBeLessThan(30);

    await chat.log.hover();
    await page.mouse.wheel(0, -300);
    const jump = page.getByRole('button', { name: 'Jump to latest' });
    await expect(jump).toBeVisible();
    const heldAt = await chat.log.evaluate((log) => log.scrollTop);
    await page.waitForTimeout(700);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
    expect(await chat.log.evaluate((log) => log.scrollTop)).toBe(heldAt);
    expect(await chat.distanceFromBottom()).toBeGreaterThan(100);

    await jump.click();
    await expect(jump).toBeHidden();
    await expect.poll(() => chat.distanceFromBottom()).toBeLessThan(30);
    const grown = await overflow();
    await expect.poll(overflow).toBeGreaterThan(grown + 50);
    expect(await chat.distanceFromBottom()).toBeLessThan(30);
    await chat.stop.click();
  });
});

test.describe('following a tall block', () => {
  // One block far taller than the screen, drawn in new boxes as it grows
  // and as its pieces finish: a new box must not start at the placeholder's
  // size (the page shrinks, the scroll position is pulled up, and that reads
  // as the reader leaving). The list is the shape that broke; the code
  // block and the table, kept whole as they grow, are held to the same.
  for (const [shape, prompt] of [
    ['one long list', 'one list: 900'],
    ['one long code block', '```\n' + Array.from({ length: 300 }, (_, k) => `line ${k + 1}`).join('\n') + '\n```'],
    // A table is never cut while it grows: kept whole, its rows added.
    ['one long table', '| n | square |\n|---|---|\n' + Array.from({ length: 90 }, (_, k) => `| ${k} | ${k * k} |`).join('\n')],
  ] as const) test(`a reply that is ${shape} is followed to its end`, async ({ chat, page }) => {
    await chat.goto(ECHO_URL);
    // Any moment the chat stops following shows Jump to latest: marked on
    // the page as it happens, however briefly.
    // And no box on the screen is skipped in a frame that grew the page: a
    // new box of a tall block that started at the placeholder's size would
    // show as a blank for a frame where the block was. Looked at from a
    // ResizeObserver, which runs in the frame after its layout (and after
    // the chat's own, which follows the text), so it sees what the frame
    // shows and no box the frame has not laid out yet.
    await page.evaluate(() => {
      new MutationObserver(() => {
        if (document.querySelector('.reins-jump')) document.documentElement.dataset.leftBottom = 'yes';
      }).observe(document.body, { childList: true, subtree: true });
      const log = document.querySelector('.reins-log')!;
      new ResizeObserver(() => {
        const screen = log.getBoundingClientRect();
        for (const box of document.querySelectorAll('.reins-piece')) {
          const { top, bottom } = box.getBoundingClientRect();
          // A skipped box is itself shown; what it holds is not.
          const shown = box.firstElementChild?.checkVisibility({ contentVisibilityAuto: true }) ?? true;
          if (bottom > screen.top && top < screen.bottom && !shown) {
            document.documentElement.dataset.blankOnScreen = 'yes';
          }
        }
      }).observe(document.querySelector('.reins-log-content')!);
    });
    await chat.sendMessage(prompt);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done', { timeout: 20_000 });
    expect(await page.locator('html').getAttribute('data-left-bottom'), 'the chat kept following').toBeNull();
    expect(await page.locator('html').getAttribute('data-blank-on-screen'), 'no box on the screen was skipped').toBeNull();
    await expect(page.getByRole('button', { name: 'Jump to latest' })).toBeHidden();
    expect(await chat.distanceFromBottom()).toBeLessThan(30);
  });
});

test.describe('acting on replies', () => {
  test('Regenerate replaces the last reply', async ({ chat, page }) => {
    await chat.goto(FAST_URL);
    await chat.sendMessage('Once more');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    const before = await chat.generations();
    const request = page.waitForRequest((r) => r.url().endsWith('/api/chat') && r.method() === 'POST');
    await chat.lastReply().getByRole('button', { name: 'Regenerate' }).click();
    const body = (await request).postDataJSON();
    expect(body.trigger).toBe('regenerate-message');
    expect(body.messages).toHaveLength(1);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await expect(chat.log.locator('[data-role]')).toHaveCount(2);
    expect((await chat.generations()).length).toBe(before.length + 1);
  });

  test('Continue carries a stopped reply on from where it stopped', async ({ chat }) => {
    await chat.goto(MEDIUM_URL);
    await chat.sendMessage('Go on and on');
    await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(80);
    await chat.stop.click();
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
    const partial = await chat.lastReplyText();

    await chat.lastReply().getByRole('button', { name: 'Continue' }).click();
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'streaming');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done', { timeout: 15_000 });
    const continued = await chat.lastReplyText();
    expect(continued.startsWith(partial.trimEnd().slice(0, -20))).toBe(true);
    await expect(chat.log.locator('[data-role]')).toHaveCount(2);

    // The demo model carried on its own script: the whole reply is the same
    // as an uninterrupted one.
    await chat.goto(FAST_URL);
    await chat.page.getByRole('button', { name: 'New chat' }).click();
    await chat.sendMessage('Go on and on');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    expect(await chat.lastReplyText()).toBe(continued);
  });

  test('editing an earlier message resends it and replaces what came after', async ({ chat, page }) => {
    await chat.goto(FAST_URL);
    await chat.sendMessage('First question');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await chat.sendMessage('Second question');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await expect(chat.log.locator('[data-role]')).toHaveCount(4);

    const first = chat.log.locator('[data-role="user"]').first();
    await first.getByRole('button', { name: 'Edit message' }).click();
    const editor = first.getByRole('textbox', { name: 'Edit message' });
    await editor.fill('First question, edited');
    const request = page.waitForRequest((r) => r.url().endsWith('/api/chat') && r.method() === 'POST');
    await first.getByRole('button', { name: 'Save and send' }).click();
    expect((await request).postDataJSON().messages).toHaveLength(1);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await expect(chat.log.locator('[data-role]')).toHaveCount(2);
    await expect(first.locator('.reins-text')).toHaveText('First question, edited');
    await expect(chat.lastReply()).toContainText('First question, edited');
  });

  test('Copy copies a message', async ({ chat, page, context }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await chat.goto(ECHO_URL);
    await chat.sendMessage('Copy **this** reply');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await chat.lastReply().getByRole('button', { name: 'Copy reply' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('Copy **this** reply');
  });

  test('an error shows in the conversation, keeps the partial text, and Retry works', async ({ chat }) => {
    await chat.goto(ECHO_URL);
    await chat.sendMessage('fail once: one two three four five six seven eight');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'error');
    await expect(chat.lastReply().getByRole('alert')).toContainText('closed the connection');
    await expect(chat.replyBody(chat.lastReply())).toContainText('fail once: one two');
    await chat.lastReply().getByRole('button', { name: 'Retry' }).click();
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await expect(chat.replyBody(chat.lastReply())).toHaveText(
      'fail once: one two three four five six seven eight',
    );
    await expect(chat.log.locator('[data-role]')).toHaveCount(2);
  });
});

test.describe('keeping the conversation', () => {
  test('the conversation survives a reload', async ({ chat, page }) => {
    await chat.goto(FAST_URL);
    await chat.sendMessage('Remember me');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    const reply = await chat.lastReplyText();
    await page.waitForTimeout(500);
    await chat.goto(FAST_URL);
    await expect(chat.log.locator('[data-role="user"] .reins-text')).toHaveText('Remember me');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    expect(await chat.lastReplyText()).toBe(reply);
  });

  test('a reply streaming when the page went away comes back stopped', async ({ chat }) => {
    await chat.goto(PACED_URL);
    await chat.sendMessage('Interrupted by a reload');
    await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(20);
    await chat.goto(PACED_URL);
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'stopped');
    expect((await chat.lastReplyText()).length).toBeGreaterThan(20);
    await expect(chat.send).toBeVisible();
  });

  test("a page whose chat never held a message leaves another tab's saved conversation alone", async ({ chat, page, context }) => {
    // Opened first, and left empty.
    const idle = await context.newPage();
    await idle.goto(FAST_URL);
    await expect(idle.locator('.reins-chat')).toHaveAttribute('data-ready', 'true');
    await chat.goto(FAST_URL);
    await chat.sendMessage('Keep me');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await page.waitForTimeout(500);
    // Closing the empty page saves its chat as it leaves: it must not
    // remove the other tab's conversation (it once did).
    await idle.close({ runBeforeUnload: true });
    const later = await context.newPage();
    await later.goto(FAST_URL);
    await expect(later.locator('.reins-chat')).toHaveAttribute('data-ready', 'true');
    await expect(later.getByRole('log').locator('[data-role="user"] .reins-text')).toHaveText('Keep me');
  });

  test('New chat starts empty, also after a reload', async ({ chat, page }) => {
    await chat.goto(FAST_URL);
    await chat.sendMessage('Forget me');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await page.getByRole('button', { name: 'New chat' }).click();
    await expect(chat.log.locator('[data-role]')).toHaveCount(0);
    await expect(chat.input).toBeFocused();
    await page.waitForTimeout(500);
    await chat.goto(FAST_URL);
    await expect(chat.log.locator('[data-role]')).toHaveCount(0);
  });
});

test.describe('status', () => {
  test('each reply shows time to first token, pace and usage', async ({ chat }) => {
    await chat.goto(FAST_URL);
    await chat.sendMessage('How fast?');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await expect(chat.lastReply().locator('.reins-stats')).toHaveText(
      /^\d+\.\d\d s to first token · \d+ tokens\/s · 2 in, \d+ out$/,
    );
  });

  test('after Stop, the demo shows when and after how many tokens the model stopped', async ({ chat }) => {
    await chat.goto(PACED_URL);
    const sentAt = nowUs();
    await chat.sendMessage('Prove it');
    await expect.poll(async () => (await chat.lastReplyText()).length).toBeGreaterThan(20);
    await chat.stop.click();
    const generation = await chat.endedGeneration(sentAt);
    const report = chat.lastReply().locator('.reins-demo-report');
    await expect(report).toHaveText(
      new RegExp(`^The demo model stopped after ${generation.tokens_sent} tokens?, \\d+ ms after your click\\.$`),
    );
    // And the server's own receipt, which every model API gets.
    await expect(chat.lastReply().locator('.reins-receipt')).toHaveText(
      /^Stopped after \d+ tokens? relayed; the model API's connection was closed (under 1|\d+) ms after (your stop reached the server|the server saw the page's connection close)\.$/,
    );
  });
});

test.describe('accessibility', () => {
  test('no axe violations, with an empty and with a full conversation', async ({ chat, page }) => {
    await chat.goto(FAST_URL);
    await page.getByRole('button', { name: 'New chat' }).click();
    const empty = await new AxeBuilder({ page }).analyze();
    expect(empty.violations).toEqual([]);
    await chat.sendMessage('Check **everything**');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    const full = await new AxeBuilder({ page }).analyze();
    expect(full.violations).toEqual([]);
  });

  test('everything works from the keyboard', async ({ chat, page }) => {
    await chat.goto(FAST_URL);
    await page.getByRole('button', { name: 'New chat' }).click();
    await expect(chat.input).toBeFocused();
    await page.keyboard.type('Keyboard only');
    await page.keyboard.press('Enter');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    // Tab from the message box backwards reaches the reply's buttons.
    await chat.input.focus();
    const regenerate = chat.lastReply().getByRole('button', { name: 'Regenerate' });
    await regenerate.focus();
    await expect(regenerate).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    await expect(chat.input).toBeFocused();
  });
});

test.describe('narrow screens and the dark theme', () => {
  test.use({ viewport: { width: 360, height: 740 }, colorScheme: 'dark' });

  test('at 360 px wide nothing overflows the page, and axe finds no violations in the dark theme', async ({ chat, page }) => {
    await chat.goto(FAST_URL);
    await chat.sendMessage('Tables and code on a phone');
    await expect(chat.input).toBeFocused();
    await expect(chat.lastReply()).toHaveAttribute('data-status', 'done');
    // Wide content scrolls inside its own box; the page itself never does.
    const pageWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(pageWidth).toBeLessThanOrEqual(360);
    await expect(chat.send).toBeInViewport();
    await expect(chat.input).toBeInViewport();
    const results = await new AxeBuilder({ page }).analyze();
    expect(results.violations).toEqual([]);
  });
});
