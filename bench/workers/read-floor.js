// Floor (y): the least any Worker pays to read a page's JSON-LD as it streams: the bare
// passthrough (b) plus an HTMLRewriter text handler on <script type="application/ld+json">
// that keeps the script's text, as src/edge/js/page_events.js does, with no tracking at all.
// The gap between (b) and (y) is the platform's own price of reading the 30 KiB page: the
// body leaves workerd's native pass-through, and lol-html parses it.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const response = await fetch(env.ORIGIN + url.pathname + url.search, request);
    const texts = [];
    let current = "";
    const text = (chunk) => {
      current += chunk.text;
      if (chunk.lastInTextNode) {
        texts.push(current);
        current = "";
      }
    };
    return new HTMLRewriter().on('script[type="application/ld+json"]', { text }).transform(response);
  },
};
