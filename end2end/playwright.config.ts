import { defineConfig, devices } from '@playwright/test';

/**
 * Two instances of the hosted chat on the built-in demo model:
 * - a "paced" one, slow enough to press Stop before the first token and mid-reply;
 * - a "fast" one, for replies that should run to the end.
 * Both run the debug build that `cargo leptos build` leaves in ../target.
 */
export const PACED_URL = 'http://127.0.0.1:3100';
export const FAST_URL = 'http://127.0.0.1:3101';

const server = (url: string, env: Record<string, string>) => ({
  command: '../target/debug/reins',
  url: `${url}/api/demo/generations`,
  reuseExistingServer: !process.env.CI,
  timeout: 30_000,
  stdout: 'ignore' as const,
  stderr: 'pipe' as const,
  env: {
    REINS_ADDR: new URL(url).host,
    LEPTOS_SITE_ROOT: '../target/site',
    RUST_LOG: 'warn',
    ...env,
  },
});

export default defineConfig({
  testDir: './tests',
  // The tests read the demo model's shared record of generations, so they run
  // one at a time; each one is short.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 30_000,
  reporter: process.env.CI ? [['list']] : [['list'], ['html', { open: 'never' }]],
  use: {
    baseURL: PACED_URL,
    trace: 'retain-on-failure',
    ...devices['Desktop Chrome'],
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'chromium' }],
  webServer: [
    server(PACED_URL, {
      REINS_DEMO_TOKENS_PER_SECOND: '20',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '1500',
    }),
    server(FAST_URL, {
      REINS_DEMO_TOKENS_PER_SECOND: '2000',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '0',
    }),
  ],
});
