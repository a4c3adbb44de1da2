// The Durable Streams reference server (@durable-streams/server), for
// scripts/bench/durable.py to measure replaydeck against in the same run.
//   node reference-server.mjs PORT [DATA_DIR]   (file-backed with DATA_DIR, else in memory)
import { DurableStreamTestServer } from "@durable-streams/server"

const [port, dataDir] = process.argv.slice(2)
const server = new DurableStreamTestServer({ port: Number(port), host: "127.0.0.1", dataDir })
await server.start()
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    await server.stop()
    process.exit(0)
  })
}
