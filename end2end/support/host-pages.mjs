// Pages of "another site" for the embedding tests: served on their own port
// (another origin), they load Reins' embed.js from REINS_URL and place
// <reins-chat> elements, under host CSS that tries to restyle them.
import { createServer } from 'node:http';

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

const pages = {
  // A chat whose replies a test writes (the echo model), for hostile replies.
  '/echo.html': page(
    `<reins-chat id="echo" endpoint="${echo}/api/chat" storage-key="echo" title="Echo"></reins-chat>`,
  ),
  '/two.html': page(chat('first') + chat('second')),
  '/one.html': page(chat('only')),
  // A Reins chat talking to another backend: examples/ai-sdk-backend.
  '/ai-sdk.html': page(
    `<reins-chat id="aisdk" endpoint="${aiSdkBackend}/api/chat" storage-key="aisdk"></reins-chat>`,
  ),
};

createServer((request, response) => {
  const html = pages[request.url];
  if (!html) return response.writeHead(404).end();
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
}).listen(port, '127.0.0.1');
