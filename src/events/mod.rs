//! The Socket.IO side (PROTOCOL §2–§4): one handler per event, each parsing its payload (the
//! types are in `protocol`), making one service call and answering.

mod ack;
mod chat;
mod client_event;
mod expiry;
mod inbox;
mod incoming;
mod projects;
mod refresh;
mod session;
mod tasks;

pub use session::{on_connect, prepare};
