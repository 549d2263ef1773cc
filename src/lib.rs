//! ragcast: a Socket.IO-compatible event server for AI chat products.
//!
//! # Layout
//! - `config`: settings (clap + environment) and their validation.
//! - `app`: wiring of the database, services, Socket.IO layer and HTTP router.
//! - `auth`: callers (API key, JWT, open), access rules, rate limits and connection caps.
//! - `protocol`: the wire vocabulary: event names, payloads in and out, sources.
//! - `socket`: the Socket.IO type aliases (adapter, io, socket, ack).
//! - `events`: the Socket.IO side: one thin handler per client event.
//! - `http`: the REST API, one file per resource.
//! - `engine`: in front of socketioxide: a session answers only its own client, long-polling
//!   responses capped, request parts detached from hyper's buffer.
//! - `chat`: the chat pipeline both entry points call: store → retrieve → generate → store.
//! - `room`: a project room's people: presence, and a person taking a chat over.
//! - `embed`: embedders (built-in MiniLM, OpenAI-compatible, Ollama) behind the `Embedder` trait.
//! - `retrieval`: keyword (full-text) and vector search fused into one ranking, behind `Retriever`.
//! - `llm`: model providers behind the `LlmProvider` trait (built-in generator).
//! - `ingest`: document chunking and the background ingestion workers.
//! - `store`: sea-orm queries, one file per table.
//! - `broadcast` / `rooms`: sending events to rooms, with overflow handled on purpose.
//! - `cluster`: several processes as one (Redis adapter, control messages, node leases).
//! - `net`: the TCP listener (connections whose client stopped reading are cut) and the client's
//!   address behind trusted reverse proxies.
//! - `activity`: what happens to sockets, for the Admin UI (nothing is built unless it watches).
//! - `error`, `time`, `views`, `telemetry`, `shutdown`: small shared pieces.

pub mod activity;
pub mod admin;
pub mod app;
pub mod auth;
pub mod broadcast;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod embed;
pub mod engine;
pub mod error;
pub mod events;
pub mod http;
pub mod ingest;
pub mod llm;
pub mod net;
pub mod protocol;
pub mod retrieval;
pub mod room;
pub mod rooms;
pub mod shutdown;
pub mod socket;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod traffic;
pub mod views;
