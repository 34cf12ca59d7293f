// An AI SDK backend that a Reins chat can talk to and stop: the AI SDK's
// `streamText` with an OpenAI-compatible provider, answering in the UI
// message stream protocol, and passing on the request's abort, so that
// pressing Stop in the chat stops the model.
//
//   MODEL_URL=http://127.0.0.1:11434/v1 MODEL=llama3.2 PORT=3130 node server.mjs
//
// then point a chat at it: <reins-chat endpoint="http://127.0.0.1:3130/api/chat">.
import { createServer } from 'node:http';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { convertToModelMessages, streamText } from 'ai';

const provider = createOpenAICompatible({
  name: 'upstream',
  baseURL: process.env.MODEL_URL ?? 'http://127.0.0.1:11434/v1',
  apiKey: process.env.MODEL_API_KEY,
});
const model = provider(process.env.MODEL ?? 'llama3.2');
// The pages allowed to call this backend (CORS); `*` for any.
const allowOrigin = process.env.ALLOW_ORIGIN ?? '*';
const port = Number(process.env.PORT ?? 3130);

createServer(async (request, response) => {
  response.setHeader('access-control-allow-origin', allowOrigin);
  if (request.method === 'OPTIONS') {
    response.writeHead(204, {
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type',
    });
    return response.end();
  }
  if (request.method !== 'POST' || request.url !== '/api/chat') {
    return response.writeHead(404).end();
  }
  let body = '';
  for await (const chunk of request) body += chunk;
  const { messages } = JSON.parse(body);

  // The client closing its connection (Stop, or a closed tab) aborts the
  // model call; without this the model would write on to nobody.
  const abort = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) abort.abort();
  });

  const result = streamText({
    model,
    messages: await convertToModelMessages(messages),
    abortSignal: abort.signal,
  });
  result.pipeUIMessageStreamToResponse(response);
}).listen(port, '127.0.0.1', () => console.log(`AI SDK backend on http://127.0.0.1:${port}/api/chat`));
