//! Restart back-off, as kubelet's: the first restart is immediate, then 10 s doubling to 5 min
//! while the container keeps failing, back to the start after 10 min without a failure.

use std::time::{Duration, Instant};

/// The first delay.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The longest delay.
pub const MAX: Duration = Duration::from_secs(300);
/// A container that ran this long without a failure starts over at [`INITIAL`].
pub const RESET_AFTER: Duration = Duration::from_secs(600);

/// The back-off of one container (or one image pull).
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    delay: Duration,
    until: Option<Instant>,
}

impl Backoff {
    /// Asks to retry now: `Ok` when allowed (the next delay is armed), `Err(remaining)` while
    /// backing off.
    pub fn try_again(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.until {
            if now < until {
                return Err(until - now);
            }
            if now.duration_since(until) >= RESET_AFTER {
                self.delay = Duration::ZERO;
            }
        }
        self.delay = if self.delay.is_zero() {
            INITIAL
        } else {
            (self.delay * 2).min(MAX)
        };
        self.until = Some(now + self.delay);
        Ok(())
    }

    /// The delay now armed (what the CrashLoopBackOff message quotes).
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_retry_is_immediate_then_doubles_to_five_minutes() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert!(b.try_again(t0).is_ok());
        assert_eq!(b.delay(), INITIAL);
        assert_eq!(
            b.try_again(t0 + Duration::from_secs(3)),
            Err(Duration::from_secs(7))
        );
        let mut t = t0 + INITIAL;
        let mut delays = vec![];
        for _ in 0..7 {
            b.try_again(t).unwrap();
            delays.push(b.delay().as_secs());
            t += b.delay();
        }
        assert_eq!(delays, [20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_long_quiet_spell_resets_the_delay() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        b.try_again(t0).unwrap();
        b.try_again(t0 + INITIAL).unwrap();
        assert_eq!(b.delay(), Duration::from_secs(20));
        b.try_again(t0 + INITIAL + Duration::from_secs(20) + RESET_AFTER)
            .unwrap();
        assert_eq!(b.delay(), INITIAL);
    }
}
