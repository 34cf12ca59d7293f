import { defineConfig, devices } from '@playwright/test';

/**
 * Instances of the hosted chat, all from the release build that
 * `cargo leptos build --release` leaves in ../target:
 * - "paced" (demo model), slow enough to press Stop before the first token and mid-reply;
 * - "fast" (demo model), for replies that should run to the end;
 * - "medium" (demo model), for replies long enough to scroll, yet quick;
 * - "echo", relaying to support/echo-model.mjs, for replies a test writes itself;
 * - "embed" (demo model), embedded by the pages of support/host-pages.mjs,
 *   served on two other origins: one allowed, one not.
 */
export const PACED_URL = 'http://127.0.0.1:3100';
export const FAST_URL = 'http://127.0.0.1:3101';
/** The demo model at a pace between the two, for replies that overflow the screen. */
export const MEDIUM_URL = 'http://127.0.0.1:3102';
/**
 * The same pace with a reply three times as long (about 20 s), for a test
 * whose steps must all happen while the reply still grows: on a loaded
 * machine they outlasted the 6 s of the medium one's reply.
 */
export const LONG_URL = 'http://127.0.0.1:3114';
/** Relays to the echo model in support/, which replies with the user's own message. */
export const ECHO_URL = 'http://127.0.0.1:3103';
const ECHO_MODEL_PORT = '3199';
/** A Reins server for embedding, and two other sites: one it allows, one it does not. */
export const EMBED_URL = 'http://127.0.0.1:3104';
export const ALLOWED_SITE = 'http://127.0.0.1:3120';
export const OTHER_SITE = 'http://127.0.0.1:3121';
/**
 * Behind the repository's nginx configuration (scripts/test-nginx, HTTPS and
 * HTTP/2 with a throwaway certificate): the hosted chat, and a Reins that
 * wants a JWT, which the allowed site's pages embed.
 */
export const NGINX_URL = 'https://127.0.0.1:3140';
export const NGINX_JWT_URL = 'https://127.0.0.1:3141';
const NGINX_REINS = 'http://127.0.0.1:3105';
/** The Reins behind NGINX_JWT_URL, reached directly. */
export const NGINX_JWT_REINS = 'http://127.0.0.1:3106';
/**
 * The hosted chat behind the allowed site's sign-in (deploy/nginx/sign-in.conf):
 * nginx turns the visitor's session cookie into a token from that site, and
 * sends a visitor with none to its sign-in page. Its Reins wants a JWT.
 */
export const NGINX_SIGN_IN_URL = 'https://127.0.0.1:3144';
const SIGN_IN_REINS = 'http://127.0.0.1:3115';
/**
 * Where the allowed site answers nginx's token requests over HTTPS, with the
 * certificate nginx trusts (written to APP_CA when the site starts); and an
 * impostor with a certificate of its own for the same name, which the same
 * sign-in configuration, behind NGINX_IMPOSTOR_URL, is pointed at.
 */
const APP_TLS_PORT = '3125';
const IMPOSTOR_TLS_PORT = '3126';
const APP_TLS_DIR = '../target/e2e-app-tls';
export const NGINX_IMPOSTOR_URL = 'https://127.0.0.1:3145';
/** How the allowed site signs its users' tokens, and for how long they last. */
const JWT = {
  JWT_SECRET: 'the end-to-end tests sign their tokens with this secret',
  JWT_ISSUER: 'http://127.0.0.1:3120/',
  JWT_AUDIENCE: 'reins-e2e',
  JWT_TTL_SECS: '2',
};
/**
 * Two replicas sharing a private redis-server, behind the repository's nginx
 * configuration taking them round robin, with `proxy_ignore_client_abort on`
 * (as cloudflared behaves) over HTTP/1.1: only a stop request can stop the
 * model there. (Over HTTP/2 nginx closes the connection to Reins on a
 * stream reset whatever that setting says.) Both relay to the slow echo
 * model.
 */
export const NGINX_REPLICAS_URL = 'https://127.0.0.1:3142';
export const REPLICAS = ['http://127.0.0.1:3107', 'http://127.0.0.1:3108'];
const REDIS_PORT = '3160';
/**
 * Two more replicas on the same Redis (their own key prefix) with a resume
 * window of 10 s, behind nginx round robin over HTTP/2: a reload resumes
 * the reply, through whichever replica nginx picks.
 */
export const NGINX_RESUME_URL = 'https://127.0.0.1:3143';
export const RESUME_REPLICAS = ['http://127.0.0.1:3109', 'http://127.0.0.1:3110'];
/** examples/ai-sdk-backend, relaying to a slow echo model. */
export const AI_SDK_BACKEND = 'http://127.0.0.1:3130';
export const SLOW_ECHO_MODEL = 'http://127.0.0.1:3198';

const server = (url: string, env: Record<string, string>) => ({
  command: '../target/release/reins',
  url: `${url}/healthz`,
  reuseExistingServer: !process.env.CI,
  timeout: 30_000,
  stdout: 'ignore' as const,
  stderr: 'pipe' as const,
  env: {
    REINS_ADDR: new URL(url).host,
    LEPTOS_SITE_ROOT: '../target/site',
    RUST_LOG: 'warn',
    // Every test's browser is 127.0.0.1: a whole suite is far more than
    // one person's minute.
    REINS_MAX_REQUESTS_PER_MINUTE: '100000',
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
    server(MEDIUM_URL, {
      REINS_DEMO_TOKENS_PER_SECOND: '60',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '0',
    }),
    server(LONG_URL, {
      REINS_DEMO_TOKENS_PER_SECOND: '60',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '0',
      REINS_DEMO_MAX_TOKENS: '1200',
    }),
    {
      command: 'node support/echo-model.mjs',
      port: Number(ECHO_MODEL_PORT),
      reuseExistingServer: !process.env.CI,
      env: { ECHO_PORT: ECHO_MODEL_PORT },
    },
    {
      ...server(ECHO_URL, {
        REINS_UPSTREAM_URL: `http://127.0.0.1:${ECHO_MODEL_PORT}/v1`,
        REINS_MODEL: 'echo',
        // The embed's hostile-reply tests talk to it from the host site.
        REINS_ALLOWED_ORIGINS: ALLOWED_SITE,
      }),
      // This one has no demo model: wait for its health check instead.
      url: `${ECHO_URL}/healthz`,
    },
    server(EMBED_URL, {
      REINS_DEMO_TOKENS_PER_SECOND: '20',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '300',
      REINS_ALLOWED_ORIGINS: ALLOWED_SITE,
    }),
    {
      command: 'node support/echo-model.mjs',
      port: Number(new URL(SLOW_ECHO_MODEL).port),
      reuseExistingServer: !process.env.CI,
      env: { ECHO_PORT: new URL(SLOW_ECHO_MODEL).port, ECHO_DELAY_MS: '100' },
    },
    {
      command: 'node ../examples/ai-sdk-backend/server.mjs',
      port: Number(new URL(AI_SDK_BACKEND).port),
      reuseExistingServer: !process.env.CI,
      env: { PORT: new URL(AI_SDK_BACKEND).port, MODEL_URL: `${SLOW_ECHO_MODEL}/v1`, MODEL: 'echo' },
    },
    ...[ALLOWED_SITE, OTHER_SITE].map((site) => ({
      command: 'node support/host-pages.mjs',
      url: `${site}/one.html`,
      reuseExistingServer: !process.env.CI,
      env: {
        HOST_PORT: new URL(site).port, REINS_URL: EMBED_URL, ECHO_URL, NGINX_URL, JWT_REINS_URL: NGINX_JWT_URL, ...JWT,
        ...(site === ALLOWED_SITE ? { APP_TLS_PORT, IMPOSTOR_TLS_PORT, APP_TLS_DIR } : {}),
      },
    })),
    server(NGINX_REINS, {
      REINS_DEMO_TOKENS_PER_SECOND: '20',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '300',
      REINS_PUBLIC_ORIGIN: NGINX_URL,
      REINS_TRUSTED_PROXIES: '127.0.0.1',
      REINS_ALLOWED_ORIGINS: ALLOWED_SITE,
    }),
    server(NGINX_JWT_REINS, {
      REINS_DEMO_TOKENS_PER_SECOND: '200',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '0',
      REINS_DEMO_MAX_TOKENS: '20',
      REINS_PUBLIC_ORIGIN: NGINX_JWT_URL,
      REINS_TRUSTED_PROXIES: '127.0.0.1',
      REINS_ALLOWED_ORIGINS: ALLOWED_SITE,
      REINS_AUTH: 'jwt',
      REINS_JWT_SECRET: JWT.JWT_SECRET,
      REINS_JWT_ISSUER: JWT.JWT_ISSUER,
      REINS_JWT_AUDIENCE: JWT.JWT_AUDIENCE,
      // No clock skew allowed, so the tests' two-second tokens expire on time.
      REINS_JWT_LEEWAY_SECS: '0',
    }),
    server(SIGN_IN_REINS, {
      // Three seconds of reply: long enough to stop or to reload in.
      REINS_DEMO_TOKENS_PER_SECOND: '20',
      REINS_DEMO_FIRST_TOKEN_DELAY_MS: '300',
      REINS_DEMO_MAX_TOKENS: '60',
      // A reload resumes the reply: through GET /api/chat/{id}/stream.
      REINS_RESUME_WINDOW_MS: '10000',
      REINS_PUBLIC_ORIGIN: NGINX_SIGN_IN_URL,
      REINS_TRUSTED_PROXIES: '127.0.0.1',
      REINS_AUTH: 'jwt',
      REINS_JWT_SECRET: JWT.JWT_SECRET,
      REINS_JWT_ISSUER: JWT.JWT_ISSUER,
      REINS_JWT_AUDIENCE: JWT.JWT_AUDIENCE,
      REINS_JWT_LEEWAY_SECS: '0',
    }),
    {
      // Redis from Debian, private, saving nothing: stopped with the tests.
      command: `redis-server --bind 127.0.0.1 --port ${REDIS_PORT} --save '' --appendonly no`,
      port: Number(REDIS_PORT),
      reuseExistingServer: !process.env.CI,
      stdout: 'ignore' as const,
    },
    ...REPLICAS.map((replica) => ({
      ...server(replica, {
        REINS_UPSTREAM_URL: `${SLOW_ECHO_MODEL}/v1`,
        REINS_MODEL: 'echo',
        REINS_REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}/`,
        REINS_PUBLIC_ORIGIN: NGINX_REPLICAS_URL,
        REINS_TRUSTED_PROXIES: '127.0.0.1',
      }),
      url: `${replica}/healthz`,
    })),
    ...RESUME_REPLICAS.map((replica) => ({
      ...server(replica, {
        REINS_UPSTREAM_URL: `${SLOW_ECHO_MODEL}/v1`,
        REINS_MODEL: 'echo',
        REINS_REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}/`,
        REINS_REDIS_PREFIX: 'reins-resume',
        REINS_RESUME_WINDOW_MS: '10000',
        REINS_PUBLIC_ORIGIN: NGINX_RESUME_URL,
        REINS_TRUSTED_PROXIES: '127.0.0.1',
      }),
      url: `${replica}/healthz`,
    })),
    {
      // nginx from Debian, in the foreground, one process: stopped with the tests.
      command: `bash ../scripts/test-nginx ../target/e2e-nginx ${new URL(NGINX_URL).port}:${new URL(NGINX_REINS).port} ${new URL(NGINX_JWT_URL).port}:${new URL(NGINX_JWT_REINS).port} ${new URL(NGINX_SIGN_IN_URL).port}:${new URL(SIGN_IN_REINS).port}:sign-in@${new URL(ALLOWED_SITE).port}/${APP_TLS_PORT} ${new URL(NGINX_IMPOSTOR_URL).port}:${new URL(SIGN_IN_REINS).port}:sign-in@${new URL(ALLOWED_SITE).port}/${IMPOSTOR_TLS_PORT} ${new URL(NGINX_REPLICAS_URL).port}:${REPLICAS.map((replica) => new URL(replica).port).join(',')}:ignore-client-abort+http1 ${new URL(NGINX_RESUME_URL).port}:${RESUME_REPLICAS.map((replica) => new URL(replica).port).join(',')}`,
      port: Number(new URL(NGINX_URL).port),
      reuseExistingServer: !process.env.CI,
      env: { APP_CA: `${APP_TLS_DIR}/cert.pem` },
    },
  ],
});
