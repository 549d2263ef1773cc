//! The Engine.IO side of the HTTP stack, in front of socketioxide's layer: who may use a running
//! session (`guard`), which pages may open a websocket (`origins`), how many packets a
//! long-polling response holds (`polling`), and request parts detached from hyper's read buffer
//! (`detach`).

mod detach;
mod guard;
mod origins;
mod polling;

pub use detach::detach_from_read_buffer;
pub use guard::{guard_sessions, SessionGuard};
pub use origins::{check_websocket_origin, WebsocketOrigins};
pub use polling::{cap_polling_packets, PollingCap};
