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

fn v(s: &str) -> impl FnOnce(i64) -> Bytes + Send + 'static {
    let s = s.to_string();
    move |_| Bytes::from(s)
}

#[tokio::test]
async fn writes_survive_reopen_with_their_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2, r3);
    {
        let s = open(dir.path(), 100);
        r1 = s.create("/a", v("1")).await.unwrap();
        r2 = s.update("/a", Some(r1), v("2")).await.unwrap();
        r3 = s.create("/b", v("b")).await.unwrap();
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
    let next = s.create("/c", v("c")).await.unwrap();
    assert_eq!(next, r3 + 2, "revisions continue, never reused");
}

#[tokio::test]
async fn preconditions_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    let r = s.create("/a", v("1")).await.unwrap();
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
        start = s.create("/p/x", v("0")).await.unwrap();
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
    let live = s.create("/p/y", v("y")).await.unwrap();
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
        written.push(s.create(&format!("/k{i}"), v("x")).await.unwrap());
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
    let first = s.create("/a", v("1")).await.unwrap();
    let second = s.create("/b", v("2")).await.unwrap();
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
        last = s.create(&format!("/b/{i}"), v("x")).await.unwrap();
    }
    // The events are buffered already: one poll consumes them, then the stream waits.
    let waited = tokio::time::timeout(std::time::Duration::ZERO, w.next()).await;
    assert!(waited.is_err(), "nothing under /a/");
    assert_eq!(w.revision(), last, "progress a bookmark can carry");
    let mine = s.create("/a/x", v("y")).await.unwrap();
    assert_eq!(w.next().await.unwrap().revision, mine);
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
