//! The `Retry-After` a priority level tells refused clients, adapted to how often it refuses, as
//! kube-apiserver does: it starts at 1 s, doubles (up to 32 s) while refusals keep coming at three
//! or more per second of the current value, and steps back down by one second once they are
//! rarer than one per second of it. Clients that honour it (client-go, the Python client) then
//! back off harder the longer a level stays overloaded.

use std::collections::VecDeque;

/// The longest wait the server asks for.
pub const MAX_RETRY_AFTER: u64 = 32;

/// One level's current `Retry-After` and its recent refusals.
#[derive(Debug)]
pub struct RetryAfter {
    value: u64,
    /// The second (since the level was made) of each recent refusal.
    drops: VecDeque<u64>,
    last_second: Option<u64>,
    last_increase: u64,
}

impl Default for RetryAfter {
    fn default() -> Self {
        Self {
            value: 1,
            drops: VecDeque::new(),
            last_second: None,
            last_increase: 0,
        }
    }
}

impl RetryAfter {
    /// The seconds to send now.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// Records a refusal in second `now` and adapts the value, once per second, from the
    /// refusals of the `value` seconds before it.
    pub fn record_drop(&mut self, now: u64) -> u64 {
        if self.last_second != Some(now) {
            self.last_second = Some(now);
            let window_start = now.saturating_sub(self.value);
            let recent = self
                .drops
                .iter()
                .filter(|&&s| s >= window_start && s < now)
                .count() as u64;
            if recent >= 3 * self.value && now.saturating_sub(self.last_increase) >= self.value {
                self.value = (self.value * 2).min(MAX_RETRY_AFTER);
                self.last_increase = now;
            } else if recent < self.value && self.value > 1 {
                self.value -= 1;
            }
        }
        self.drops.push_back(now);
        while self
            .drops
            .front()
            .is_some_and(|&s| s + MAX_RETRY_AFTER < now)
        {
            self.drops.pop_front();
        }
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_while_refusals_are_heavy_and_shrinks_after() {
        let mut r = RetryAfter::default();
        // Two refusals a second: under three a second, so it stays at 1.
        for second in 1..=20 {
            r.record_drop(second);
            r.record_drop(second);
        }
        assert_eq!(r.value(), 1);
        // Ten a second: it doubles, no faster than once per current value, up to 32.
        let mut seen = Vec::new();
        for second in 21..=120 {
            for _ in 0..10 {
                r.record_drop(second);
            }
            seen.push(r.value());
        }
        assert_eq!(&seen[..4], &[1, 2, 2, 4], "{seen:?}");
        assert!(seen.windows(2).all(|w| w[1] >= w[0]), "{seen:?}");
        assert_eq!(r.value(), MAX_RETRY_AFTER);
        // Then one refusal every five seconds: one second less at each, back to 1.
        for second in (200..400).step_by(5) {
            r.record_drop(second);
        }
        assert_eq!(r.value(), 1);
    }

    #[test]
    fn never_exceeds_the_maximum() {
        let mut r = RetryAfter::default();
        for second in 1..=1000 {
            for _ in 0..200 {
                r.record_drop(second);
            }
        }
        assert_eq!(r.value(), MAX_RETRY_AFTER);
    }
}
