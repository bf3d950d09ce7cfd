// One block of HTML placed in a page as it streams through HTMLRewriter: at the start of
// <head>, or of <body> when there is no head. Nothing is buffered, and the rest of the page
// is the origin's bytes. No wasm here: bench/workers/rewrite-floor.js uses the same function,
// so the floor it measures is this code's own price.

/** `response` with `html` placed at the start of its <head> (or <body>). */
export function prependToHead(response, html) {
  let placed = false;
  const place = {
    element(element) {
      if (placed) return;
      placed = true;
      element.prepend(html, { html: true });
    },
  };
  return new HTMLRewriter().on("head", place).on("body", place).transform(response);
}
