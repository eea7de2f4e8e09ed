//! The store's guarantees, each a named property: acknowledged writes are durable and survive
//! a reopen; revisions are global and strictly increasing; preconditions are enforced; watches
//! are ordered, complete and resumable (across a reopen too) within the retained history, and
//! answer Compacted beyond it; superseded rows are collected so the file stays bounded.

use bytes::Bytes;

use crate::{EventKind, Store, StoreError, StoreOptions};

fn open(dir: &std::path::Path, history: usize) -> Store {
    Store::open(
        &dir.join("t.db"),
        StoreOptions {
            event_history: history,
            ..Default::default()
        },
    )
    .unwrap()
}

fn v(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

#[tokio::test]
async fn writes_survive_reopen_with_their_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2, r3);
    {
        let s = open(dir.path(), 100);
        r1 = s.create("/a", v("1")).await.unwrap().revision;
        r2 = s.update("/a", Some(r1), v("2")).await.unwrap().revision;
        r3 = s.create("/b", v("b")).await.unwrap().revision;
        s.delete("/b", None, v("b-final")).await.unwrap();
    }
    assert!(r1 < r2 && r2 < r3);
    let s = open(dir.path(), 100);
    let a = s.get("/a").unwrap();
    assert_eq!(
        (&a.value[..], a.create_revision, a.mod_revision),
        (&b"2"[..], r1, r2)
    );
    assert!(s.get("/b").is_none(), "a deleted key stays deleted");
    assert_eq!(
        s.revision(),
        r3 + 1,
        "the revision of a trailing delete survives"
    );
    let next = s.create("/c", v("c")).await.unwrap().revision;
    assert_eq!(next, r3 + 2, "revisions continue, never reused");
}

#[tokio::test]
async fn preconditions_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    let r = s.create("/a", v("1")).await.unwrap().revision;
    assert!(matches!(
        s.create("/a", v("x")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.update("/a", Some(r + 5), v("x")).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.update("/nope", None, v("x")).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.delete("/a", Some(r + 5), v("x")).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        &s.get("/a").unwrap().value[..],
        b"1",
        "refused writes change nothing"
    );
}

#[tokio::test]
async fn watches_are_ordered_and_resume_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let start;
    {
        let s = open(dir.path(), 100);
        start = s.create("/p/x", v("0")).await.unwrap().revision;
        for i in 1..=5 {
            s.update("/p/x", None, v(&i.to_string())).await.unwrap();
        }
        s.create("/q/other", v("q")).await.unwrap();
        s.delete("/p/x", None, v("gone")).await.unwrap();
    }
    let s = open(dir.path(), 100);
    let mut w = s.watch("/p/", start).unwrap();
    let mut seen = Vec::new();
    for _ in 0..6 {
        let e = w.next().await.unwrap();
        seen.push((
            e.kind,
            String::from_utf8_lossy(&e.value).into_owned(),
            e.revision,
        ));
    }
    let kinds: Vec<EventKind> = seen.iter().map(|e| e.0).collect();
    assert_eq!(kinds[..5], [EventKind::Modified; 5]);
    assert_eq!(kinds[5], EventKind::Deleted);
    assert_eq!(seen[5].1, "gone");
    assert!(seen.windows(2).all(|w| w[0].2 < w[1].2));
    // Live events follow the backlog without a gap.
    let live = s.create("/p/y", v("y")).await.unwrap().revision;
    let e = w.next().await.unwrap();
    assert_eq!((e.kind, e.revision), (EventKind::Added, live));
}

#[tokio::test]
async fn history_is_bounded_and_older_starts_are_compacted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), 10);
        s.create("/k", v("0")).await.unwrap();
        for i in 0..200 {
            s.update("/k", None, v(&i.to_string())).await.unwrap();
        }
        assert!(matches!(s.watch("/", 5), Err(StoreError::Compacted { .. })));
        assert!(s.watch("/", s.revision() - 5).is_ok());
    }
    let s = open(dir.path(), 10);
    assert_eq!(&s.get("/k").unwrap().value[..], b"199");
    assert!(
        matches!(s.watch("/", 5), Err(StoreError::Compacted { .. })),
        "still compacted after reopen"
    );
    let mut w = s.watch("/", s.revision() - 3).unwrap();
    for _ in 0..3 {
        w.next().await.unwrap();
    }
    let rows: i64 = rusqlite::Connection::open(dir.path().join("t.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM log", [], |r| r.get(0))
        .unwrap();
    assert!(
        rows <= 12,
        "superseded rows are collected: {rows} rows for 1 key and a history of 10"
    );
}

#[tokio::test]
async fn a_watcher_behind_the_live_channel_catches_up_from_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        &dir.path().join("t.db"),
        StoreOptions {
            event_history: 100,
            watch_buffer: 16,
            ..Default::default()
        },
    )
    .unwrap();
    let start = s.revision();
    let mut w = s.watch("/", start).unwrap();
    let mut written = Vec::new();
    for i in 0..60 {
        written.push(s.create(&format!("/k{i}"), v("x")).await.unwrap().revision);
    }
    let mut seen = Vec::new();
    for _ in 0..60 {
        seen.push(w.next().await.unwrap().revision);
    }
    assert_eq!(seen, written, "every event once, in order, despite the lag");
}

#[tokio::test]
async fn a_watcher_behind_the_history_too_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        &dir.path().join("t.db"),
        StoreOptions {
            event_history: 20,
            watch_buffer: 16,
            ..Default::default()
        },
    )
    .unwrap();
    let mut w = s.watch("/", s.revision()).unwrap();
    for i in 0..60 {
        s.create(&format!("/k{i}"), v("x")).await.unwrap();
    }
    assert!(matches!(w.next().await, Err(StoreError::Compacted { .. })));
}

#[tokio::test]
async fn events_older_than_the_age_limit_leave_the_history_at_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        &dir.path().join("t.db"),
        StoreOptions {
            event_max_age: std::time::Duration::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    let first = s.create("/a", v("1")).await.unwrap().revision;
    let second = s.create("/b", v("2")).await.unwrap().revision;
    assert!(
        matches!(s.watch("/", first - 1), Err(StoreError::Compacted { .. })),
        "the first event aged out when the second was written"
    );
    let mut w = s.watch("/", first).unwrap();
    assert_eq!(w.next().await.unwrap().revision, second);
}

#[tokio::test]
async fn a_quiet_prefix_still_advances_the_stream_revision() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    let mut w = s.watch("/a/", s.revision()).unwrap();
    let mut last = 0;
    for i in 0..3 {
        last = s.create(&format!("/b/{i}"), v("x")).await.unwrap().revision;
    }
    // The events are buffered already: one poll consumes them, then the stream waits.
    let waited = tokio::time::timeout(std::time::Duration::ZERO, w.next()).await;
    assert!(waited.is_err(), "nothing under /a/");
    assert_eq!(w.revision(), last, "progress a bookmark can carry");
    let mine = s.create("/a/x", v("y")).await.unwrap().revision;
    assert_eq!(w.next().await.unwrap().revision, mine);
}

#[tokio::test]
async fn a_resources_watchers_wake_only_for_it_and_still_advance_with_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        &dir.path().join("t.db"),
        StoreOptions {
            event_history: 1000,
            watch_buffer: 128,
            ..Default::default()
        },
    )
    .unwrap();
    let mut pods = s.watch("/registry/pods/", s.revision()).unwrap();
    let mut all = s.watch("/registry/", s.revision()).unwrap();
    let mut last = 0;
    for i in 0..40 {
        last = s
            .create(&format!("/registry/configmaps/default/c{i}"), v("x"))
            .await
            .unwrap()
            .revision;
    }
    assert!(
        pods.live.is_empty(),
        "another resource's writes are not sent to the pods channel"
    );
    assert_eq!(all.live.len(), 40, "they are on the channel of every event");
    assert_eq!(
        pods.revision(),
        last,
        "a bookmark carries the cache's progress"
    );
    let pod = s
        .create("/registry/pods/default/web", v("p"))
        .await
        .unwrap()
        .revision;
    assert_eq!(pods.next().await.unwrap().revision, pod);
    // A resource's watcher that falls behind its channel catches up from the history.
    let mut written = Vec::new();
    for i in 0..40 {
        written.push(
            s.create(&format!("/registry/pods/default/p{i}"), v("x"))
                .await
                .unwrap()
                .revision,
        );
    }
    let mut seen = Vec::new();
    for _ in 0..40 {
        seen.push(pods.next().await.unwrap().revision);
    }
    assert_eq!(seen, written, "every event once, in order, despite the lag");
    assert_eq!(all.next().await.unwrap().revision, last - 39);
}

#[tokio::test]
async fn concurrent_writers_share_commits_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 1000);
    let mut tasks = Vec::new();
    for w in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                s.create(&format!("/c/{w}-{i}"), v("x")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (items, rev, more) = s.list("/c/", None, 0, |_, _| true);
    assert_eq!((items.len(), more), (800, false));
    assert_eq!(rev, 800);
    drop(s);
    let s = open(dir.path(), 1000);
    assert_eq!(s.list("/c/", None, 0, |_, _| true).0.len(), 800);
}

#[tokio::test]
async fn the_database_and_its_wal_are_readable_by_their_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    {
        let s = open(dir.path(), 100);
        s.create("/secret", v("s3cr3t")).await.unwrap();
        assert_eq!((mode("t.db"), mode("t.db-wal")), (0o600, 0o600));
    }
    // Files an older version left world-readable are tightened at the next open.
    for name in ["t.db", "t.db-wal"] {
        let path = dir.path().join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let _s = open(dir.path(), 100);
    assert_eq!(mode("t.db"), 0o600);
    if dir.path().join("t.db-wal").exists() {
        assert_eq!(mode("t.db-wal"), 0o600);
    }
}

#[tokio::test]
async fn history_of_large_values_is_bounded_by_bytes_in_memory_and_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        event_history: 10_000,
        event_history_bytes: 64 << 10,
        ..Default::default()
    };
    let big = |i: usize| {
        Bytes::from(format!("{i:08}").repeat(1024)) // 8 KiB
    };
    let (first, last);
    {
        let s = Store::open(&dir.path().join("t.db"), options.clone()).unwrap();
        first = s.create("/big", big(0)).await.unwrap().revision;
        for i in 1..200 {
            s.update("/big", None, big(i)).await.unwrap();
        }
        last = s.revision();
        assert!(
            matches!(s.watch("/", first), Err(StoreError::Compacted { .. })),
            "200 versions of 8 KiB do not fit in 64 KiB of history"
        );
        // What is kept is contiguous up to the newest.
        let mut w = s.watch("/", last - 5).unwrap();
        for rev in last - 4..=last {
            assert_eq!(w.next().await.unwrap().revision, rev);
        }
    }
    let rows: i64 = rusqlite::Connection::open(dir.path().join("t.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM log", [], |r| r.get(0))
        .unwrap();
    assert!(
        rows <= 12,
        "superseded versions are deleted: {rows} rows left"
    );
    let s = Store::open(&dir.path().join("t.db"), options).unwrap();
    assert_eq!(s.get("/big").unwrap().value[..8], *b"00000199");
    assert!(matches!(
        s.watch("/", first + 10),
        Err(StoreError::Compacted { .. })
    ));
    let mut w = s.watch("/", last - 3).unwrap();
    for rev in last - 2..=last {
        assert_eq!(
            w.next().await.unwrap().revision,
            rev,
            "resumes after a reopen"
        );
    }
}

#[tokio::test]
async fn a_store_that_lost_acknowledged_writes_is_refused_until_told_to_start_anyway() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    {
        let s = open(dir.path(), 100);
        for i in 0..5 {
            s.create(&format!("/k{i}"), v("x")).await.unwrap();
        }
    }
    // The writer records the mark as it closes; wait for the thread to let go.
    let mark = dir.path().join("t.db.rev");
    for _ in 0..100 {
        if std::fs::read_to_string(&mark).is_ok_and(|m| m.trim() == "5") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_to_string(&mark).unwrap().trim(), "5");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let err = Store::open(&db, StoreOptions::default())
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            StoreError::Behind {
                revision: 0,
                acknowledged: 5,
                ..
            }
        ) && msg.contains("committed data was lost")
            && msg.contains("t.db.rev"),
        "{msg}"
    );
    std::fs::remove_file(&mark).unwrap();
    let s = Store::open(&db, StoreOptions::default()).unwrap();
    assert_eq!(s.revision(), 0, "started on purpose with what is left");
}

#[tokio::test]
async fn a_wait_for_a_revision_ends_with_the_write_that_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    let next = s.revision() + 1;
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move {
            s.wait_for_revision(next, std::time::Duration::from_secs(30))
                .await
        })
    };
    s.create("/a", v("1")).await.unwrap();
    assert_eq!(waiter.await.unwrap(), Ok(()));
    assert_eq!(
        s.wait_for_revision(next + 5, std::time::Duration::from_millis(50))
            .await,
        Err(next),
        "a revision never written times out with the current one"
    );
}

#[tokio::test]
async fn compaction_and_reclaim_give_the_space_of_deleted_values_back_to_the_filesystem() {
    use crate::sqlite::{Row, SqliteLog};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut backend = SqliteLog::open(&db, 10_000).unwrap();
    backend.load().unwrap();
    let value = Bytes::from(vec![7u8; 100 << 10]);
    let mut rev = 0;
    for i in 0..100 {
        rev += 1;
        let change = Row {
            kind: crate::EventKind::Added,
            key: format!("/k{i}"),
            value: value.clone(),
            create_revision: rev,
            revision: rev,
            superseded: None,
        };
        backend.commit(&[change], 0).unwrap();
    }
    for i in 0..100 {
        rev += 1;
        let change = Row {
            kind: crate::EventKind::Deleted,
            key: format!("/k{i}"),
            value: value.clone(),
            create_revision: i + 1,
            revision: rev,
            superseded: Some(i + 1),
        };
        backend.commit(&[change], 0).unwrap();
    }
    backend.reclaim().unwrap();
    let before = std::fs::metadata(&db).unwrap().len();
    backend.collect(rev).unwrap();
    backend.reclaim().unwrap();
    let after = std::fs::metadata(&db).unwrap().len();
    assert!(
        after < before / 10,
        "20 MB of deleted values are given back: {before} -> {after} bytes"
    );
}

#[tokio::test]
async fn a_list_at_a_past_revision_sees_the_keys_as_they_were_then() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    for k in ["a", "b", "c", "d"] {
        s.create(&format!("/p/{k}"), v(&format!("{k}0")))
            .await
            .unwrap();
    }
    let at = s.revision();
    s.update("/p/b", None, v("b1")).await.unwrap();
    s.delete("/p/c", None, v("c0")).await.unwrap();
    s.create("/p/bb", v("new")).await.unwrap();
    s.update("/p/b", None, v("b2")).await.unwrap();
    let page = |start: Option<&str>, limit| {
        let (items, more) = s.list_at("/p/", start, limit, at, |_, _| true).unwrap();
        let got: Vec<(String, String)> = items
            .into_iter()
            .map(|(k, kv)| (k, String::from_utf8(kv.value.to_vec()).unwrap()))
            .collect();
        (got, more)
    };
    let pair = |k: &str, v: &str| (format!("/p/{k}"), v.to_string());
    assert_eq!(
        page(None, 2),
        (vec![pair("a", "a0"), pair("b", "b0")], true)
    );
    assert_eq!(
        page(Some("/p/b"), 2),
        (vec![pair("c", "c0"), pair("d", "d0")], false),
        "the deleted key is back and the one created later is not there"
    );
    drop(s);
    // Changes replayed from disk do not know what they replaced: such a past is refused.
    let s = open(dir.path(), 100);
    assert!(matches!(
        s.list_at("/p/", None, 0, at, |_, _| true),
        Err(StoreError::Compacted { .. })
    ));
    let (items, _) = s
        .list_at("/p/", None, 0, s.revision(), |_, _| true)
        .unwrap();
    assert_eq!(items.len(), 4, "the present is always there");
}
