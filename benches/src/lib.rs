//! Benches live in benches/; see README.
