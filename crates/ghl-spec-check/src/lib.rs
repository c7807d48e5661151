//! Test support that holds requests and responses to the official HighLevel spec
//! (specs/highlevel), with a JSON Schema validator that is not the code under test:
//! `assert_matches_spec` for answers, `check_request` for requests, and a validating proxy
//! to put between a client and the sandbox, so that a request violation fails the test.
//! `vendor` does the same for the partner apps' vendor files (specs/partners), and compares
//! a manifest with its app's file.

mod proxy;
mod requests;
mod schemas;
pub mod vendor;

pub use proxy::{start_validating_proxy, ProxyReport, Violation};
pub use requests::{check_request, find_operation};
pub use schemas::{assert_matches_spec, documents_status};
