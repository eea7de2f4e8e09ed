//! A work queue keyed by object, as client-go's workqueue: a key waits at most once however
//! many events arrive for it (the latest item wins), and a key being worked on is not handed to
//! a second worker; an event that arrives meanwhile is handed out again when the first is done.
//! A fixed pool of workers drains it, which bounds concurrent writes however many objects
//! change: the simulated kubelet keys it by pod, the EndpointSlice and Endpoints controllers
//! by Service.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Semaphore;

/// Keys ready for a worker, each with its latest item.
pub struct WorkQueue<T> {
    state: Mutex<State<T>>,
    /// One permit per key in `State::ready`.
    ready: Semaphore,
}

struct State<T> {
    pending: HashMap<String, T>,
    ready: VecDeque<String>,
    processing: HashSet<String>,
}

impl<T> Default for WorkQueue<T> {
    fn default() -> Self {
        WorkQueue {
            state: Mutex::new(State {
                pending: HashMap::new(),
                ready: VecDeque::new(),
                processing: HashSet::new(),
            }),
            ready: Semaphore::new(0),
        }
    }
}

impl<T> WorkQueue<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // The state stays consistent across a panicking holder: every change is one statement.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` under `key`, replacing an item still waiting there.
    pub fn push(&self, key: String, item: T) {
        let mut s = self.lock();
        if s.pending.insert(key.clone(), item).is_none() && !s.processing.contains(&key) {
            s.ready.push_back(key);
            self.ready.add_permits(1);
        }
    }

    /// Queues `item` unless something newer waits under `key` (a retry must not undo an event).
    pub fn push_if_absent(&self, key: String, item: T) {
        if !self.lock().pending.contains_key(&key) {
            self.push(key, item);
        }
    }

    /// The next key and its item; the caller must call [`WorkQueue::done`] with the key.
    pub async fn pop(&self) -> (String, T) {
        loop {
            if let Ok(permit) = self.ready.acquire().await {
                permit.forget();
            }
            let mut s = self.lock();
            if let Some(key) = s.ready.pop_front() {
                if let Some(item) = s.pending.remove(&key) {
                    s.processing.insert(key.clone());
                    return (key, item);
                }
            }
        }
    }

    /// Marks `key` finished; an item that arrived meanwhile becomes ready.
    pub fn done(&self, key: &str) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.pending.contains_key(key) {
            s.ready.push_back(key.to_string());
            self.ready.add_permits(1);
        }
    }

    /// Keys waiting or being worked on.
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.pending.len() + s.processing.len()
    }

    /// Whether nothing waits and nothing is being worked on.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_waits_once_with_its_latest_item() {
        let q = WorkQueue::default();
        q.push("a".into(), 1);
        q.push("b".into(), 1);
        q.push("a".into(), 2);
        assert_eq!(q.pop().await, ("a".to_string(), 2));
        assert_eq!(q.pop().await, ("b".to_string(), 1));
        q.done("a");
        q.done("b");
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_key_in_progress_is_handed_out_again_only_when_done() {
        let q = WorkQueue::default();
        q.push("a".into(), 1);
        let (k, _) = q.pop().await;
        q.push("a".into(), 2);
        q.push("b".into(), 1);
        // "a" is busy: the next worker gets "b".
        assert_eq!(q.pop().await, ("b".to_string(), 1));
        q.done(&k);
        assert_eq!(q.pop().await, ("a".to_string(), 2));
    }

    #[tokio::test]
    async fn a_retry_does_not_replace_a_newer_event() {
        let q = WorkQueue::default();
        q.push("a".into(), 2);
        q.push_if_absent("a".into(), 1);
        assert_eq!(q.pop().await, ("a".to_string(), 2));
        q.done("a");
        q.push_if_absent("a".into(), 1);
        assert_eq!(q.pop().await, ("a".to_string(), 1));
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_on_push() {
        let q = std::sync::Arc::new(WorkQueue::default());
        let worker = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::task::yield_now().await;
        q.push("a".into(), 7);
        assert_eq!(worker.await.unwrap(), ("a".to_string(), 7));
    }
}
