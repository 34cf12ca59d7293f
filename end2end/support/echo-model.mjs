// An OpenAI-compatible streaming model for the end-to-end tests: it replies
// with the last user message, word by word (ECHO_DELAY_MS apart), so a test
// decides exactly what the chat has to render. A message starting with
// "fail once:" gets half a reply and a cut connection the first time, and a
// whole reply after that. `GET /closed` lists the prompts whose client closed
// the connection before the reply was complete. "pathological: NAME" gets the
// hostile reply of that name from pathological.mjs, in about 200 pieces
// ("pathological slowly: NAME" in 2,000, for a test to stop it midway). A
// message starting with "think first:" gets nothing at all for 10 s, as a
// model that thinks long, then its echo. "one list: N" gets a reply of N
// pieces that is one tight list ("- item 1", "- item 2", ... with no blank
// line, three pieces an item), and "one code block: N" a reply of N pieces
// that is one fenced code block ("let x1 = 1;", three pieces a line), and
// "one table: N" a table of N rows of four columns ("| 1 | write it down |
// try it small | keep it |", seven pieces a row), for the browser benchmark.
import { createServer } from 'node:http';
import { PATHOLOGICAL } from './pathological.mjs';

const port = Number(process.env.ECHO_PORT ?? 3199);
const delay = Number(process.env.ECHO_DELAY_MS ?? 5);
const failedOnce = new Set();
const closedEarly = [];

createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/closed') {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(closedEarly));
    return;
  }
  if (request.method !== 'POST' || !request.url.endsWith('/chat/completions')) {
    response.writeHead(404).end();
    return;
  }
  let body = '';
  request.on('data', (chunk) => (body += chunk));
  request.on('end', async () => {
    const { messages } = JSON.parse(body);
    const prompt = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const hostile = prompt.match(/^pathological( slowly)?: (.+)$/);
    const list = prompt.match(/^one list: (\d+)$/);
    const code = prompt.match(/^one code block: (\d+)$/);
    const table = prompt.match(/^one table: (\d+)$/);
    const words = hostile ? pieces(PATHOLOGICAL[hostile[2]] ?? 'no such case', hostile[1] ? 2_000 : 200)
      : list ? listPieces(Number(list[1]))
      : code ? codePieces(Number(code[1]))
      : table ? tablePieces(Number(table[1]))
      : (prompt.match(/\S+\s*/g) ?? []);
    const failNow = prompt.startsWith('fail once:') && !failedOnce.has(prompt);
    if (failNow) failedOnce.add(prompt);
    let complete = false;
    response.on('close', () => {
      if (!complete) closedEarly.push({ prompt, at: Date.now() });
    });
    if (prompt.startsWith('think first:')) {
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      if (response.destroyed) return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (delta, finish = null) =>
      response.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
    for (const [index, word] of words.entries()) {
      if (failNow && index === Math.floor(words.length / 2)) {
        complete = true; // cut on purpose, not closed by the client
        response.destroy();
        return;
      }
      if (response.destroyed) return;
      send({ content: word });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    complete = true;
    send({}, 'stop');
    response.end('data: [DONE]\n\n');
  });
}).listen(port, '127.0.0.1');

/** `text` cut into about `count` pieces. */
function pieces(text, count) {
  const size = Math.max(1, Math.ceil(text.length / count));
  const cut = [];
  for (let at = 0; at < text.length; at += size) cut.push(text.slice(at, at + size));
  return cut;
}

/** `count` pieces of one list with no blank line: "- ", "item ", "1\n", "- ", ... */
function listPieces(count) {
  return Array.from({ length: count }, (_, index) =>
    ['- ', 'item ', `${Math.floor(index / 3) + 1}\n`][index % 3]);
}

/** `count` pieces of one fenced code block: "let ", "x1 = ", "1;\n", ..., in a fence. */
function codePieces(count) {
  const lines = Array.from({ length: count }, (_, index) => {
    const line = Math.floor(index / 3) + 1;
    return ['let ', `x${line} = `, `${line};\n`][index % 3];
  });
  // The closing fence on a line of its own, after a last line cut short.
  const close = count % 3 === 0 ? '```\n' : '\n```\n';
  return ['```rust\n', ...lines, close];
}

/** A table of `rows` rows of four columns after its head, seven pieces a row: "| 1 ", "| write ", "it down ", "| try ", ... */
function tablePieces(rows) {
  const body = Array.from({ length: rows }, (_, index) =>
    [`| ${index + 1} `, '| write ', 'it down ', '| try ', 'it small ', '| keep ', 'it |\n']);
  return ['| step | first | then | last |\n', '|---|---|---|---|\n', ...body.flat()];
}
