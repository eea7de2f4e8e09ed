//! One suite of the store's guarantees, run against both backends: the embedded SQLite file
//! and a real etcd (Debian's `etcd` binary, started by the test on loopback ports it picked,
//! with its data in a temporary directory).

use std::sync::Arc;

use bytes::Bytes;
use kapi_store::etcd::{EtcdBackend, EtcdConfig};
use kapi_store::{EventKind, Store, StoreError, StoreOptions};

use kapi_store::testing::EtcdProcess;

/// Where a store's data lives, so that the test can open it again.
enum Place {
    Sqlite(tempfile::TempDir),
    Etcd(EtcdProcess),
}

impl Place {
    fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    fn etcd() -> Place {
        Place::Etcd(EtcdProcess::start())
    }

    async fn open(&self) -> Store {
        self.open_with(StoreOptions::default()).await
    }

    async fn open_with(&self, options: StoreOptions) -> Store {
        match self {
            Place::Sqlite(dir) => Store::open(&dir.path().join("t.db"), options).unwrap(),
            Place::Etcd(etcd) => {
                let config = EtcdConfig {
                    endpoints: vec![etcd.url()],
                    ..Default::default()
                };
                let (backend, loaded) = EtcdBackend::connect(config, options.stamp).await.unwrap();
                Store::start(Arc::new(backend), loaded, options).unwrap()
            }
        }
    }
}

fn v(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

/// Runs one property against each backend.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Place::sqlite()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn etcd() {
                super::$name(super::Place::etcd()).await;
            }
        }
    };
}

on_both!(acknowledged_writes_survive_a_reopen_with_their_revisions);
async fn acknowledged_writes_survive_a_reopen_with_their_revisions(place: Place) {
    let (r1, r2, r3);
    {
        let s = place.open().await;
        r1 = s.create("/registry/t/a", v("1")).await.unwrap().revision;
        r2 = s
            .update("/registry/t/a", Some(r1), v("2"))
            .await
            .unwrap()
            .revision;
        r3 = s.create("/registry/t/b", v("b")).await.unwrap().revision;
        s.delete("/registry/t/b", None, v("b")).await.unwrap();
    }
    assert!(r1 < r2 && r2 < r3, "revisions increase: {r1} {r2} {r3}");
    let s = place.open().await;
    let a = s.get("/registry/t/a").unwrap();
    assert_eq!(
        (&a.value[..], a.create_revision, a.mod_revision),
        (&b"2"[..], r1, r2)
    );
    assert!(
        s.get("/registry/t/b").is_none(),
        "a deleted key stays deleted"
    );
    let next = s.create("/registry/t/c", v("c")).await.unwrap().revision;
    assert!(
        next > r3 + 1,
        "revisions continue after the delete, never reused"
    );
}

on_both!(preconditions_are_enforced_and_refused_writes_change_nothing);
async fn preconditions_are_enforced_and_refused_writes_change_nothing(place: Place) {
    let s = place.open().await;
    let r = s.create("/registry/t/a", v("1")).await.unwrap().revision;
    assert!(matches!(
        s.create("/registry/t/a", v("x")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    match s.update("/registry/t/a", Some(r + 5), v("x")).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (r + 5, r)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        s.update("/registry/t/nope", None, v("x")).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.delete("/registry/t/a", Some(r + 5), v("x")).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(&s.get("/registry/t/a").unwrap().value[..], b"1");
    let written = s.update("/registry/t/a", Some(r), v("2")).await.unwrap();
    assert_eq!(&written.value[..], b"2");
    assert_eq!(
        s.get("/registry/t/a").unwrap().mod_revision,
        written.revision,
        "the writer reads its own write at once"
    );
}

on_both!(watches_see_every_change_in_order_and_what_it_replaced);
async fn watches_see_every_change_in_order_and_what_it_replaced(place: Place) {
    let s = place.open().await;
    let start = s.create("/registry/p/x", v("0")).await.unwrap().revision;
    let mut w = s.watch("/registry/p/", start).unwrap();
    for i in 1..=3 {
        s.update("/registry/p/x", None, v(&i.to_string()))
            .await
            .unwrap();
    }
    s.create("/registry/q/other", v("q")).await.unwrap();
    s.delete("/registry/p/x", None, v("3")).await.unwrap();
    let created = s.create("/registry/p/y", v("y")).await.unwrap().revision;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let e = w.next().await.unwrap();
        seen.push((
            e.kind,
            String::from_utf8_lossy(&e.value).into_owned(),
            e.prev_value
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            e.revision,
        ));
    }
    let got: Vec<(EventKind, &str, Option<&str>)> = seen
        .iter()
        .map(|(k, v, p, _)| (*k, v.as_str(), p.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (EventKind::Modified, "1", Some("0")),
            (EventKind::Modified, "2", Some("1")),
            (EventKind::Modified, "3", Some("2")),
            (EventKind::Deleted, "3", Some("3")),
            (EventKind::Added, "y", None),
        ]
    );
    assert!(seen.windows(2).all(|w| w[0].3 < w[1].3));
    assert_eq!(seen[4].3, created);
}

on_both!(concurrent_writers_all_land_with_distinct_revisions);
async fn concurrent_writers_all_land_with_distinct_revisions(place: Place) {
    let s = place.open().await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..25 {
                let key = format!("/registry/c/{w}-{i}");
                revs.push(s.create(&key, v("x")).await.unwrap().revision);
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 200, "every write has its own revision");
    let (items, revision, more) = s.list("/registry/c/", None, 0, |_, _| true);
    assert_eq!((items.len(), more), (200, false));
    assert!(revision >= *all.last().unwrap());
    // The same keys race to be created: exactly one create of each wins.
    let mut racers = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        racers.push(tokio::spawn(async move {
            s.create("/registry/c/contended", v("me")).await.is_ok()
        }));
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);
}

on_both!(a_list_at_a_past_revision_sees_the_keys_as_they_were_then);
async fn a_list_at_a_past_revision_sees_the_keys_as_they_were_then(place: Place) {
    let s = place.open().await;
    for k in ["a", "b", "c"] {
        s.create(&format!("/registry/p/{k}"), v(&format!("{k}0")))
            .await
            .unwrap();
    }
    let at = s.revision();
    s.update("/registry/p/b", None, v("b1")).await.unwrap();
    s.delete("/registry/p/c", None, v("c0")).await.unwrap();
    s.create("/registry/p/bb", v("new")).await.unwrap();
    let (items, more) = s.list_at("/registry/p/", None, 0, at, |_, _| true).unwrap();
    let got: Vec<(String, String)> = items
        .into_iter()
        .map(|(k, kv)| (k, String::from_utf8(kv.value.to_vec()).unwrap()))
        .collect();
    let pair = |k: &str, v: &str| (format!("/registry/p/{k}"), v.to_string());
    assert_eq!(
        (got, more),
        (
            vec![pair("a", "a0"), pair("b", "b0"), pair("c", "c0")],
            false
        )
    );
}

on_both!(values_are_stored_stamped_with_their_revision);
async fn values_are_stored_stamped_with_their_revision(place: Place) {
    fn stamp(value: &Bytes, revision: i64) -> Bytes {
        Bytes::from(format!("{}@{revision}", String::from_utf8_lossy(value)))
    }
    let options = || StoreOptions {
        stamp,
        ..Default::default()
    };
    let s = place.open_with(options()).await;
    let written = s.create("/registry/s/a", v("a")).await.unwrap();
    let expected = format!("a@{}", written.revision);
    assert_eq!(&written.value[..], expected.as_bytes());
    assert_eq!(
        &s.get("/registry/s/a").unwrap().value[..],
        expected.as_bytes()
    );
    drop(s);
    let s = place.open_with(options()).await;
    assert_eq!(
        &s.get("/registry/s/a").unwrap().value[..],
        expected.as_bytes(),
        "stamped once, whether the backend stores the stamp or stamps what it reads"
    );
}

/// Two servers on one etcd: each reads the other's writes once it has synced, and watches
/// on either see both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_etcd_see_each_others_writes() {
    let place = Place::etcd();
    let one = place.open().await;
    let two = place.open().await;
    let mut watch = two.watch("/registry/m/", two.revision()).unwrap();
    let written = one.create("/registry/m/a", v("1")).await.unwrap();
    two.sync().await.unwrap();
    assert_eq!(
        two.get("/registry/m/a").map(|kv| kv.mod_revision),
        Some(written.revision)
    );
    let e = watch.next().await.unwrap();
    assert_eq!((e.kind, e.revision), (EventKind::Added, written.revision));
    // Optimistic concurrency holds across servers.
    let stale = written.revision;
    two.update("/registry/m/a", Some(stale), v("2"))
        .await
        .unwrap();
    assert!(matches!(
        one.update("/registry/m/a", Some(stale), v("3")).await,
        Err(StoreError::Conflict { .. })
    ));
    // A server with nothing new under its keys still syncs when etcd's revision moved on
    // through keys outside its prefix (etcd reports progress).
    let Place::Etcd(etcd) = &place else {
        unreachable!()
    };
    let config = EtcdConfig {
        endpoints: vec![etcd.url()],
        prefix: "/elsewhere".into(),
        ..Default::default()
    };
    let (backend, loaded) = EtcdBackend::connect(config, kapi_store::backend::unstamped)
        .await
        .unwrap();
    let elsewhere = Store::start(Arc::new(backend), loaded, StoreOptions::default()).unwrap();
    let moved = elsewhere.create("/registry/x", v("x")).await.unwrap();
    one.sync().await.unwrap();
    assert!(one.revision() >= moved.revision);
    assert!(
        one.get("/registry/x").is_none(),
        "prefixes keep clusters apart"
    );
}

/// Concurrent consistent reads share etcd round trips, and each still sees every write
/// acknowledged before it began, whichever server made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_syncs_each_see_the_writes_acknowledged_before_them() {
    let place = Place::etcd();
    let one = place.open().await;
    let two = place.open().await;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (one, two) = (one.clone(), two.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let key = format!("/registry/r/{t}-{i}");
                let written = one.create(&key, v("x")).await.unwrap();
                two.sync().await.unwrap();
                assert_eq!(
                    two.get(&key).map(|kv| kv.mod_revision),
                    Some(written.revision),
                    "{key} was acknowledged before the read began"
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
