//! sea-orm entities of ragcast.
//!
//! # Layout
//! - `project`: a project owns documents and chats; its room is `project_{id}`.
//! - `document`: an uploaded file and its ingestion state.
//! - `document_upload`: an upload's bytes, kept until its document is indexed or failed.
//! - `chunk`: a searchable passage of a document (the full-text index covers these).
//! - `chunk_vector`: a chunk's embedding, with the model that made it.
//! - `chat`: a conversation inside a project.
//! - `message`: a user question or an assistant reply, with its stream's metadata.
//! - `node`: a running server process and its heartbeat.
//! - `states`: the typed states of messages and documents.
//! - `actions`: an agent's steps and tool calls, stored with its reply.

pub mod actions;
pub mod chat;
pub mod chunk;
pub mod chunk_vector;
pub mod document;
pub mod document_upload;
pub mod message;
pub mod node;
pub mod project;
pub mod states;

pub use actions::{steps_and_calls, Action, Step, StepStatus, ToolCall, ToolCallOutcome};
pub use states::{AssistantMode, DocumentStatus, FinishReason, MessageStatus, Role, Sender};

pub mod prelude {
    pub use super::chat::Entity as Chat;
    pub use super::chunk::Entity as Chunk;
    pub use super::chunk_vector::Entity as ChunkVector;
    pub use super::document::Entity as Document;
    pub use super::document_upload::Entity as DocumentUpload;
    pub use super::message::Entity as Message;
    pub use super::node::Entity as Node;
    pub use super::project::Entity as Project;
}
