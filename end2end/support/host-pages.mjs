// Pages of "another site" for the embedding tests: served on their own port
// (another origin), they load Reins' embed.js from REINS_URL and place
// <reins-chat> elements, under host CSS that tries to restyle them. The same
// site signs its users' tokens, for the pages that embed a Reins wanting a
// JWT and for the hosted chat behind its sign-in.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

const port = Number(process.env.HOST_PORT ?? 3120);
const reins = process.env.REINS_URL ?? 'http://127.0.0.1:3104';

const page = (body) => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>A host page</title>
  <link rel="icon" href="data:,">
  <style>
    /* Host CSS that would wreck the chat if it could reach inside. */
    button { display: none !important; background: red !important; }
    * { font-family: serif !important; color: green !important; }
    reins-chat { height: 300px; margin: 1rem; }
  </style>
  <script type="module" src="${reins}/embed.js"></script>
  <script>
    // Every event the elements send, for the tests to read.
    window.reinsEvents = [];
    for (const name of ['reins-status', 'reins-finish', 'reins-error']) {
      document.addEventListener(name, (event) =>
        window.reinsEvents.push({ name, id: event.target.id, detail: event.detail }));
    }
  </script>
</head>
<body>${body}</body>
</html>`;

const chat = (id) =>
  `<reins-chat id="${id}" endpoint="${reins}/api/chat" storage-key="${id}" title="Chat ${id}" placeholder="Ask ${id}"></reins-chat>`;

const aiSdkBackend = process.env.AI_SDK_BACKEND ?? 'http://127.0.0.1:3130';

const echo = process.env.ECHO_URL ?? 'http://127.0.0.1:3103';

// A Reins behind nginx that wants a JWT, and what this "site" signs its
// users' tokens with: a logged-in app that embeds the chat.
const jwtReins = process.env.JWT_REINS_URL ?? 'https://127.0.0.1:3141';
const jwt = {
  secret: process.env.JWT_SECRET ?? '',
  issuer: process.env.JWT_ISSUER ?? '',
  audience: process.env.JWT_AUDIENCE ?? '',
  ttlSecs: Number(process.env.JWT_TTL_SECS ?? 2),
};
let tokensIssued = 0;

/** An HS256 JWT for `sub` that expires in `jwt.ttlSecs`. */
function mintToken(sub) {
  tokensIssued++;
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({
    sub, iss: jwt.issuer, aud: jwt.audience, iat: now, exp: now + jwt.ttlSecs,
  })}`;
  return `${unsigned}.${createHmac('sha256', jwt.secret).update(unsigned).digest('base64url')}`;
}

/** A page whose chat comes from the Reins at `server`. */
const pageFrom = (server, id, attributes = '', script = '') =>
  page(`<reins-chat id="${id}" endpoint="${server}/api/chat" storage-key="${id}" ${attributes}></reins-chat>
<script>${script}</script>`).replace(`${reins}/embed.js`, `${server}/embed.js`);
const jwtPage = (id, attributes, script) => pageFrom(jwtReins, id, attributes, script);

// The hosted chat's Reins, behind nginx, which allows this site too.
const nginxReins = process.env.NGINX_URL ?? 'https://127.0.0.1:3140';

const pages = {
  // A chat whose replies a test writes (the echo model), for hostile replies.
  '/echo.html': page(
    `<reins-chat id="echo" endpoint="${echo}/api/chat" storage-key="echo" title="Echo"></reins-chat>`,
  ),
  // The page asks its own server for a fresh token before each request.
  '/jwt-refresh.html': () =>
    jwtPage('refresh', '', `document.getElementById('refresh').getToken =
      async () => (await fetch('/token')).text();`),
  // A token written into the page once: it expires.
  '/jwt-fixed.html': () => jwtPage('fixed', `token="${mintToken('ada')}"`),
  '/jwt-none.html': () => jwtPage('none', ''),
  '/nginx.html': pageFrom(nginxReins, 'proxied'),
  '/token': () => mintToken('ada'),
  '/tokens-issued': () => String(tokensIssued),
  '/two.html': page(chat('first') + chat('second')),
  '/one.html': page(chat('only')),
  // A Reins chat talking to another backend: examples/ai-sdk-backend.
  '/ai-sdk.html': page(
    `<reins-chat id="aisdk" endpoint="${aiSdkBackend}/api/chat" storage-key="aisdk"></reins-chat>`,
  ),
};

// The same site as the app whose sign-in the hosted chat sits behind
// (deploy/nginx/sign-in.conf): nginx asks it to turn a visitor's session
// cookie into a token, and sends a visitor with no session to its sign-in.
const SESSION = /(?:^|;\s*)session=([a-z]+)(?:;|$)/;

// Each request nginx made for a session's token: which connection it came
// on (its port), for the tests to see nginx keep its connections to the app.
const tokenRequests = new Map();

/** Answers what nginx asks the app, or returns false for an ordinary page. */
function signIn(request, response) {
  const { pathname } = new URL(request.url, 'http://app');
  if (pathname === '/reins/token') {
    const user = SESSION.exec(request.headers.cookie ?? '')?.[1];
    if (!user) {
      response.writeHead(401).end();
      return true;
    }
    tokenRequests.set(user, [...(tokenRequests.get(user) ?? []), request.socket.remotePort]);
    response.writeHead(204, { authorization: `Bearer ${mintToken(user)}` }).end();
    return true;
  }
  if (pathname === '/sign-in') {
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><title>Sign in</title><link rel="icon" href="data:,"><h1>Sign in</h1>');
    return true;
  }
  return false;
}

/**
 * A fresh self-signed certificate for `localhost` in `dir`: written under
 * other names, then renamed, so a reader waiting for `cert.pem` never reads
 * half of it.
 */
function certificate(dir) {
  mkdirSync(dir, { recursive: true });
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    '-keyout', `${dir}/key.new`, '-out', `${dir}/cert.new`,
  ], { stdio: 'ignore' });
  renameSync(`${dir}/key.new`, `${dir}/key.pem`);
  renameSync(`${dir}/cert.new`, `${dir}/cert.pem`);
  return { key: readFileSync(`${dir}/key.pem`), cert: readFileSync(`${dir}/cert.pem`) };
}

// The app's token endpoint over HTTPS, as nginx asks it
// (deploy/nginx/sign-in-upstream.conf): nginx trusts this certificate and
// no other (scripts/test-nginx, APP_CA). An impostor answers on another
// port with a certificate of its own for the same name: nginx must refuse
// it before sending it anything, the visitor's cookies least of all.
const impostor = { connections: 0, requests: 0 };
if (process.env.APP_TLS_PORT) {
  const dir = process.env.APP_TLS_DIR;
  createHttpsServer(certificate(dir), (request, response) => {
    if (!signIn(request, response)) response.writeHead(404).end();
  }).listen(Number(process.env.APP_TLS_PORT), '127.0.0.1');
  createHttpsServer(certificate(`${dir}/impostor`), (request, response) => {
    impostor.requests++;
    if (!signIn(request, response)) response.writeHead(404).end();
  })
    .on('connection', () => impostor.connections++)
    .listen(Number(process.env.IMPOSTOR_TLS_PORT), '127.0.0.1');
}

createServer((request, response) => {
  if (signIn(request, response)) return;
  const { pathname, searchParams } = new URL(request.url, 'http://app');
  if (pathname === '/token-requests') {
    const ports = tokenRequests.get(searchParams.get('session')) ?? [];
    return response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ports));
  }
  if (pathname === '/impostor') {
    return response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(impostor));
  }
  const found = pages[request.url];
  if (!found) return response.writeHead(404).end();
  const body = typeof found === 'function' ? found() : found;
  const type = request.url.endsWith('.html') ? 'text/html' : 'text/plain';
  response.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' }).end(body);
}).listen(port, '127.0.0.1');
