//! rustls configurations: the client-facing server config and the upstream client config.
