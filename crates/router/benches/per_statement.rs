//! Per-statement classification cost over the whole corpus, cold and warm, as percentiles.
//!
//! `cargo bench -p splitrail-router --bench per_statement`. Criterion times a few statements
//! closely (benches/classify.rs); this times every corpus statement roughly (median of several
//! batches), prints the distribution and the slowest ones, so a statement shape that is slow
//! to classify shows up by name.

use std::hint::black_box;
use std::time::Instant;

use splitrail_router::{ClassifierCache, classify};

#[path = "../tests/common/corpus.rs"]
mod corpus;

/// Median nanoseconds per call of `f`, over `batches` batches of `per_batch` calls.
fn median_ns(batches: usize, per_batch: u32, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(per_batch)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn percentiles(name: &str, rows: &mut [(f64, &str)]) {
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let at = |p: f64| rows[((rows.len() - 1) as f64 * p) as usize].0;
    println!(
        "{name:5} n={} p50={:.0}ns p90={:.0}ns p99={:.0}ns max={:.0}ns",
        rows.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    for (ns, sql) in rows.iter().rev().take(3) {
        let short: String = sql.chars().take(70).collect();
        println!("        {ns:>8.0}ns  {short}");
    }
}

fn main() {
    // `cargo test --benches` runs bench targets with no arguments in test mode: stay quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let stmts = corpus::statements();
    let (batches, cold_n, warm_n) = if quick { (1, 1, 1) } else { (7, 20, 400) };
    let mut cold: Vec<(f64, &str)> = Vec::new();
    let mut warm: Vec<(f64, &str)> = Vec::new();
    let mut cache = ClassifierCache::new(4096);
    for s in &stmts {
        cold.push((
            median_ns(batches, cold_n, || drop(black_box(classify(black_box(s))))),
            s,
        ));
        cache.classify(s);
        warm.push((
            median_ns(batches, warm_n, || {
                drop(black_box(cache.classify(black_box(s))))
            }),
            s,
        ));
    }
    percentiles("cold", &mut cold);
    percentiles("warm", &mut warm);
}
