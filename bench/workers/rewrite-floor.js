// Floor (x): the least any Worker pays to write a few bytes into a page as it streams: the
// bare passthrough (b) plus a fixed data block placed at the start of <head> (or <body>) by
// tagrelay's own placing function (src/edge/js/html_block.js, copied beside this file by
// bench/run.mjs), with no tracking at all. The gap between (b) and (x) is the platform's own
// price of rewriting the 7.7 KiB page: the body leaves workerd's native pass-through, and
// lol-html parses it.
import { prependToHead } from "./html_block.js";

const BLOCK = '<script type="application/json" id="tagrelay-events">[{"event_id":"00000000-0000-4000-8000-000000000000","event_name":"ViewContent"}]</script>';

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const response = await fetch(env.ORIGIN + url.pathname + url.search, request);
    return prependToHead(response, BLOCK);
  },
};
