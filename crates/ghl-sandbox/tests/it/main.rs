//! Integration tests of the HighLevel sandbox, over real HTTP on 127.0.0.1. Every API answer
//! is checked against the official spec's response schema (the ghl-spec-check crate).

mod support;

mod associations;
mod bad_input;
mod contacts;
mod faults;
mod fidelity;
mod oauth;
mod rate_limits;
mod records;
mod search;
mod tenancy;
mod webhooks;
