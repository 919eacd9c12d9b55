//! Retries of API calls that failed for a transient reason: 429 (after the server's `retryAfterSeconds` when
//! it gives one), 5xx, and connection errors, with bounded exponential backoff and jitter from `backon`.
//! A 409 is not transient here: the caller re-reads and decides again.

use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::Duration;

/// The backoff of every retried call: 6 retries from 200 ms doubling to at most 5 s, with jitter (about
/// 15 s in all before the error is the caller's).
pub fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(6)
        .with_jitter()
}

/// Whether a failed call may succeed when sent again unchanged.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// How long the server asked us to wait, for a 429 that says.
fn retry_after(error: &kube::Error) -> Option<Duration> {
    match error {
        kube::Error::Api(status) if status.code == 429 => {
            let seconds = status.details.as_ref()?.retry_after_seconds;
            (seconds > 0).then(|| Duration::from_secs(u64::from(seconds)))
        }
        _ => None,
    }
}

/// Whether an error is a 409 that is neither "already exists" nor a server-side apply field conflict: a
/// write raced another one, and the caller re-reads and writes again.
pub fn is_write_race(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            status.code == 409
                && status.reason != "AlreadyExists"
                && super::objects::conflicting_managers(&status.message).is_empty()
        }
        _ => false,
    }
}

/// Runs `call` like [`with_retries`], also sending it again after a write race (409): for writes whose
/// body does not depend on the object's resourceVersion (server-side apply, create, delete, merge patches).
pub async fn with_race_retries<T, F, Fut>(call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retried(call, is_write_race).await
}

/// Runs `call` until it succeeds, fails for a reason that is not transient, or the backoff is spent.
pub async fn with_retries<T, F, Fut>(call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retried(call, |_| false).await
}

/// Deletes `name` through `api` with `params` (retried like [`with_race_retries`]): whether it was there.
/// An object already gone is not an error: every caller wants it absent.
pub async fn delete_if_present<K>(
    api: &kube::Api<K>,
    name: &str,
    params: &kube::api::DeleteParams,
) -> Result<bool, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match with_race_retries(|| api.delete(name, params)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(error),
    }
}

/// The one retry policy: transient errors, and those `also` names, are sent again within [`backoff`],
/// after the server's Retry-After where it gives one.
async fn retried<T, F, Fut>(call: F, also: fn(&kube::Error) -> bool) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    call.retry(backoff())
        .when(|e| is_transient(e) || also(e))
        .adjust(|error, delay| retry_after(error).or(delay))
        .notify(|error, delay| tracing::debug!(%error, ?delay, "retrying a transient API error or a write race"))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(Status::failure("x", "y").with_code(code).boxed())
    }

    #[test]
    fn throttling_and_server_errors_are_transient_conflicts_and_rejections_are_not() {
        for code in [429, 500, 502, 503, 504] {
            assert!(is_transient(&status(code)), "{code}");
        }
        for code in [400, 403, 404, 409, 422] {
            assert!(!is_transient(&status(code)), "{code}");
        }
    }

    #[test]
    fn retry_after_comes_from_the_status_details() {
        let details: kube::core::response::StatusDetails =
            serde_json::from_value(serde_json::json!({"retryAfterSeconds": 3})).unwrap();
        let error = kube::Error::Api(
            Status::failure("slow down", "TooManyRequests").with_code(429).with_details(details).boxed(),
        );
        assert_eq!(retry_after(&error), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&status(429)), None);
    }
}
