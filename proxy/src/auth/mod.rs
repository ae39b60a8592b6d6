//! Authentication: SCRAM-SHA-256 towards clients, SCRAM/md5/cleartext towards the upstream.
