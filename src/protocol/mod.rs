//! The wire vocabulary (PROTOCOL §2–§8): event names, rooms' payloads in and out, and the
//! sources a reply cites. Plain types with serde; every other layer may use them, they use
//! nothing above `error` and the stored states.

pub mod names;
pub mod outgoing;
pub mod payloads;
pub mod producer;
mod public_id;
pub mod sources;
pub mod ui_message;

pub use public_id::PublicId;
