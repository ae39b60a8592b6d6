//! pgward: the network side of the proxy (listener, TLS, auth, framing, pool, relay, audit).
//!
//! The binary in `main.rs` is a thin CLI over this library; the end-to-end tests use the library
//! too (for example [`local_pg`] to start a throwaway PostgreSQL).

pub mod auth;
pub mod local_pg;
pub mod tls;
