//! The server's TCP side: the listener (`stall`: connections whose client stopped reading are
//! cut) and who a request comes from behind reverse proxies (`client_addr`).

mod client_addr;
mod stall;

pub use client_addr::{ClientAddr, TrustedProxies};
pub use stall::{Cut, GuardedListener, Peer, StallGuard, WrittenBytes};
