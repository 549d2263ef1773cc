//! The integration tests: one binary (one link, one process), one module per area, the shared
//! helpers (a real server on port 0, clients, provider stubs) in `helpers/`.

mod helpers;

mod documents;
mod fuzz;
mod layers;
mod loadgen_smoke;
mod openapi;
mod pipeline;
mod postgres;
mod providers;
mod retrieval;
mod socket_client;
mod startup;
mod stream_storage;
