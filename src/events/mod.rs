//! The Socket.IO side (PROTOCOL §2–§4): typed payloads, one handler per event, thin handlers
//! that call the chat pipeline or the store.

pub mod names;
pub mod outgoing;
pub mod payloads;

mod ack;
mod chat;
mod expiry;
mod inbox;
mod incoming;
mod projects;
mod refresh;
mod session;
mod tasks;

pub use session::{on_connect, prepare, Session};
