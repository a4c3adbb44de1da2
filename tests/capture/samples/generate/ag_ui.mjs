import { EventEncoder } from '@ag-ui/encoder';
import { EventType } from '@ag-ui/core';
const events = [
  { type: EventType.RUN_STARTED, threadId: 'thread_42', runId: 'run_7' },
  { type: EventType.STEP_STARTED, stepName: 'lookup' },
  { type: EventType.TOOL_CALL_START, toolCallId: 'tc_1', toolCallName: 'search_docs', parentMessageId: 'm_1' },
  { type: EventType.TOOL_CALL_ARGS, toolCallId: 'tc_1', delta: '{"query": ' },
  { type: EventType.TOOL_CALL_ARGS, toolCallId: 'tc_1', delta: '"sse retry"}' },
  { type: EventType.TOOL_CALL_END, toolCallId: 'tc_1' },
  { type: EventType.TOOL_CALL_RESULT, messageId: 'm_2', toolCallId: 'tc_1', content: '{"hits": 2}', role: 'tool' },
  { type: EventType.STEP_FINISHED, stepName: 'lookup' },
  { type: EventType.TEXT_MESSAGE_START, messageId: 'm_3', role: 'assistant' },
  { type: EventType.TEXT_MESSAGE_CONTENT, messageId: 'm_3', delta: 'Two pages ' },
  { type: EventType.TEXT_MESSAGE_CONTENT, messageId: 'm_3', delta: 'mention retry.' },
  { type: EventType.TEXT_MESSAGE_END, messageId: 'm_3' },
  { type: EventType.RUN_FINISHED, threadId: 'thread_42', runId: 'run_7' },
];
const encoder = new EventEncoder();
console.error(encoder.getContentType());
for (const event of events) {
  process.stdout.write(encoder.encode(event));
}
