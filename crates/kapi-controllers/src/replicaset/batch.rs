//! Upstream's slow-start batching: creations go out in batches of 1, 2, 4, ... and stop at
//! the first batch with a failure, so a request that fails for every pod (quota, admission,
//! a terminating namespace) costs one call instead of hundreds.

use std::future::Future;

use futures_util::future::join_all;

/// Runs `make` up to `count` times in doubling batches starting at `initial`; returns how many
/// succeeded and the first error, if a batch failed.
pub async fn slow_start<E, F, Fut>(count: usize, initial: usize, mut make: F) -> (usize, Option<E>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut done = 0;
    let mut batch = initial.max(1);
    while done < count {
        let size = batch.min(count - done);
        let results = join_all((0..size).map(|_| make())).await;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(()) => done += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if first_err.is_some() {
            return (done, first_err);
        }
        batch *= 2;
    }
    (done, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn batches_double_and_stop_at_the_first_failing_batch() {
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start(10, 1, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n >= 4 {
                    Err(n)
                } else {
                    Ok(())
                }
            }
        })
        .await;
        // Batches 1 and 2 succeed (3 calls); the batch of 4 has calls 3..=6, three of which fail.
        assert_eq!(calls.load(Ordering::SeqCst), 7);
        assert_eq!(ok, 4);
        assert!(err.is_some());
        let (ok, err) = slow_start(5, 1, || async { Ok::<(), ()>(()) }).await;
        assert_eq!((ok, err), (5, None));
    }
}
