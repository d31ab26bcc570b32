//! Classification cost, cold (full classification, sqlparser for reads) and warm (cache hit).
//!
//! `cargo bench -p splitrail-router`. The corpus groups run every corpus statement per
//! iteration and report throughput per statement; the `statement` groups time a few typical
//! statements one by one.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use splitrail_router::{ClassifierCache, Policy, SessionState, classify, route};

#[path = "../tests/common/corpus.rs"]
mod corpus;

const TYPICAL: [(&str, &str); 6] = [
    ("point_select", "SELECT c FROM sbtest1 WHERE id=5012"),
    (
        "range_order",
        "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 3981 AND 4080 ORDER BY c",
    ),
    (
        "django_select",
        "SELECT `auth_user`.`id`, `auth_user`.`password`, `auth_user`.`last_login`, `auth_user`.`is_superuser`, `auth_user`.`username`, `auth_user`.`email` FROM `auth_user` WHERE `auth_user`.`username` = 'admin' LIMIT 21",
    ),
    ("update", "UPDATE sbtest1 SET k=k+1 WHERE id=4980"),
    (
        "insert",
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 5002, '30393290306-46424356946', '13290405549-23718466390')",
    ),
    ("set_autocommit", "SET autocommit=0"),
];

fn corpus(c: &mut Criterion) {
    let stmts = corpus::statements();
    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Elements(stmts.len() as u64));
    g.bench_function("cold", |b| {
        b.iter(|| {
            for s in &stmts {
                black_box(classify(black_box(s)));
            }
        })
    });
    let mut cache = ClassifierCache::new(4096);
    for s in &stmts {
        cache.classify(s);
    }
    g.bench_function("warm", |b| {
        b.iter(|| {
            for s in &stmts {
                black_box(cache.classify(black_box(s)));
            }
        })
    });
    let state = SessionState::new("app");
    let policy = Policy::default();
    g.bench_function("warm_and_route", |b| {
        b.iter(|| {
            for s in &stmts {
                let c = cache.classify(black_box(s));
                black_box(route(&c, &state, &policy));
            }
        })
    });
    g.finish();
}

fn typical(c: &mut Criterion) {
    let mut g = c.benchmark_group("statement");
    let mut cache = ClassifierCache::new(64);
    for (name, sql) in TYPICAL {
        g.bench_function(format!("{name}/cold"), |b| {
            b.iter(|| black_box(classify(black_box(sql))))
        });
        cache.classify(sql);
        g.bench_function(format!("{name}/warm"), |b| {
            b.iter(|| black_box(cache.classify(black_box(sql))))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = corpus, typical
}
criterion_main!(benches);
