//! What stands before and after every API request of an app sandbox, in the HighLevel
//! sandbox's order: added latency, a fault drawn before the request is handled (nothing
//! changes), the request itself (auth, rate limit, effect), a fault drawn after it took
//! effect (a dropped answer, a slow one), and the count of its status.

use std::future::Future;
use std::time::Duration;

use axum::response::Response;
use ghl_sandbox_kit::{DropConnection, Fault};

use crate::{answer, Shared};

pub async fn guarded(
    shared: &Shared,
    operation: &str,
    work: impl Future<Output = Response>,
) -> Response {
    let rule = shared.faults.rule(operation);
    if rule.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(rule.latency_ms)).await;
    }
    let response = match shared.faults.draw_before(&rule) {
        Some(fault) => {
            shared.stats.lock().fault(fault.name());
            answer::fault(shared, fault, rule.retry_after_secs)
        }
        None => work.await,
    };
    let response = match shared.faults.draw_after(&rule) {
        Some(Fault::Slow(delay)) => {
            shared.stats.lock().fault(Fault::Slow(delay).name());
            tokio::time::sleep(delay).await;
            response
        }
        Some(fault) => {
            shared.stats.lock().fault(fault.name());
            answer::fault(shared, fault, rule.retry_after_secs)
        }
        None => response,
    };
    let status = if response.extensions().get::<DropConnection>().is_some() {
        0
    } else {
        response.status().as_u16()
    };
    shared.stats.lock().request(operation, status);
    response
}

/// Counts one request under `key` against the rate-limit windows; a refusal is the app's
/// 429 with `Retry-After`, counted as rate-limited.
pub fn admit(shared: &Shared, key: &str) -> Result<(), Box<Response>> {
    match shared.windows.acquire(key) {
        Ok(_) => Ok(()),
        Err(refused) => {
            shared.stats.lock().rate_limited += 1;
            Err(Box::new(answer::too_many(shared, refused.retry_after)))
        }
    }
}
