//! Tests that run the real `gatehouse` binary (restart, signals, crash safety, CLI).
