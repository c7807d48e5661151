//! Integration tests of the HighLevel client against the sandbox over HTTP.

mod support;

mod errors;
mod faults;
mod oauth;
mod operations;
mod pagination;
mod rate_budget;
