//! Admin logins cost a bcrypt check (0.4 CPU-seconds at cost 12), so wrong passwords must not
//! be able to take the CPU from every socket. One check runs at a time (a few more may wait
//! for it, the rest are refused at once), an address has one try in flight at most, and an
//! address whose tries keep failing waits before its next one (after three failures in a row:
//! 1 s, doubling to a minute). Refusals here cost nothing and are counted and logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// bcrypt checks running at once.
const CONCURRENT_CHECKS: usize = 1;
/// Tries that may wait for a check; past it, refused at once.
const MAX_WAITING: usize = 8;
/// Failures in a row an address may have before it must wait (a person mistyping).
const FREE_FAILURES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An address's failures are forgotten after this long without one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

pub struct LoginThrottle {
    checks: Semaphore,
    waiting: AtomicUsize,
    addresses: Mutex<HashMap<IpAddr, Tries>>,
}

#[derive(Default)]
struct Tries {
    failures: u32,
    last_failure: Option<Instant>,
    /// No try before this.
    not_before: Option<Instant>,
    in_flight: bool,
}

/// Why a try was refused without checking its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// This address failed recently and must wait.
    Backoff,
    /// This address has a try being checked.
    InFlight,
    /// Too many tries wait for a check.
    Busy,
}

impl Throttled {
    fn label(self) -> &'static str {
        match self {
            Throttled::Backoff => "backoff",
            Throttled::InFlight => "in_flight",
            Throttled::Busy => "busy",
        }
    }
}

/// The right to run one bcrypt check for one address; `finish` records how it went.
pub struct CheckSlot<'a> {
    throttle: &'a LoginThrottle,
    address: Option<IpAddr>,
    _permit: SemaphorePermit<'a>,
    finished: bool,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            checks: Semaphore::new(CONCURRENT_CHECKS),
            waiting: AtomicUsize::new(0),
            addresses: Mutex::default(),
        }
    }
}

impl LoginThrottle {
    /// Waits for the right to check a password from `address`, or says why not.
    pub async fn admit(&self, address: Option<IpAddr>) -> Result<CheckSlot<'_>, Throttled> {
        let refused = |why: Throttled| {
            metrics::counter!("ragcast_admin_logins_throttled_total", "reason" => why.label())
                .increment(1);
            tracing::warn!(ip = ?address, reason = why.label(), "Admin UI login refused unchecked");
            why
        };
        if let Some(ip) = address {
            let mut addresses = self.lock();
            let now = Instant::now();
            addresses.retain(|_, t| {
                t.in_flight || t.last_failure.is_some_and(|at| now - at < FORGET_AFTER)
            });
            let tries = addresses.entry(ip).or_default();
            if tries.in_flight {
                return Err(refused(Throttled::InFlight));
            }
            if tries.not_before.is_some_and(|at| now < at) {
                return Err(refused(Throttled::Backoff));
            }
            tries.in_flight = true;
        }
        let slot = PendingSlot {
            throttle: self,
            address,
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(refused(Throttled::Busy));
        }
        let permit = self.checks.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let Ok(permit) = permit else {
            return Err(refused(Throttled::Busy));
        };
        Ok(slot.into_check(permit))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Tries>> {
        self.addresses.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn done(&self, address: Option<IpAddr>, succeeded: Option<bool>) {
        let Some(ip) = address else { return };
        let mut addresses = self.lock();
        let Some(tries) = addresses.get_mut(&ip) else {
            return;
        };
        tries.in_flight = false;
        match succeeded {
            Some(true) => {
                addresses.remove(&ip);
            }
            Some(false) => {
                let now = Instant::now();
                tries.failures += 1;
                if let Some(over) = tries.failures.checked_sub(FREE_FAILURES) {
                    tries.not_before = Some(now + backoff(over));
                }
                tries.last_failure = Some(now);
            }
            None => {}
        }
    }
}

/// How long an address waits after `over + 1` failures past the free ones.
fn backoff(over: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << over.min(6))
        .min(MAX_BACKOFF)
}

/// An address marked in flight before it got a permit: unmarked if the wait is abandoned.
struct PendingSlot<'a> {
    throttle: &'a LoginThrottle,
    address: Option<IpAddr>,
}

impl<'a> PendingSlot<'a> {
    fn into_check(self, permit: SemaphorePermit<'a>) -> CheckSlot<'a> {
        let slot = CheckSlot {
            throttle: self.throttle,
            address: self.address,
            _permit: permit,
            finished: false,
        };
        std::mem::forget(self);
        slot
    }
}

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        self.throttle.done(self.address, None);
    }
}

impl CheckSlot<'_> {
    /// Records the check's outcome: a failure starts (or lengthens) the address's backoff.
    pub fn finish(mut self, succeeded: bool) {
        self.finished = true;
        self.throttle.done(self.address, Some(succeeded));
    }
}

impl Drop for CheckSlot<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.throttle.done(self.address, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[tokio::test]
    async fn an_address_has_one_try_in_flight_and_waits_after_a_failure() {
        let throttle = LoginThrottle::default();
        let slot = throttle.admit(Some(A)).await.unwrap();
        assert_eq!(
            throttle.admit(Some(A)).await.err(),
            Some(Throttled::InFlight)
        );
        slot.finish(false);
        // A person mistyping has a few tries before waiting.
        for _ in 1..FREE_FAILURES {
            throttle.admit(Some(A)).await.unwrap().finish(false);
        }
        assert_eq!(
            throttle.admit(Some(A)).await.err(),
            Some(Throttled::Backoff)
        );
        // Another address is not held back by A's failure.
        throttle.admit(Some(B)).await.unwrap().finish(true);
    }

    #[test]
    fn the_backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (0..9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[tokio::test]
    async fn past_the_waiting_bound_tries_are_refused_at_once() {
        let throttle = std::sync::Arc::new(LoginThrottle::default());
        let held = throttle.admit(None).await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..MAX_WAITING {
            let throttle = throttle.clone();
            waiters.push(tokio::spawn(async move {
                throttle.admit(None).await.map(|slot| slot.finish(true))
            }));
        }
        while throttle.waiting.load(Ordering::Acquire) < MAX_WAITING {
            tokio::task::yield_now().await;
        }
        assert_eq!(throttle.admit(None).await.err(), Some(Throttled::Busy));
        held.finish(true);
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_ok());
        }
    }
}
