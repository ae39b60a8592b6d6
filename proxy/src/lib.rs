//! pgward: the network side of the proxy (listener, TLS, auth, framing, pool, relay, audit).
//!
//! The binary in `main.rs` is a thin CLI (`cli.rs`) over this library; the end-to-end tests
//! use the library too (for example [`local_pg`] to start a throwaway PostgreSQL).

pub mod admin;
pub mod audit;
mod audit_stamp;
pub mod auth;
pub mod cancel;
pub mod catalog;
pub mod catalog_connect;
pub mod catalog_writes;
pub mod cli;
pub mod client_text;
pub mod clients;
pub mod config;
pub mod demo;
pub mod fast_hash;
pub mod listener;
pub mod local_pg;
pub mod logging;
pub mod metrics;
pub mod pool;
pub mod protocol;
pub mod run;
pub mod server;
pub mod server_settings;
pub mod server_state;
pub mod session;
pub mod shared;
pub mod sqlstate;
pub mod startup;
pub mod stream;
pub mod tls;
pub mod wake;
