//! wardgate proxy.
