//! Native bot matcher benchmarks: build time and per-UA cost.
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tagrelay::bots::BotMatcher;
use tagrelay_matcher_bench::{BROWSER_UA, CRAWLER_UA};

fn bench(c: &mut Criterion) {
    c.bench_function("bot_matcher_build", |b| b.iter(|| BotMatcher::new().unwrap()));
    let m = BotMatcher::new().unwrap();
    let mut group = c.benchmark_group("bot_matcher_is_bot");
    group.bench_function("browser", |b| b.iter(|| m.is_bot(black_box(BROWSER_UA))));
    group.bench_function("crawler", |b| b.iter(|| m.is_bot(black_box(CRAWLER_UA))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
