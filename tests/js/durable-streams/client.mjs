// The official TypeScript client, driven by tests/durable/test_clients.py.
//   node client.mjs write URL FROM TO EPOCH [close]  appends {"type":"message.delta",…}
//                                                    FROM..TO-1 by an IdempotentProducer
//   node client.mjs tail URL COUNT LIVE              prints each JSON item on a line
import { DurableStream, IdempotentProducer, stream } from "@durable-streams/client"

const [mode, url, ...rest] = process.argv.slice(2)

if (mode === "write") {
  const [from, to, epoch] = rest.slice(0, 3).map(Number)
  const handle =
    from === 0
      ? await DurableStream.create({ url, contentType: "application/json" })
      : new DurableStream({ url, contentType: "application/json" })
  const producer = new IdempotentProducer(handle, "node-writer", {
    epoch,
    onError: (error) => {
      console.error(error)
      process.exitCode = 1
    },
  })
  for (let i = from; i < to; i++) {
    producer.append(JSON.stringify({ type: "message.delta", data: { text: `t${i}` } }))
  }
  await producer.flush()
  if (rest[3] === "close") await producer.close()
  console.log("written")
} else if (mode === "tail") {
  const [count, live] = rest
  const res = await stream({
    url,
    offset: "-1",
    live,
    // Reconnect quickly while the server restarts.
    backoffOptions: { initialDelay: 50, maxDelay: 500, multiplier: 1.5 },
    onError: async () => ({}),
  })
  let seen = 0
  res.subscribeJson(async (batch) => {
    for (const item of batch.items) {
      console.log(JSON.stringify(item))
      seen++
    }
    if (seen >= Number(count)) process.exit(0)
  })
} else {
  console.error(`unknown mode ${mode}`)
  process.exit(2)
}
