//! What every sandbox of a fake API shares, whatever the API: the accept loop that can drop a
//! connection without an answer, fault injection and added latency, sliding-window rate
//! limits, request and effect counts, and seeded ids. The HighLevel sandbox and the manifest
//! apps' sandboxes are built on it; it knows no app.

pub mod faults;
pub mod ids;
pub mod server;
pub mod stats;
pub mod windows;

pub use faults::{DropConnection, Fault, FaultConfig, FaultRule, Faults};
pub use stats::Stats;
pub use windows::{Window, Windows};
