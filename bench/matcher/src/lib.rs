//! wasm exports for timing the bot matcher on V8 (see wasm-bench.mjs).

/// User-Agents the benchmarks check: a current browser (scans the whole list) and a crawler.
pub const BROWSER_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
/// A crawler User-Agent.
pub const CRAWLER_UA: &str = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)";

#[cfg(target_arch = "wasm32")]
mod exports {
    use std::cell::RefCell;
    use tagrelay::bots::BotMatcher;
    use wasm_bindgen::prelude::*;

    thread_local! { static MATCHER: RefCell<Option<BotMatcher>> = const { RefCell::new(None) }; }

    /// Builds the matcher (timed by the caller) and keeps it.
    #[wasm_bindgen]
    pub fn build() -> usize {
        let m = BotMatcher::new().expect("vendored patterns compile");
        MATCHER.with(|cell| *cell.borrow_mut() = Some(m));
        serde_count()
    }

    fn serde_count() -> usize {
        tagrelay::bots::PATTERNS_JSON.matches("\",").count() + 1
    }

    /// Checks `ua` `n` times inside wasm; returns how many matched.
    #[wasm_bindgen]
    pub fn check_many(ua: &str, n: u32) -> u32 {
        MATCHER.with(|cell| {
            let borrowed = cell.borrow();
            let m = borrowed.as_ref().expect("build() first");
            (0..n).filter(|_| m.is_bot(std::hint::black_box(ua))).count() as u32
        })
    }
}
