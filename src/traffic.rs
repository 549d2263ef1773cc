//! Process-wide traffic totals, for the Admin UI's charts (`server_stats.aggregatedEvents`):
//! relaxed atomics that the transports bump and the admin namespace reads as deltas.

use std::sync::atomic::{AtomicU64, Ordering};

static PACKETS_IN: AtomicU64 = AtomicU64::new(0);
static PACKETS_OUT: AtomicU64 = AtomicU64::new(0);
static BYTES_IN: AtomicU64 = AtomicU64::new(0);
static BYTES_OUT: AtomicU64 = AtomicU64::new(0);

/// The totals since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Client events received.
    pub packets_in: u64,
    /// Events sent, one per receiving socket.
    pub packets_out: u64,
    /// Bytes read and written on every accepted connection (Socket.IO and HTTP alike).
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Totals {
    /// What grew since `earlier`.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            packets_in: self.packets_in.saturating_sub(earlier.packets_in),
            packets_out: self.packets_out.saturating_sub(earlier.packets_out),
            bytes_in: self.bytes_in.saturating_sub(earlier.bytes_in),
            bytes_out: self.bytes_out.saturating_sub(earlier.bytes_out),
        }
    }
}

pub fn packet_in() {
    PACKETS_IN.fetch_add(1, Ordering::Relaxed);
}

pub fn packets_out(n: u64) {
    PACKETS_OUT.fetch_add(n, Ordering::Relaxed);
}

pub fn bytes_in(n: usize) {
    BYTES_IN.fetch_add(n as u64, Ordering::Relaxed);
}

pub fn bytes_out(n: usize) {
    BYTES_OUT.fetch_add(n as u64, Ordering::Relaxed);
}

pub fn totals() -> Totals {
    Totals {
        packets_in: PACKETS_IN.load(Ordering::Relaxed),
        packets_out: PACKETS_OUT.load(Ordering::Relaxed),
        bytes_in: BYTES_IN.load(Ordering::Relaxed),
        bytes_out: BYTES_OUT.load(Ordering::Relaxed),
    }
}
