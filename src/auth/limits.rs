//! Rate limits (token buckets per socket) and the cap on connections per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, NotUntil, Quota};

#[derive(Debug, Clone, Copy)]
pub struct RateSettings {
    /// Any event: sustained rate per second and burst.
    pub events_per_sec: f64,
    pub events_burst: u32,
    /// `send_message`: sustained rate per minute and burst.
    pub messages_per_min: f64,
    pub messages_burst: u32,
}

/// `burst` events at once, then one every `1 / per_sec` seconds.
fn quota(per_sec: f64, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(Duration::from_secs_f64(1.0 / per_sec))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

/// What an event costs: every event takes from the events bucket, a chat message from the
/// messages bucket too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    Event,
    Message,
}

/// One socket's token buckets (governor's GCRA: lock-free, exact).
pub struct RateLimiter {
    events: DefaultDirectRateLimiter,
    messages: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

impl RateLimiter {
    pub fn new(settings: &RateSettings) -> Self {
        Self {
            events: DefaultDirectRateLimiter::direct(quota(
                settings.events_per_sec,
                settings.events_burst,
            )),
            messages: DefaultDirectRateLimiter::direct(quota(
                settings.messages_per_min / 60.0,
                settings.messages_burst,
            )),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(retry_after)` when the event must be refused.
    pub fn check(&self, cost: Cost) -> Result<(), Duration> {
        let retry_after = |refused: NotUntil<_>| refused.wait_time_from(self.clock.now());
        self.events.check().map_err(retry_after)?;
        if cost == Cost::Message {
            self.messages.check().map_err(retry_after)?;
        }
        Ok(())
    }
}

/// Open connections per client address.
#[derive(Clone, Default)]
pub struct ConnectionsPerIp {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnectionsPerIp {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// Counts a new connection, or refuses it (`None`) past the cap.
    pub fn acquire(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

/// One counted connection of an address. Dropping it gives the count back, however the socket
/// ends: a disconnect, or a connection socketioxide drops before its connect ack (no disconnect
/// handler runs then).
#[derive(Debug)]
pub struct ConnectionSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills() {
        use governor::clock::FakeRelativeClock;
        let clock = FakeRelativeClock::default();
        let bucket = governor::RateLimiter::direct_with_clock(quota(10.0, 2), clock.clone());
        assert!(bucket.check().is_ok());
        assert!(bucket.check().is_ok());
        let wait = bucket.check().unwrap_err().wait_time_from(clock.now());
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        clock.advance(Duration::from_millis(100));
        assert!(bucket.check().is_ok());
        assert!(bucket.check().is_err(), "one came back, not the burst");
    }

    #[test]
    fn a_rate_per_minute_becomes_a_period() {
        use governor::clock::FakeRelativeClock;
        let clock = FakeRelativeClock::default();
        let bucket = governor::RateLimiter::direct_with_clock(quota(1.0 / 60.0, 1), clock.clone());
        assert!(bucket.check().is_ok());
        let wait = bucket.check().unwrap_err().wait_time_from(clock.now());
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
    }

    #[test]
    fn connections_are_capped_per_address() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let cap = ConnectionsPerIp::new(2);
        let first = cap.acquire(ip).unwrap();
        let _second = cap.acquire(ip).unwrap();
        assert!(cap.acquire(ip).is_none());
        drop(first);
        assert!(cap.acquire(ip).is_some(), "a dropped slot is given back");
    }
}
