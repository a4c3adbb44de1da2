import { streamText, tool, stepCountIs } from 'ai';
import { MockLanguageModelV2, simulateReadableStream } from 'ai/test';
import { z } from 'zod';

let call = 0;
const usage = { inputTokens: 12, outputTokens: 9, totalTokens: 21 };
const steps = [
  [
    { type: 'stream-start', warnings: [] },
    { type: 'tool-input-start', id: 'call_weather_1', toolName: 'getWeather' },
    { type: 'tool-input-delta', id: 'call_weather_1', delta: '{"city":' },
    { type: 'tool-input-delta', id: 'call_weather_1', delta: '"Berlin"}' },
    { type: 'tool-input-end', id: 'call_weather_1' },
    { type: 'tool-call', toolCallId: 'call_weather_1', toolName: 'getWeather', input: '{"city":"Berlin"}' },
    { type: 'finish', finishReason: 'tool-calls', usage },
  ],
  [
    { type: 'stream-start', warnings: [] },
    { type: 'text-start', id: 'txt-0' },
    { type: 'text-delta', id: 'txt-0', delta: 'Berlin is ' },
    { type: 'text-delta', id: 'txt-0', delta: '12°C and cloudy.' },
    { type: 'text-end', id: 'txt-0' },
    { type: 'finish', finishReason: 'stop', usage },
  ],
];
const model = new MockLanguageModelV2({
  doStream: async () => ({ stream: simulateReadableStream({ chunks: steps[call++] }) }),
});
const result = streamText({
  model,
  prompt: 'Weather in Berlin?',
  stopWhen: stepCountIs(2),
  tools: {
    getWeather: tool({
      description: 'Current weather',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => ({ temperature: 12, sky: 'cloudy' }),
    }),
  },
});
const response = result.toUIMessageStreamResponse({ generateMessageId: () => 'msg-8d1f0c' });
console.error(JSON.stringify(Object.fromEntries(response.headers)));
process.stdout.write(await response.text());
