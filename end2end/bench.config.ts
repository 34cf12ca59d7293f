import { defineConfig } from '@playwright/test';
import base from './playwright.config';

/**
 * The browser benchmark: the release build of the hosted chat on a demo model
 * that writes 2,000 tokens at 200 tokens/s (and another that writes 20,000),
 * on the echo model writing one list of 20,000 pieces, and the embed it
 * serves. Run `bash scripts/bench-render`.
 */
export const BENCH_URL = 'http://127.0.0.1:3110';
/** The same demo model, for a reply of 20,000 tokens. */
export const LONG_BENCH_URL = 'http://127.0.0.1:3111';
/** Relays to the echo model (support/echo-model.mjs), for a reply that is one 20,000-piece list. */
export const LIST_BENCH_URL = 'http://127.0.0.1:3112';
const LIST_MODEL_PORT = '3113';

function server(url: string, tokens: number, env: Record<string, string> = {}) {
  return {
    command: '../target/release/reins',
    url: `${url}/healthz`,
    reuseExistingServer: false,
    timeout: 30_000,
    env: {
      REINS_ADDR: new URL(url).host,
      REINS_MAX_REQUESTS_PER_MINUTE: '100000',
      LEPTOS_SITE_ROOT: '../target/site',
      RUST_LOG: 'warn',
      REINS_DEMO_TOKENS_PER_SECOND: '200',
      REINS_DEMO_MAX_TOKENS: String(tokens),
      REINS_MAX_TOKENS: String(tokens),
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '0',
      ...env,
    },
  };
}

export default defineConfig({
  ...base,
  testDir: './bench',
  testMatch: '*.bench.ts',
  timeout: 240_000,
  reporter: [['list']],
  use: { ...base.use, baseURL: BENCH_URL, trace: 'off' },
  webServer: [
    server(BENCH_URL, 2_000),
    server(LONG_BENCH_URL, 20_000),
    // A piece every 5 ms: about 200 a second.
    { command: 'node support/echo-model.mjs', port: Number(LIST_MODEL_PORT), reuseExistingServer: false, env: { ECHO_PORT: LIST_MODEL_PORT, ECHO_DELAY_MS: '5' } },
    server(LIST_BENCH_URL, 20_000, { REINS_UPSTREAM_URL: `http://127.0.0.1:${LIST_MODEL_PORT}/v1`, REINS_MODEL: 'echo' }),
  ],
});
