//! One priority level's seats and queues: fair queuing with shuffle sharding.
//!
//! A request asks for some seats. If they are free and nobody is waiting it runs at once;
//! otherwise it waits in one of the queues dealt to its flow (the shortest of its hand), and
//! is refused when that queue is full or when it has waited longer than the wait limit. When
//! seats free up, the queue whose head has the smallest virtual finish time goes next, so a
//! flow that floods its queues does not starve the others. A level without queuing refuses
//! whatever does not fit at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use super::config::Queuing;
use super::retry_after::RetryAfter;

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// All seats are taken and the chosen queue is full.
    QueueFull,
    /// All seats are taken and the level does not queue.
    ConcurrencyLimit,
    /// The request waited in its queue past the wait limit.
    TimedOut,
}

struct Waiter {
    id: u64,
    seats: usize,
    wake: oneshot::Sender<()>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiter>,
    /// Virtual time at which this queue's next request starts.
    next_start: u64,
}

struct State {
    limit: usize,
    in_use: usize,
    queuing: Option<Queuing>,
    queues: Vec<Queue>,
    next_id: u64,
    enqueues: usize,
    robin: usize,
    virtual_now: u64,
    retry: RetryAfter,
}

/// The seats and queues of one priority level.
pub struct QueueSet {
    state: Mutex<State>,
    wait_limit: Duration,
    created: std::time::Instant,
}

/// Seats held by an admitted request; dropping it gives them back and runs whoever waits.
pub struct Permit {
    set: Arc<QueueSet>,
    seats: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.set.lock();
        state.in_use = state.in_use.saturating_sub(self.seats);
        state.dispatch();
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Permit({} seats)", self.seats)
    }
}

/// A request waiting in a queue. Settling it (or dropping it, when the request is cancelled)
/// decides under the lock whether it was dispatched, so seats are never lost or counted twice.
struct Pending {
    set: Arc<QueueSet>,
    id: u64,
    queue: usize,
    seats: usize,
    settled: bool,
}

impl Pending {
    /// Whether the request was dispatched (it then holds its seats), else takes it out of its
    /// queue.
    fn dispatched(&mut self, state: &mut State) -> bool {
        self.settled = true;
        // Usually in the queue it joined; after a reconfiguration possibly in another.
        let queues = state.queues.len();
        for k in 0..queues {
            let q = &mut state.queues[(self.queue + k) % queues];
            if let Some(pos) = q.waiting.iter().position(|w| w.id == self.id) {
                q.waiting.remove(pos);
                return false;
            }
        }
        true
    }

    fn settle(mut self) -> Result<Permit, Rejection> {
        let set = self.set.clone();
        let mut state = set.lock();
        if self.dispatched(&mut state) {
            return Ok(Permit {
                set: set.clone(),
                seats: self.seats,
            });
        }
        Err(set.refuse(&mut state, Rejection::TimedOut))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let set = self.set.clone();
        let mut state = set.lock();
        if self.dispatched(&mut state) {
            state.in_use = state.in_use.saturating_sub(self.seats);
            state.dispatch();
        }
    }
}

/// Deals `hand` distinct queues out of `deck` from a flow's hash (shuffle sharding): flows
/// that collide on one queue rarely collide on all of their hand.
pub fn deal(mut hash: u64, deck: usize, hand: usize) -> Vec<usize> {
    let hand = hand.min(deck);
    let mut cards: Vec<usize> = Vec::with_capacity(hand);
    for i in 0..hand {
        let left = (deck - i) as u64;
        let mut nth = (hash % left) as usize;
        hash /= left;
        // The nth queue not dealt yet.
        let mut card = 0;
        loop {
            if !cards.contains(&card) {
                if nth == 0 {
                    break;
                }
                nth -= 1;
            }
            card += 1;
        }
        cards.push(card);
    }
    cards
}

impl State {
    fn fits(&self, seats: usize) -> bool {
        self.in_use + seats <= self.limit || self.in_use == 0
    }

    fn idle(&self) -> bool {
        self.queues.iter().all(|q| q.waiting.is_empty())
    }

    /// Runs waiting requests while their seats fit, the smallest virtual finish time first.
    fn dispatch(&mut self) {
        loop {
            let n = self.queues.len();
            let mut best: Option<(usize, u64)> = None;
            for k in 0..n {
                let i = (self.robin + k) % n;
                let q = &self.queues[i];
                if let Some(head) = q.waiting.front() {
                    let finish = q.next_start + head.seats as u64;
                    if best.is_none_or(|(_, f)| finish < f) {
                        best = Some((i, finish));
                    }
                }
            }
            let Some((i, _)) = best else { return };
            let seats = self.queues[i].waiting.front().map_or(0, |w| w.seats);
            if !self.fits(seats) {
                return;
            }
            let Some(waiter) = self.queues[i].waiting.pop_front() else {
                return;
            };
            let q = &mut self.queues[i];
            self.virtual_now = self.virtual_now.max(q.next_start);
            q.next_start += seats as u64;
            self.robin = (i + 1) % n;
            // Counted here, under the lock, whether or not the waiter is still there to hear
            // it: a waiter that gave up gives the seats back when it finds it was dispatched.
            self.in_use += seats;
            let _ = waiter.wake.send(());
        }
    }
}

impl QueueSet {
    /// A level with `limit` seats, queuing as `queuing` says (or refusing when `None`), whose
    /// requests wait at most `wait_limit`.
    pub fn new(limit: usize, queuing: Option<Queuing>, wait_limit: Duration) -> Arc<Self> {
        let set = Arc::new(Self {
            state: Mutex::new(State {
                limit: 0,
                in_use: 0,
                queuing: None,
                queues: Vec::new(),
                next_id: 0,
                enqueues: 0,
                robin: 0,
                virtual_now: 0,
                retry: RetryAfter::default(),
            }),
            wait_limit,
            created: std::time::Instant::now(),
        });
        set.reconfigure(limit, queuing);
        set
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a changed configuration; requests already waiting keep waiting (spread over the
    /// new queues when their number changed, let in when the level stops queuing).
    pub fn reconfigure(&self, limit: usize, queuing: Option<Queuing>) {
        let mut state = self.lock();
        state.limit = limit.max(1);
        let count = queuing.map_or(0, |q| q.queues.max(1));
        if state.queues.len() != count {
            let waiting: Vec<Waiter> = std::mem::take(&mut state.queues)
                .into_iter()
                .flat_map(|q| q.waiting)
                .collect();
            state.queues = (0..count).map(|_| Queue::default()).collect();
            for w in waiting {
                if count == 0 {
                    // No queuing any more: whoever waited runs now, as if dispatched.
                    state.in_use += w.seats;
                    let _ = w.wake.send(());
                } else {
                    let to = (w.id as usize) % count;
                    state.queues[to].waiting.push_back(w);
                }
            }
        }
        state.queuing = queuing;
        state.dispatch();
    }

    /// Seats in use now.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.lock().in_use
    }

    /// Admits a request of `flow` needing `seats`, waiting in a queue when the seats are taken.
    pub async fn acquire(self: &Arc<Self>, flow: u64, seats: usize) -> Result<Permit, Rejection> {
        let (rx, pending) = {
            let mut state = self.lock();
            let seats = seats.clamp(1, state.limit);
            let Some(queuing) = state.queuing else {
                if state.fits(seats) {
                    state.in_use += seats;
                    return Ok(self.permit(seats));
                }
                return Err(self.refuse(&mut state, Rejection::ConcurrencyLimit));
            };
            if state.idle() && state.fits(seats) {
                state.in_use += seats;
                return Ok(self.permit(seats));
            }
            let hand = deal(flow, state.queues.len(), queuing.hand_size);
            let start = state.enqueues % hand.len().max(1);
            state.enqueues = state.enqueues.wrapping_add(1);
            let mut chosen = hand[start];
            let waiting_seats = |q: &Queue| q.waiting.iter().map(|w| w.seats).sum::<usize>();
            for k in 0..hand.len() {
                let i = hand[(start + k) % hand.len()];
                if waiting_seats(&state.queues[i]) < waiting_seats(&state.queues[chosen]) {
                    chosen = i;
                }
            }
            if state.in_use >= state.limit
                && state.queues[chosen].waiting.len() >= queuing.queue_length_limit
            {
                return Err(self.refuse(&mut state, Rejection::QueueFull));
            }
            let id = state.next_id;
            state.next_id += 1;
            let (tx, rx) = oneshot::channel();
            let now = state.virtual_now;
            let q = &mut state.queues[chosen];
            if q.waiting.is_empty() {
                q.next_start = q.next_start.max(now);
            }
            q.waiting.push_back(Waiter {
                id,
                seats,
                wake: tx,
            });
            state.dispatch();
            (
                rx,
                Pending {
                    set: self.clone(),
                    id,
                    queue: chosen,
                    seats,
                    settled: false,
                },
            )
        };
        // Woken or not, the lock decides: a wake-up racing the deadline still counts.
        let _ = tokio::time::timeout(self.wait_limit, rx).await;
        pending.settle()
    }

    /// The `Retry-After` to send with a refusal now.
    pub fn retry_after(&self) -> u64 {
        self.lock().retry.value()
    }

    fn refuse(&self, state: &mut State, why: Rejection) -> Rejection {
        state.retry.record_drop(self.created.elapsed().as_secs());
        why
    }

    fn permit(self: &Arc<Self>, seats: usize) -> Permit {
        Permit {
            set: self.clone(),
            seats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(queues: usize, hand: usize, queue_length_limit: usize) -> Queuing {
        Queuing {
            queues,
            hand_size: hand,
            queue_length_limit,
        }
    }

    #[test]
    fn deal_gives_distinct_queues_within_the_deck() {
        for hash in [0u64, 1, 7, 12345, u64::MAX, 0xdead_beef_cafe] {
            let hand = deal(hash, 128, 6);
            assert_eq!(hand.len(), 6);
            let mut sorted = hand.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 6, "{hand:?}");
            assert!(hand.iter().all(|&c| c < 128));
        }
        assert_ne!(deal(1, 128, 6), deal(2, 128, 6));
    }

    #[tokio::test]
    async fn without_queuing_excess_is_refused_and_freed_seats_reused() {
        let set = QueueSet::new(2, None, Duration::from_secs(1));
        let a = set.acquire(1, 1).await.unwrap();
        let _b = set.acquire(2, 1).await.unwrap();
        assert_eq!(
            set.acquire(3, 1).await.unwrap_err(),
            Rejection::ConcurrencyLimit
        );
        drop(a);
        assert!(set.acquire(3, 1).await.is_ok());
    }

    #[tokio::test]
    async fn waiters_run_when_seats_free_up_and_full_queues_refuse() {
        let set = QueueSet::new(1, Some(queued(1, 1, 2)), Duration::from_secs(30));
        let first = set.acquire(1, 1).await.unwrap();
        let s2 = set.clone();
        let second = tokio::spawn(async move { s2.acquire(1, 1).await.map(|_| ()) });
        let s3 = set.clone();
        let third = tokio::spawn(async move { s3.acquire(1, 1).await.map(|_| ()) });
        // Both wait in the one queue (length limit 2); a fourth is refused.
        until(|| set.waiting() == 2).await;
        assert_eq!(set.acquire(1, 1).await.unwrap_err(), Rejection::QueueFull);
        drop(first);
        second.await.unwrap().unwrap();
        third.await.unwrap().unwrap();
        assert_eq!(set.in_use(), 0);
    }

    #[tokio::test]
    async fn waiting_past_the_limit_is_refused_and_leaves_the_queue() {
        let set = QueueSet::new(1, Some(queued(4, 2, 10)), Duration::from_millis(50));
        let _held = set.acquire(1, 1).await.unwrap();
        let err = set.acquire(2, 1).await.unwrap_err();
        assert_eq!(err, Rejection::TimedOut);
        assert_eq!(set.waiting(), 0);
    }

    #[tokio::test]
    async fn a_flooding_flow_does_not_starve_another() {
        // One seat, 8 queues of which each flow gets 1: flow A queues 20 requests, then flow B
        // one. B must run after at most a couple of A's, not after all 20.
        let set = QueueSet::new(1, Some(queued(8, 1, 100)), Duration::from_secs(60));
        let (a_hash, b_hash) = (0..u64::MAX)
            .map(|h| (0u64, h))
            .find(|(a, b)| deal(*a, 8, 1) != deal(*b, 8, 1))
            .unwrap();
        let held = set.acquire(a_hash, 1).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (s, o) = (set.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let p = s.acquire(a_hash, 1).await.unwrap();
                o.lock().unwrap().push(format!("a{i}"));
                drop(p);
            }));
            until(|| set.waiting() == i + 1).await;
        }
        let (s, o) = (set.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let p = s.acquire(b_hash, 1).await.unwrap();
            o.lock().unwrap().push("b".into());
            drop(p);
        }));
        until(|| set.waiting() == 21).await;
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap();
        let b_at = order.iter().position(|x| x == "b").unwrap();
        assert!(b_at <= 2, "b ran at {b_at}: {order:?}");
    }

    impl QueueSet {
        fn waiting(&self) -> usize {
            self.lock().queues.iter().map(|q| q.waiting.len()).sum()
        }
    }

    async fn until(mut f: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if f() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("condition not reached");
    }
}
