//! The etcd backend when members die: a three-member etcd on loopback, started and killed by
//! the tests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kapi_store::etcd::{EtcdBackend, EtcdConfig};
use kapi_store::testing::EtcdCluster;
use kapi_store::{Store, StoreOptions};

async fn open(etcd: &EtcdCluster) -> Store {
    let config = EtcdConfig {
        endpoints: etcd.urls(),
        ..Default::default()
    };
    let options = StoreOptions::default();
    let (backend, loaded) = EtcdBackend::connect(config, options.stamp).await.unwrap();
    Store::start(Arc::new(backend), loaded, options).unwrap()
}

/// Creates `/registry/f/{from..to}` one after the other, each retried for a while when etcd
/// answers with an error; returns the revisions of the acknowledged ones and how many errors
/// there were.
async fn create_all(s: &Store, keys: std::ops::Range<usize>) -> (Vec<(String, i64)>, usize) {
    let mut acknowledged = Vec::new();
    let mut errors = 0;
    for i in keys {
        let key = format!("/registry/f/{i:04}");
        let mut tries = 0;
        loop {
            match s.create(&key, Bytes::from(format!("{i}"))).await {
                Ok(w) => {
                    acknowledged.push((key, w.revision));
                    break;
                }
                // A retry of a write that did land the first time.
                Err(kapi_store::StoreError::AlreadyExists(_)) => break,
                Err(e) if tries < 100 => {
                    eprintln!("{key}: {e}");
                    errors += 1;
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{key} kept failing: {e}"),
            }
        }
    }
    (acknowledged, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_on_when_a_follower_dies() {
    let mut etcd = EtcdCluster::start_members(3);
    let s = open(&etcd).await;
    create_all(&s, 0..20).await;
    let leader = etcd.leader().await;
    etcd.kill((leader + 1) % 3);
    let (acknowledged, errors) = create_all(&s, 20..60).await;
    assert_eq!(acknowledged.len(), 40);
    assert!(
        errors <= 2,
        "a follower's death costs at most a reconnect: {errors} errors"
    );
    s.sync().await.unwrap();
    assert_eq!(s.count("/registry/f/", usize::MAX), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_when_the_leader_dies_mid_stream() {
    let mut etcd = EtcdCluster::start_members(3);
    let s = open(&etcd).await;
    let mut watch = s.watch("/registry/f/", s.revision()).unwrap();
    let writer = {
        let s = s.clone();
        tokio::spawn(async move { create_all(&s, 0..150).await })
    };
    // Kill the leader while the stream of creates runs.
    while s.count("/registry/f/", usize::MAX) < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let leader = etcd.leader().await;
    etcd.kill(leader);
    let (acknowledged, _errors) = writer.await.unwrap();
    // Every acknowledged write is in etcd, read by a new server from the members left.
    let fresh = open(&etcd).await;
    for (key, revision) in &acknowledged {
        let kv = fresh.get(key);
        assert_eq!(
            kv.map(|kv| kv.mod_revision),
            Some(*revision),
            "{key} was acknowledged"
        );
    }
    assert_eq!(fresh.count("/registry/f/", usize::MAX), 150);
    // The first server's cache followed through the election: it holds what etcd holds, and
    // its watch saw every create once, in order.
    s.sync().await.unwrap();
    assert_eq!(s.count("/registry/f/", usize::MAX), 150);
    let mut last = 0;
    for _ in 0..150 {
        let e = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watch goes on")
            .unwrap();
        assert!(e.revision > last);
        last = e.revision;
    }
}
