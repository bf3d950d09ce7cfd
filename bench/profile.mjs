// `BENCH_PROFILE=<scenario key> node bench/run.mjs`: where one bench scenario's CPU goes, from
// V8's sampling profiler in workerd itself (its inspector, `--inspector-addr`), under the same
// wrk load as the report. Prints the functions that take the most time per request, by self
// time and with their callees, and writes the whole profile (open it in Chrome DevTools'
// Performance panel or any .cpuprofile viewer).
//
// Wasm functions are named only if the wasm keeps its name section: build one with
// `wasm-opt -O -g build/glue/index_bg.wasm -o <dir>/index.wasm`, copy build/worker/shim.mjs
// beside it, and pass `BENCH_ALT=<dir>` (the scenario's twin, e.g. `M`, then uses it).
// The profiler itself costs CPU (with the inspector attached, workerd also sends every
// console.log to it), so compare times within one profile, never with the report's numbers.
import { writeFileSync } from "node:fs";

/** Loads the `ws` WebSocket client (installed with wrangler's Miniflare). */
async function webSocket() {
  try {
    return (await import("ws")).default;
  } catch {
    throw new Error("BENCH_PROFILE needs the `ws` package, which Miniflare installs: run `npm ci` (make setup)");
  }
}

/** A Chrome DevTools Protocol session with workerd's Worker `service`, on its inspector at `port`. */
async function inspect(port, service) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const target = targets.find((t) => t.id === service);
  if (target === undefined) throw new Error(`workerd's inspector lists no worker "${service}"`);
  const WebSocket = await webSocket();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
  let id = 0;
  const waiting = new Map();
  ws.on("message", (data) => {
    const message = JSON.parse(data);
    if (message.id !== undefined && waiting.has(message.id)) {
      waiting.get(message.id)(message);
      waiting.delete(message.id);
    }
  });
  const call = (method, params = {}) => new Promise((resolve) => {
    waiting.set(++id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  return { call, close: () => ws.close() };
}

/** Sampled time per function in `profile`, self and inclusive (a function counted once per stack). */
function tally(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const hits = new Map();
  for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  const label = (n) => {
    const f = n.callFrame;
    const where = f.url ? ` ${f.url.split("/").pop()}:${f.lineNumber + 1}` : "";
    return `${(f.functionName || "(anonymous)").replace(/::h[0-9a-f]{16}$/, "")}${where}`;
  };
  const self = new Map();
  const total = new Map();
  for (const [id, count] of hits) {
    self.set(label(byId.get(id)), (self.get(label(byId.get(id))) ?? 0) + count);
    const seen = new Set();
    for (let x = id; x !== undefined; x = parent.get(x)) {
      const l = label(byId.get(x));
      if (!seen.has(l)) total.set(l, (total.get(l) ?? 0) + count);
      seen.add(l);
    }
  }
  return { self, total, usPerSample: (profile.endTime - profile.startTime) / profile.samples.length };
}

/**
 * Profiles one wrk run of `scenario` (`run()` makes it and returns wrk's result) in the Worker
 * `service`, on the inspector at `port`; writes `<out>` and prints the top `top` functions.
 */
export async function profileScenario({ scenario, service, port, run, out, top = 40, log }) {
  const session = await inspect(port, service);
  await session.call("Profiler.enable");
  await session.call("Profiler.setSamplingInterval", { interval: 100 });
  await session.call("Profiler.start");
  const result = run();
  const { result: { profile } } = await session.call("Profiler.stop");
  session.close();
  writeFileSync(out, JSON.stringify(profile));
  const { self, total, usPerSample } = tally(profile);
  const per = (count) => ((count * usPerSample) / result.requests).toFixed(1).padStart(7);
  const list = (map) => [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([l, c]) => `${per(c)}  ${l}`).join("\n");
  log(`profile of (${scenario.key}) ${scenario.name}: ${result.requests} requests; written to ${out}`);
  console.log(`µs of samples per request (wall time while sampled; (idle) is waiting), by self time:\n${list(self)}\n\nwith callees:\n${list(total)}`);
}
