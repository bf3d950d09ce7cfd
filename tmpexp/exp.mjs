import { startServer, startWorker, request, readBody } from "/work/main/tests/e2e/harness.mjs";
import { Miniflare } from "miniflare";
let seen;
const origin = await startServer(async (req, res) => { seen = req.headers; await readBody(req);
  if (req.url === "/999") { res.writeHead(999, {"worker-tracking": '{"event_name":"PageView"}'}); res.end("x"); return; }
  res.end("ok"); });
const mf = new Miniflare({ modules: true, script: `export default { fetch(r) { const u = new URL(r.url); return fetch("${origin.url}" + u.pathname, {method: r.method, headers: r.headers, redirect: "manual"}); } }`, compatibilityDate: "2026-04-20", port: 0, host: "127.0.0.1" });
const url = new URL(await mf.ready).origin;
await request(url, "/h", { headers: { "proxy-connection": "keep-alive", "keep-alive": "timeout=5", te: "trailers", "x-hop": "1", connection: "x-hop, upgrade-insecure" } });
console.log(seen);
const r = await request(url, "/999").catch(e => e.message);
console.log(r.status, r.headers);
await mf.dispose(); origin.close();
