// BullMQ's figure for bench/throughput.py (stock_bullmq): no-op jobs on the benchmark's Redis.
//   node noop.mjs work  <port> <queue>          a Worker, concurrency 1, until SIGTERM
//   node noop.mjs write <port> <queue> <count>  adds <count> no-op jobs (addBulk, 500 at a time)
// Jobs are kept once completed (removeOnComplete: false), so the benchmark can read each job's
// processedOn and finishedOn from Redis, as it reads RQ's started_at and ended_at.
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

const [mode, port, name, count] = process.argv.slice(2);
// BullMQ 6 takes a ready client in an ES module; a Worker's blocking calls need no retry cap.
const connection = new IORedis({ host: "127.0.0.1", port: Number(port), maxRetriesPerRequest: null });

if (mode === "work") {
  const worker = new Worker(name, async () => null, { connection, concurrency: 1 });
  await worker.waitUntilReady();
  console.log("ready");
  process.on("SIGTERM", async () => {
    await worker.close();
    process.exit(0);
  });
} else if (mode === "write") {
  const queue = new Queue(name, { connection });
  for (let start = 0; start < Number(count); start += 500) {
    const jobs = [];
    for (let i = start; i < Math.min(start + 500, Number(count)); i++) {
      jobs.push({ name: "noop", data: {}, opts: { jobId: `noop-${i}`, removeOnComplete: false } });
    }
    await queue.addBulk(jobs);
  }
  await queue.close();
  await connection.quit();
} else {
  console.error("usage: node noop.mjs work|write <port> <queue> [count]");
  process.exit(2);
}
