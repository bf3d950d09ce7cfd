// PIXEL_EVENT_IDS: the event ids tagrelay sent to Meta and TikTok, written into the page for
// the browser pixel to deduplicate against. Rust decides whether a response gets them and
// builds the JSON data block (src/tracking/pixel_ids.rs); html_block.js places it as the
// HTML streams through HTMLRewriter.
import * as wasm from "../index.js";
import { prependToHead } from "./html_block.js";

/** The response with the pixel's data block, when Rust made one for it; else the response. */
export function withPixelEventIds(response) {
  const block = wasm.take_pixel_block();
  return block === undefined ? response : prependToHead(response, block);
}
