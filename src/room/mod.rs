//! The room's side of a project, beside the chat pipeline: entering and leaving it, typing,
//! task rooms, chat creation and back-end notifications (`project`), who is here (`presence`)
//! and who answers in a chat (`takeover`: a person switching the assistant off and on). The
//! transports call it; it knows rooms and stored chats, never a stream.

mod presence;
mod project;
mod takeover;

pub use presence::{Joiner, Member, MemberKey, Presence, PresenceSettings};
pub use takeover::ChatPatch;

use sea_orm::DatabaseConnection;

use crate::broadcast::Broadcaster;

#[derive(Clone)]
pub struct RoomService {
    db: DatabaseConnection,
    broadcaster: Broadcaster,
    presence: Presence,
}

impl RoomService {
    pub fn new(db: DatabaseConnection, broadcaster: Broadcaster, presence: Presence) -> Self {
        Self {
            db,
            broadcaster,
            presence,
        }
    }

    pub fn presence(&self) -> &Presence {
        &self.presence
    }
}
