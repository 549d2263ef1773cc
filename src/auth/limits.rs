//! Rate limits (token buckets per socket) and the cap on connections per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct RateSettings {
    /// Any event: sustained rate per second and burst.
    pub events_per_sec: f64,
    pub events_burst: f64,
    /// `send_message`: sustained rate per minute and burst.
    pub messages_per_min: f64,
    pub messages_burst: f64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    at: Instant,
}

impl Bucket {
    fn new(capacity: f64, per_sec: f64) -> Self {
        Self {
            tokens: capacity,
            capacity,
            per_sec,
            at: Instant::now(),
        }
    }

    /// Takes one token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec))
        }
    }
}

/// One socket's buckets. A std mutex: held for a few arithmetic operations, never across `.await`.
#[derive(Debug)]
pub struct RateLimiter {
    events: Mutex<Bucket>,
    messages: Mutex<Bucket>,
}

impl RateLimiter {
    pub fn new(settings: &RateSettings) -> Self {
        Self {
            events: Mutex::new(Bucket::new(settings.events_burst, settings.events_per_sec)),
            messages: Mutex::new(Bucket::new(
                settings.messages_burst,
                settings.messages_per_min / 60.0,
            )),
        }
    }

    /// `Err(retry_after)` when the event must be refused.
    pub fn check(&self, is_message: bool) -> Result<(), Duration> {
        let now = Instant::now();
        let lock = |m: &Mutex<Bucket>| {
            // Poisoning cannot leave a bucket inconsistent: it is plain numbers.
            let mut bucket = m.lock().unwrap_or_else(|p| p.into_inner());
            bucket.take(now)
        };
        lock(&self.events)?;
        if is_message {
            lock(&self.messages)?;
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
        let start = Instant::now();
        let mut bucket = Bucket::new(2.0, 10.0);
        bucket.at = start;
        assert!(bucket.take(start).is_ok());
        assert!(bucket.take(start).is_ok());
        let wait = bucket.take(start).unwrap_err();
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        assert!(bucket.take(start + Duration::from_millis(100)).is_ok());
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
