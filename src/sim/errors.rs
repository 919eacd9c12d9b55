//! API errors as the Kubernetes API server reports them: an HTTP code, a reason and a `Status` object.

use serde_json::{json, Value};

/// An error the simulated API server returns to a client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// The `Status.reason` (NotFound, AlreadyExists, Conflict, Invalid, ...).
    pub reason: &'static str,
    /// A message for people.
    pub message: String,
    /// Seconds a client should wait before retrying (429).
    pub retry_after: Option<u64>,
    /// `Status.details` beyond the retry hint (the causes of a 422).
    pub details: Option<Value>,
    /// A lost race on resourceVersion rather than a conflict of content.
    pub(crate) stale: bool,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), retry_after: None, details: None, stale: false }
    }

    /// The same error with `Status.details` (name, kind, causes).
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// 404: the object (or resource) does not exist.
    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(404, "NotFound", format!("{what} not found"))
    }

    /// 409: an object of that name exists already.
    pub fn already_exists(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(409, "AlreadyExists", format!("{what} already exists"))
    }

    /// 409: a stale resourceVersion or a server-side apply conflict.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, "Conflict", message)
    }

    /// 409 for a write based on an older resourceVersion than the stored one (a lost race).
    pub fn stale_write(message: impl Into<String>) -> ApiError {
        ApiError { stale: true, ..ApiError::conflict(message) }
    }

    /// Whether this is a lost race ([`ApiError::stale_write`]), which a patch retries against the latest object.
    pub fn is_stale_write(&self) -> bool {
        self.stale
    }

    /// 422: the object is invalid.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "Invalid", message)
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 403: admission refuses the request.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    /// 405: the verb is not supported on this resource.
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    /// 410: the requested resourceVersion is older than the retained history.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 415: the patch type is not supported.
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(415, "UnsupportedMediaType", message)
    }

    /// 429: too many requests, retry after the given seconds.
    pub fn too_many_requests(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(429, "TooManyRequests", "injected fault: too many requests")
        }
    }

    /// 500: an injected or internal failure.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    /// The `Status` object for the response body.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if let Some(seconds) = self.retry_after {
            status["details"]["retryAfterSeconds"] = json!(seconds);
        }
        status
    }
}
