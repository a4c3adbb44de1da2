// The official server conformance suite, run by its own vitest against the server
// at DS_BASE_URL (tests/durable/test_conformance.py starts one).
import { runConformanceTests } from "@durable-streams/server-conformance-tests"

runConformanceTests({
  baseUrl: process.env.DS_BASE_URL,
  longPollTimeoutMs: Number(process.env.DS_LONG_POLL_TIMEOUT_MS ?? 20000),
})
