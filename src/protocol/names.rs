//! Event names of the wire contract (PROTOCOL §4–§6), in one place.

// Client → server.
pub const JOIN_PROJECT: &str = "join_project";
pub const LEAVE_PROJECT: &str = "leave_project";
pub const SEND_MESSAGE: &str = "send_message";
pub const CANCEL_MESSAGE: &str = "cancel_message";
pub const TYPING_START: &str = "typing_start";
pub const TYPING_STOP: &str = "typing_stop";
pub const TASK_SUBSCRIBE: &str = "task_subscribe";
pub const TASK_UNSUBSCRIBE: &str = "task_unsubscribe";
pub const RESUME_MESSAGE: &str = "resume_message";
pub const PING: &str = "ping";
pub const AUTH_REFRESH: &str = "auth_refresh";

/// Every client event, in the order of the contract.
pub const CLIENT_EVENTS: &[&str] = &[
    JOIN_PROJECT,
    LEAVE_PROJECT,
    SEND_MESSAGE,
    CANCEL_MESSAGE,
    TYPING_START,
    TYPING_STOP,
    TASK_SUBSCRIBE,
    TASK_UNSUBSCRIBE,
    RESUME_MESSAGE,
    PING,
    AUTH_REFRESH,
];

// Server → client.
pub const CONNECTION_STATUS: &str = "connection_status";
pub const PROJECT_JOINED: &str = "project_joined";
pub const PROJECT_LEFT: &str = "project_left";
pub const PONG: &str = "pong";
pub const TYPING: &str = "typing";
pub const ERROR: &str = "error";
pub const MESSAGE_RECEIVED: &str = "message_received";
pub const MESSAGE_SOURCES: &str = "message_sources";
pub const MESSAGE_TOKEN: &str = "message_token";
pub const MESSAGE_REASONING: &str = "message_reasoning";
pub const MESSAGE_COMPLETE: &str = "message_complete";
pub const MESSAGE_SNAPSHOT: &str = "message_snapshot";
pub const AI_PROGRESS: &str = "ai_progress";
pub const DOCUMENT_STATUS: &str = "document_status";
pub const PROJECT_UPDATE: &str = "project_update";
// v1.2 (PROTOCOL §9).
pub const MESSAGE_CREATED: &str = "message_created";
pub const PRESENCE: &str = "presence";
pub const PRESENCE_CHANGED: &str = "presence_changed";
pub const MESSAGE_STEP: &str = "message_step";
pub const MESSAGE_TOOL_CALL: &str = "message_tool_call";
pub const MESSAGE_TOOL_RESULT: &str = "message_tool_result";

/// Names a back-end may not broadcast through `POST /api/projects/{id}/events`: clients would
/// take them for the server's own.
pub const SERVER_EVENTS: &[&str] = &[
    CONNECTION_STATUS,
    PROJECT_JOINED,
    PROJECT_LEFT,
    PONG,
    TYPING,
    ERROR,
    MESSAGE_RECEIVED,
    MESSAGE_SOURCES,
    MESSAGE_TOKEN,
    MESSAGE_REASONING,
    MESSAGE_COMPLETE,
    MESSAGE_SNAPSHOT,
    AI_PROGRESS,
    DOCUMENT_STATUS,
    PROJECT_UPDATE,
    MESSAGE_CREATED,
    PRESENCE,
    PRESENCE_CHANGED,
    MESSAGE_STEP,
    MESSAGE_TOOL_CALL,
    MESSAGE_TOOL_RESULT,
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
];
