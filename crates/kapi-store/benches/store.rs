//! Store write throughput: batches of concurrent 1 KiB creates through group commit, and a
//! list of 10,000 keys from the in-memory cache.

#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn value() -> Bytes {
    Bytes::from(vec![b'x'; 1024])
}

fn creates(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = kapi_store::Store::open(&dir.path().join("bench.db"), Default::default()).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(64));
    group.sample_size(30);
    group.bench_function("64 concurrent 1KiB creates (one group commit)", |b| {
        b.to_async(&rt).iter(|| {
            let store = store.clone();
            let counter = counter.clone();
            async move {
                let mut tasks = Vec::with_capacity(64);
                for _ in 0..64 {
                    let store = store.clone();
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    tasks.push(tokio::spawn(async move {
                        store
                            .create(
                                &format!("/registry/core/configmaps/default/cm-{n}"),
                                value(),
                            )
                            .await
                            .unwrap();
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            }
        })
    });
    group.finish();
    let mut group = c.benchmark_group("store");
    let list_store =
        kapi_store::Store::open(&dir.path().join("list.db"), Default::default()).unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..32 {
            let s = list_store.clone();
            tasks.push(tokio::spawn(async move {
                for i in (w..10_000).step_by(32) {
                    s.create(&format!("/registry/core/pods/default/pod-{i:05}"), value())
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("list 10k keys from memory", |b| {
        b.iter(|| {
            list_store
                .list("/registry/core/pods/default/", None, 0, |_, _| true)
                .0
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, creates);
criterion_main!(benches);
