import { defineConfig } from '@playwright/test';
import base from './playwright.config';

/**
 * The browser benchmark: the release build of the hosted chat on a demo model
 * that writes 2,000 tokens at 200 tokens/s, and the embed it serves. Run
 * `bash scripts/bench-render`.
 */
export const BENCH_URL = 'http://127.0.0.1:3110';

export default defineConfig({
  ...base,
  testDir: './bench',
  testMatch: '*.bench.ts',
  timeout: 120_000,
  reporter: [['list']],
  use: { ...base.use, baseURL: BENCH_URL, trace: 'off' },
  webServer: {
    command: '../target/release/reins',
    url: `${BENCH_URL}/healthz`,
    reuseExistingServer: false,
    timeout: 30_000,
    env: {
      REINS_ADDR: new URL(BENCH_URL).host,
      REINS_MAX_REQUESTS_PER_MINUTE: '100000',
      LEPTOS_SITE_ROOT: '../target/site',
      RUST_LOG: 'warn',
      REINS_DEMO_TOKENS_PER_SECOND: '200',
      REINS_DEMO_MAX_TOKENS: '2000',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '0',
    },
  },
});
