//! Store write throughput: batches of concurrent 1 KiB creates on the embedded backend (group
//! commit), on etcd, and straight to etcd for comparison; and a list of 10,000 keys from the
//! in-memory cache.

#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn value() -> Bytes {
    Bytes::from(vec![b'x'; 1024])
}

/// 64 concurrent 1 KiB creates of fresh keys through `store`, one batch per iteration.
fn bench_creates(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    store: kapi_store::Store,
) {
    let counter = Arc::new(AtomicU64::new(0));
    group.bench_function(name, |b| {
        b.to_async(rt).iter(|| {
            let store = store.clone();
            let counter = counter.clone();
            async move {
                let mut tasks = Vec::with_capacity(64);
                for _ in 0..64 {
                    let store = store.clone();
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    tasks.push(tokio::spawn(async move {
                        store
                            .create(&format!("/registry/configmaps/default/cm-{n}"), value())
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
}

/// The same creates on both backends, and etcd's own puts at the same concurrency (what the
/// etcd backend adds on top: a transaction instead of a put, and the wait for its watch).
fn creates(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let embedded =
        kapi_store::Store::open(&dir.path().join("bench.db"), Default::default()).unwrap();
    let etcd = kapi_store::testing::EtcdProcess::start();
    let config = kapi_store::etcd::EtcdConfig {
        endpoints: vec![etcd.url()],
        ..Default::default()
    };
    let on_etcd = rt.block_on(async {
        let (backend, loaded) =
            kapi_store::etcd::EtcdBackend::connect(config, kapi_store::backend::unstamped)
                .await
                .unwrap();
        kapi_store::Store::start(Arc::new(backend), loaded, Default::default()).unwrap()
    });
    let client = rt
        .block_on(etcd_client::Client::connect([etcd.url()], None))
        .unwrap();
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(64));
    group.sample_size(30);
    bench_creates(
        &mut group,
        &rt,
        "64 concurrent 1KiB creates (one group commit)",
        embedded,
    );
    bench_creates(
        &mut group,
        &rt,
        "64 concurrent 1KiB creates on etcd",
        on_etcd,
    );
    let counter = Arc::new(AtomicU64::new(0));
    group.bench_function("64 concurrent 1KiB puts straight to etcd", |b| {
        b.to_async(&rt).iter(|| {
            let client = client.clone();
            let counter = counter.clone();
            async move {
                let mut tasks = Vec::with_capacity(64);
                for _ in 0..64 {
                    let mut kv = client.kv_client();
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    tasks.push(tokio::spawn(async move {
                        kv.put(format!("/raw/cm-{n}"), value().to_vec(), None)
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
                    s.create(&format!("/registry/pods/default/pod-{i:05}"), value())
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
                .list("/registry/pods/default/", None, 0, |_, _| true)
                .0
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, creates);
criterion_main!(benches);
