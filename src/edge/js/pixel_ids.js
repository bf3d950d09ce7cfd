// PIXEL_EVENT_IDS: the event ids tagrelay sent to Meta and TikTok, written into the page for
// the browser pixel to deduplicate against. Rust decides whether a response gets them and
// builds the JSON data block (src/tracking/pixel_ids.rs); this only places it, as the HTML
// streams through HTMLRewriter: at the start of <head>, or of <body> when there is no head.
// Nothing is buffered, and the page minus the block is the origin's bytes.
import * as wasm from "../index.js";

/** The response with the pixel's data block, when Rust made one for it; else the response. */
export function withPixelEventIds(response) {
  const block = wasm.take_pixel_block();
  if (block === undefined) return response;
  let placed = false;
  const place = {
    element(element) {
      if (placed) return;
      placed = true;
      element.prepend(block, { html: true });
    },
  };
  return new HTMLRewriter().on("head", place).on("body", place).transform(response);
}
