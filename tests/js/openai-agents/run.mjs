// A real @openai/agents run on a fake Chat Completions endpoint (no network),
// exporting its trace with the SDK's own OpenAITracingExporter to a replaydeck
// test server. Prints {"traceId", "finalOutput"} as JSON.
//
// Usage: node run.mjs <endpoint> <api key> [group id]
import {
  Agent,
  BatchTraceProcessor,
  OpenAIChatCompletionsModel,
  OpenAITracingExporter,
  run,
  setTraceProcessors,
  setTracingDisabled,
  tool,
  withTrace,
} from '@openai/agents';
import OpenAI from 'openai';

const [endpoint, apiKey, groupId] = process.argv.slice(2);
const ANSWER = 'It is sunny in Paris, 21 °C.';

function completion(message, finish, [prompt, completionTokens]) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'fake-model',
    choices: [{ index: 0, message, finish_reason: finish }],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completionTokens,
      total_tokens: prompt + completionTokens,
    },
  };
}

// The model's side of the conversation: a tool call, then the answer.
async function fakeChat(_url, init) {
  const body = JSON.parse(init.body);
  const last = body.messages[body.messages.length - 1];
  const answer =
    last.role !== 'tool'
      ? completion(
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
            ],
          },
          'tool_calls',
          [12, 5],
        )
      : completion({ role: 'assistant', content: ANSWER }, 'stop', [30, 9]);
  return new Response(JSON.stringify(answer), {
    status: 200,
    headers: { 'content-type': 'application/json' },
  });
}

const getWeather = tool({
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
  execute: async ({ city }) => `sunny, 21 C in ${city}`,
});

const client = new OpenAI({ apiKey: 'sk-test', baseURL: 'http://model.invalid/v1', fetch: fakeChat });
const agent = new Agent({
  name: 'Weather',
  instructions: 'Answer with the weather.',
  tools: [getWeather],
  model: new OpenAIChatCompletionsModel(client, 'fake-model'),
});

const processor = new BatchTraceProcessor(new OpenAITracingExporter({ endpoint, apiKey }));
setTraceProcessors([processor]);
setTracingDisabled(false);

let traceId;
const result = await withTrace(
  'Weather workflow',
  async (trace) => {
    traceId = trace.traceId;
    return run(agent, 'What is the weather in Paris?');
  },
  groupId ? { groupId } : {},
);
await processor.forceFlush();
console.log(JSON.stringify({ traceId, finalOutput: result.finalOutput }));
