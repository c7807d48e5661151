//! The runtime over real HTTP on 127.0.0.1 against the app sandboxes (started in process,
//! each from its shipped manifest) and, for OAuth client credentials, a small token server.

mod authorization_code;
mod bqe_core;
mod client_credentials;
mod messaging;
mod nozbe;
mod paging_styles;
mod qobrix;
mod qonto;
mod recovery;
mod support;
mod webhook;
mod your_app;
