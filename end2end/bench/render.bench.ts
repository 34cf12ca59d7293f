import * as fs from 'node:fs';
import { test, expect, type Page } from '@playwright/test';
import { ChatPage } from '../tests/fixtures/chat-page';
import { announceRepliesDone, replyDone } from '../tests/fixtures/reply-done';
import { BENCH_URL, LIST_BENCH_URL, LONG_BENCH_URL } from '../bench.config';

/**
 * Streams a 2,000-token and a 20,000-token reply at 200 tokens/s into the
 * hosted chat (the cost per update must not grow with the reply), the
 * 2,000-token one again after 400 saved messages (nor with the
 * conversation before it), and a
 * reply of 20,000 pieces that is one list with no blank line (one block
 * that grows to the end, the hardest shape for drawing only what changed),
 * and one of 20,000 pieces that is one fenced code block (one text that
 * grows to the end), and a table of 50 rows and 4 columns (kept whole),
 * then the same 2,000 words in a page of plain paragraphs with no script
 * of ours (the browser's own floor), and reads
 * Chrome's own trace of the page's main thread:
 * - a rendered update is an animation frame task (a `RunTask` that ran a
 *   `FireAnimationFrame`): the chat draws at most once per frame, and that
 *   task also holds the style, layout and paint the drawing caused;
 * - the longest task is the longest `RunTask` of any kind while streaming.
 * The end of a reply is waited for without looking into the page (see
 * `replyDone`): Playwright's `expect(locator)` polling, which this used,
 * made the tasks of 200-280 ms a long reply's trace showed (once read as
 * the tracing's own work) and a third of the main thread's time outside
 * the frames. Whether the reply arrived whole is checked after the trace.
 * Prints figures; asserts only that the reply arrived whole.
 */

type TraceEvent = { name: string; ph: string; ts: number; dur?: number; pid: number; tid: number; args?: { name?: string } };

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * fraction))];
}

/** The index of the first of `sorted` at or after `value`. */
function firstAtOrAfter(sorted: number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * A function that gives, for a task, the time (ms) covered by the events
 * named `names` that start within it, from sums over those events in time
 * order. Events nest (a `FunctionCall` inside a `FireAnimationFrame`, a
 * microtask checkpoint inside a call), so the sums are over their union:
 * summed one by one, the chat's script in a frame was counted about twice.
 */
function timeWithin(events: TraceEvent[], names: string[]): (task: TraceEvent) => number {
  const chosen = events.filter((e) => names.includes(e.name) && e.dur !== undefined).sort((a, b) => a.ts - b.ts);
  const merged: { ts: number; end: number }[] = [];
  for (const event of chosen) {
    const last = merged[merged.length - 1];
    if (last && event.ts <= last.end) last.end = Math.max(last.end, event.ts + event.dur!);
    else merged.push({ ts: event.ts, end: event.ts + event.dur! });
  }
  const starts = merged.map((e) => e.ts);
  const sums = [0];
  for (const span of merged) sums.push(sums[sums.length - 1] + (span.end - span.ts) / 1000);
  // The trace's times are whole microseconds: an event that starts in the
  // task's last one is within it.
  return (task) => sums[firstAtOrAfter(starts, task.ts + task.dur! + 1)] - sums[firstAtOrAfter(starts, task.ts)];
}

/**
 * Script: calls into the page's JavaScript (and so the wasm) and the
 * microtasks after them, where Leptos's effects and the reply reader's
 * futures run. `RunMicrotasks` is recorded only with the `v8.execute`
 * category, which `traceReply` asks for: without it half the script of the
 * tasks that read the reply was in no event the benchmark counted.
 */
const SCRIPT = ['FireAnimationFrame', 'FunctionCall', 'RunMicrotasks', 'TimerFire', 'EventDispatch'];

/** The browser's steps from a changed page to a frame on the screen, as the trace names them. */
const PHASES: [string, string[]][] = [
  ['script', SCRIPT],
  ['style', ['UpdateLayoutTree']],
  ['layout', ['Layout']],
  ['pre-paint', ['PrePaint']],
  ['paint', ['Paint']],
  ['layerize', ['Layerize']],
  ['commit', ['Commit']],
  ['hit testing', ['HitTest']],
  ['intersection checks', ['IntersectionObserverController::computeIntersections']],
];

/**
 * With `REINS_BENCH_CSS` set, the chat's stylesheet gets that text added to
 * its end: a change of style measured against the build as it is, in one
 * sitting, without building the site twice.
 */
async function withExtraStyle(page: Page) {
  const extra = process.env.REINS_BENCH_CSS;
  if (!extra) return;
  await page.route('**/*.css', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: (await response.text()) + extra });
  });
}

type ProfileNode = { id: number; callFrame: { functionName: string; url: string } };
type Profile = { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };

/**
 * With `REINS_BENCH_PROFILE` set, each reply also runs under V8's sampling
 * profiler (every 100 µs), and the benchmark prints the functions that held
 * the most of the main thread's time by themselves, and writes the whole
 * profile (for DevTools' Performance panel) to `reply.cpuprofile` in the
 * test's directory under `end2end/test-results/`. The hosted wasm's functions
 * have names only in a build that keeps them: `REINS_EMBED_KEEP_NAMES=1 bash
 * scripts/build-hosted-wasm` (build it again without to measure sizes). The
 * profiler adds its own cost: read the trace's figures from a run without it.
 */
const PROFILE = Boolean(process.env.REINS_BENCH_PROFILE);

/**
 * The functions with the most time of their own in `profile`, as lines to
 * print; with `keep`, only of the samples taken at the times (µs, the
 * trace's clock, which the profile's shares) it keeps.
 */
function topFunctions(profile: Profile, count: number, keep: (ts: number) => boolean = () => true): string[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const own = new Map<string, number>();
  let ts = profile.startTime;
  // A sample's time runs until the next sample.
  profile.samples.forEach((id, index) => {
    ts += profile.timeDeltas[index] ?? 0;
    if (!keep(ts)) return;
    const { functionName, url } = byId.get(id)!.callFrame;
    const name = functionName || `(anonymous ${url.split('/').pop()})`;
    own.set(name, (own.get(name) ?? 0) + (profile.timeDeltas[index + 1] ?? 0) / 1000);
  });
  // The browser's own work (style, layout, paint, its side of a call) is
  // "(program)": printed apart, the shares are of the script's time.
  const apart = ['(idle)', '(program)', '(garbage collector)'].map((name) => {
    const ms = own.get(name) ?? 0;
    own.delete(name);
    return `${name} ${ms.toFixed(0)} ms`;
  });
  const script = [...own.values()].reduce((sum, ms) => sum + ms, 0);
  return [
    `script sampled: ${script.toFixed(0)} ms (besides it: ${apart.join(', ')}); by function, its own time and share of the script:`,
    ...[...own]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, ms]) => `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / script).toFixed(1).padStart(5)}%  ${name.slice(0, 160)}`),
  ];
}

/** Whether a time (µs, the trace's clock) falls within one of `tasks`, which are in time order. */
function during(tasks: TraceEvent[]): (ts: number) => boolean {
  const starts = tasks.map((task) => task.ts);
  return (ts) => {
    const last = firstAtOrAfter(starts, ts + 1) - 1;
    return last >= 0 && ts <= tasks[last].ts + tasks[last].dur!;
  };
}

/**
 * Runs `reply` (which sends a prompt and waits for the whole reply without
 * looking into the page: see `replyDone`) under Chrome's tracing, then
 * `count` (which checks the reply arrived whole and returns its token
 * count: it may look, the trace is over), and prints the figures.
 */
async function traceReply(page: Page, reply: () => Promise<unknown>, count: () => Promise<number>) {
  const cdp = await page.context().newCDPSession(page);
  const events: TraceEvent[] = [];
  cdp.on('Tracing.dataCollected', ({ value }) => events.push(...(value as TraceEvent[])));
  const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.start', { categories: 'devtools.timeline,disabled-by-default-devtools.timeline,v8.execute', transferMode: 'ReportEvents' });
  if (PROFILE) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
  }

  const started = Date.now();
  await reply();
  const seconds = (Date.now() - started) / 1000;
  const profile = PROFILE ? ((await cdp.send('Profiler.stop')).profile as Profile) : undefined;
  await cdp.send('Tracing.end');
  await complete;
  const tokens = await count();

  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  expect(main, 'the renderer main thread is in the trace').toBeTruthy();
  const onMain = events.filter((e) => e.pid === main!.pid && e.tid === main!.tid && e.ph === 'X');
  const tasks = onMain.filter((e) => e.name === 'RunTask' && e.dur !== undefined).sort((a, b) => a.ts - b.ts);
  // Each look into the trace below is a binary search in events sorted by
  // time: a 20,000-piece reply's trace holds about a million events, and a
  // scan of them per task took the analysis past ten minutes.
  const frameStarts = onMain.filter((e) => e.name === 'FireAnimationFrame').map((e) => e.ts).sort((a, b) => a - b);
  const frameTasks = tasks.filter((task) => {
    const next = firstAtOrAfter(frameStarts, task.ts);
    return next < frameStarts.length && frameStarts[next] <= task.ts + task.dur!;
  });
  const inOrder = frameTasks.map((task) => task.dur! / 1000);
  const perUpdate = [...inOrder].sort((a, b) => a - b);
  const quarter = Math.floor(inOrder.length / 4);
  const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 0.5);
  // Not `Math.max(...)`: a long reply has more tasks than the stack holds arguments.
  const longest = tasks.reduce((most, task) => Math.max(most, task.dur! / 1000), 0);
  // Each step's time per task, built once: each build is a pass over every
  // event of the trace (about a million for the long replies).
  const stepTime = new Map(PHASES.map(([label, names]) => [label, timeWithin(onMain, names)]));
  // Within the frame tasks: the chat's script (its drawing, wasm and DOM
  // calls, the effects after them) against style and layout.
  const script = stepTime.get('script')!;
  const styleAndLayout = timeWithin(onMain, ['UpdateLayoutTree', 'Layout']);
  const split = (slice: TraceEvent[]) => {
    return `script ${median(slice.map(script)).toFixed(2)} ms, style and layout ${median(slice.map(styleAndLayout)).toFixed(2)} ms`;
  };
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
  const phases = [...stepTime].map(([label, time]) => `${label} ${mean(frameTasks.map(time)).toFixed(2)}`);
  const busy = tasks.reduce((sum, task) => sum + task.dur! / 1000, 0);
  // Tasks that are not frames: reading the reply from the network (parts
  // applied to the conversation, and the reactive work that follows), saves.
  const isFrame = new Set(frameTasks);
  const others = tasks.filter((task) => !isFrame.has(task));
  const total = (values: number[]) => values.reduce((sum, value) => sum + value, 0);
  const otherScript = total(others.map(script));
  const otherLayout = total(others.map(styleAndLayout));

  console.log(`\nRender benchmark: ${tokens} tokens in ${seconds.toFixed(1)} s (${(tokens / seconds).toFixed(0)} tokens/s), release build, headless Chromium`);
  console.log(`rendered updates (animation frame tasks): ${perUpdate.length} (the reply had ${tokens} tokens)`);
  console.log(`main-thread time per rendered update: median ${percentile(perUpdate, 0.5).toFixed(2)} ms, p99 ${percentile(perUpdate, 0.99).toFixed(2)} ms`);
  console.log(
    `median per update, first quarter of the reply ${median(inOrder.slice(0, quarter)).toFixed(2)} ms, last quarter ${median(inOrder.slice(-quarter)).toFixed(2)} ms`,
  );
  console.log(`  first quarter: ${split(frameTasks.slice(0, quarter))}; last quarter: ${split(frameTasks.slice(-quarter))}`);
  console.log(`  a rendered update, mean by step (ms): ${phases.join(', ')} (of ${mean(inOrder).toFixed(2)})`);
  console.log(`longest task while streaming: ${longest.toFixed(2)} ms`);
  console.log(
    `other tasks: ${others.length}, ${total(others.map((task) => task.dur! / 1000)).toFixed(0)} ms (script ${otherScript.toFixed(0)} ms, style and layout ${otherLayout.toFixed(0)} ms)`,
  );
  console.log(`main thread busy: ${busy.toFixed(0)} ms of ${(seconds * 1000).toFixed(0)} ms (${((100 * busy) / (seconds * 1000)).toFixed(1)}%)`);
  if (profile) {
    const file = test.info().outputPath('reply.cpuprofile');
    fs.writeFileSync(file, JSON.stringify(profile));
    console.log(`CPU profile (whole: ${file}):`);
    for (const line of topFunctions(profile, 30)) console.log(line);
    // Split by task: the frames' drawing apart from the work between them
    // (reading the reply, the parts applied), which the trace's figures
    // above give only as a total.
    console.log('the same, in the frame tasks only:');
    for (const line of topFunctions(profile, 15, during(frameTasks))) console.log(line);
    console.log('the same, in the other tasks only:');
    for (const line of topFunctions(profile, 20, during(others))) console.log(line);
  }
}

/** Sends `prompt` and waits for the reply to be done, without looking into the page. */
async function sendAndWait(page: Page, chat: ChatPage, prompt: string, timeout: number) {
  const done = replyDone(page, timeout);
  await chat.sendMessage(prompt);
  await done;
}

/** The tokens the demo model sent for the page's newest reply, nearly all of `expected`. */
async function tokensSent(chat: ChatPage, expected: number): Promise<number> {
  const tokens = (await chat.generations())[0].tokens_sent;
  expect(tokens).toBeGreaterThan(expected * 0.95);
  return tokens;
}

for (const [label, url, expected] of [
  ['2,000', BENCH_URL, 2_000],
  ['20,000', LONG_BENCH_URL, 20_000],
] as const) test(`render cost of a ${label}-token reply at 200 tokens/s`, async ({ page }) => {
  const chat = new ChatPage(page);
  await withExtraStyle(page);
  await announceRepliesDone(page);
  await chat.goto(url);
  await traceReply(
    page,
    () => sendAndWait(page, chat, 'Write the longest reply you can', 30_000 + expected * 10),
    () => tokensSent(chat, expected),
  );
});

// The same reply at the end of a long conversation: the cost per update must
// not grow with the messages before it either.
test('render cost of a 2,000-token reply after 400 saved messages', async ({ page }) => {
  const earlier = 400;
  const chat = new ChatPage(page);
  await withExtraStyle(page);
  await announceRepliesDone(page);
  await chat.goto(BENCH_URL);
  // Saved as the chat saves a conversation, and restored by the reload.
  await page.evaluate((count) => {
    const message = (n: number) => ({
      id: `bench-${n}`,
      role: n % 2 === 1 ? 'user' : 'assistant',
      text: n % 2 === 1 ? `Question ${n}?` : `Answer ${n}, **short** and done.`,
      status: 'done',
      error: null,
      server_id: null,
      stats: null,
      stopped_at: null,
    });
    const messages = Array.from({ length: count }, (_, index) => message(index + 1));
    localStorage.setItem('reins-chat', JSON.stringify({ chat_id: 'bench', messages, next_id: count + 1 }));
  }, earlier);
  await chat.goto(BENCH_URL);
  await expect(chat.log.locator('article')).toHaveCount(earlier);
  await traceReply(
    page,
    () => sendAndWait(page, chat, 'Write the longest reply you can', 50_000),
    () => tokensSent(chat, 2_000),
  );
});

/**
 * Traces the echo model's reply to `prompt` in the hosted chat; `whole`
 * checks, after the trace, that the reply arrived whole, and gives its
 * number of pieces.
 */
async function traceEchoReply(page: Page, prompt: string, timeout: number, whole: (chat: ChatPage) => Promise<number>) {
  const chat = new ChatPage(page);
  await withExtraStyle(page);
  await announceRepliesDone(page);
  await chat.goto(LIST_BENCH_URL);
  await traceReply(page, () => sendAndWait(page, chat, prompt, timeout), () => whole(chat));
}

test('render cost of a reply that is one 20,000-piece list at about 200 pieces/s', async ({ page }) => {
  const pieces = 20_000;
  await traceEchoReply(page, `one list: ${pieces}`, 30_000 + pieces * 10, async (chat) => {
    // Whole: its last whole item (three pieces each) is at its end.
    expect((await chat.lastReplyText()).slice(-30)).toContain(`item ${Math.floor(pieces / 3)}`);
    return pieces;
  });
});

test('render cost of a reply that is one 20,000-piece code block at about 200 pieces/s', async ({ page }) => {
  const pieces = 20_000;
  await traceEchoReply(page, `one code block: ${pieces}`, 30_000 + pieces * 10, async (chat) => {
    // Whole: its last piece ("x6667 = ", of a line cut short) is at its end.
    const last = Math.floor((pieces - 1) / 3) + 1;
    expect((await chat.lastReplyText()).slice(-40)).toContain(`let x${last - 1} = ${last - 1};\nlet x${last} = `);
    return pieces;
  });
});

// A table is one block with nowhere to cut it: kept whole while it
// streams, up to the tail's 500 nodes (50 rows of four cells are 460), with
// its rows added and its last cell's text appended as they come.
test('render cost of a reply that is one table of 50 rows and 4 columns at about 200 pieces/s', async ({ page }) => {
  const rows = 50;
  await traceEchoReply(page, `one table: ${rows}`, 30_000 + rows * 70, async () => {
    // Whole, and drawn as a table: its last row is its last row.
    const drawn = page.locator('.reins-markdown tbody tr');
    await expect(drawn).toHaveCount(rows);
    await expect(drawn.last()).toHaveText(`${rows}write it downtry it smallkeep it`);
    return rows * 7 + 2;
  });
});

// The browser's own floor on this machine: a page with no script of ours
// that gets a word every 5 ms and, once per frame, appends the words that
// came to the paragraph being written (a new paragraph every 60 words) and
// keeps the end in view the way the chat does (scrolled to the bottom when a
// ResizeObserver sees the text grow, so no layout is forced). What a
// rendered update of the chat costs beyond this is the chat's own.
test('render cost of the same 2,000 words in a page of plain paragraphs (the floor)', async ({ page }) => {
  const words = 2_000;
  await page.goto(`${BENCH_URL}/healthz`);
  await page.setContent(`<!doctype html>
    <style>
      html, body { margin: 0; height: 100%; font: 16px/1.5 system-ui, sans-serif; }
      #log { height: 100%; overflow-y: auto; padding: 0 1rem; }
    </style>
    <div id="log"><div id="content"></div></div>`);
  await traceReply(
    page,
    () =>
      page.evaluate(
      (count) =>
        new Promise<number>((done) => {
          const log = document.getElementById('log')!;
          const content = document.getElementById('content')!;
          new ResizeObserver(() => (log.scrollTop = log.scrollHeight)).observe(content);
          let text = content.appendChild(document.createElement('p')).appendChild(new Text());
          let written = 0;
          let pending = '';
          let frame = 0;
          const draw = () => {
            frame = 0;
            for (const [index, words] of pending.split('\n').entries()) {
              if (index > 0) {
                text = new Text();
                content.appendChild(document.createElement('p')).appendChild(text);
              }
              text.appendData(words);
            }
            pending = '';
            if (written === count) done(count);
          };
          const word = setInterval(() => {
            written += 1;
            pending += written % 60 === 0 ? `\nword${written}` : `${written === 1 ? '' : ' '}word${written}`;
            if (written === count) clearInterval(word);
            if (!frame) frame = requestAnimationFrame(draw);
          }, 5);
        }),
      words,
    ),
    async () => words,
  );
});

test('time from <reins-chat> inserted to interactive, cold and warm cache', async ({ browser }) => {
  // A blank page on the server's origin, so the element talks to it as it
  // would from a page of its own site.
  const context = await browser.newContext();
  await context.route('**/blank', (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>blank</title>' }));
  const page = await context.newPage();
  /** Inserts the script and the element, and waits until the composer is usable. */
  const insert = async () => {
    await page.goto('/blank');
    return page.evaluate(async () => {
      const started = performance.now();
      const script = document.createElement('script');
      script.type = 'module';
      script.src = '/embed.js';
      document.head.append(script);
      const element = document.createElement('reins-chat');
      document.body.append(element);
      await new Promise<void>((resolve) => {
        const ready = () => {
          const root = element.shadowRoot?.querySelector('.reins-chat[data-ready="true"]');
          const input = element.shadowRoot?.querySelector('textarea');
          if (root && input && !(input as HTMLTextAreaElement).disabled) resolve();
          else requestAnimationFrame(ready);
        };
        ready();
      });
      return performance.now() - started;
    });
  };
  const cold = await insert();
  const warm = [await insert(), await insert(), await insert()].sort((a, b) => a - b);
  console.log(`\n<reins-chat> inserted to interactive (wasm compiled, composer usable), release build, headless Chromium`);
  console.log(`cold cache ${cold.toFixed(0)} ms; warm cache, median of 3: ${warm[1].toFixed(0)} ms (${warm.map((ms) => ms.toFixed(0)).join(', ')})`);
  await context.close();
});

test('time from the hosted page requested to a live chat, cold and warm cache', async ({ browser }) => {
  /** Opens the page and returns the time from navigation to a live composer. */
  const open = async (page: Page) => {
    await page.goto('/', { waitUntil: 'commit' });
    return page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const ready = () => {
            const root = document.querySelector('.reins-chat[data-ready="true"]');
            if (root?.querySelector('textarea')) resolve(performance.now());
            else requestAnimationFrame(ready);
          };
          ready();
        }),
    );
  };
  // Cold: each load in a fresh context; warm: loads again in one context.
  const cold: number[] = [];
  for (let i = 0; i < 7; i++) {
    const context = await browser.newContext();
    cold.push(await open(await context.newPage()));
    await context.close();
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  await open(page);
  const warm: number[] = [];
  for (let i = 0; i < 15; i++) warm.push(await open(page));
  await context.close();
  const figures = (times: number[]) => {
    const sorted = [...times].sort((a, b) => a - b);
    return `median ${percentile(sorted, 0.5).toFixed(0)} ms (${sorted[0].toFixed(0)}-${sorted[sorted.length - 1].toFixed(0)}, ${times.length} loads)`;
  };
  console.log(`\nThe hosted page, requested to a live chat (wasm compiled, composer usable), release build, headless Chromium`);
  console.log(`cold cache ${figures(cold)}; warm cache ${figures(warm)}`);
});
