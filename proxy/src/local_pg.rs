//! Throwaway local PostgreSQL clusters for `pgward demo` and the tests.
