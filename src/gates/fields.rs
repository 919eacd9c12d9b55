//! Reading the fields gates judge from objects as the API server returns them, and the checks the gate
//! kinds share (timestamps and ages, a missing kind).

use super::GateFailure;
use crate::plan::file::Duration;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The value at a dotted path such as `status.completionTimestamp` (field names hold no dots).
pub(super) fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(object, |value, key| value.get(key)).filter(|value| !value.is_null())
}

/// The string at a dotted path, if it is one.
pub(super) fn str_at<'a>(object: &'a Value, path: &str) -> Option<&'a str> {
    at(object, path).and_then(Value::as_str)
}

/// `namespace/name` of an object.
pub(super) fn object_key(object: &Value) -> String {
    let namespace = str_at(object, "metadata.namespace").unwrap_or_default();
    let name = str_at(object, "metadata.name").unwrap_or_default();
    format!("{namespace}/{name}")
}

/// The timestamp at a dotted path: `Ok(None)` when absent, `Err` (the reason) when it is not RFC 3339.
pub(super) fn timestamp_at(object: &Value, path: &str) -> Result<Option<Timestamp>, String> {
    match at(object, path) {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => {
            text.parse::<Timestamp>().map(Some).map_err(|_| format!("is {text:?}, not an RFC 3339 timestamp"))
        }
        Some(other) => Err(format!("is {other}, not an RFC 3339 timestamp")),
    }
}

/// The first timestamp of `paths` that is present and valid, for ordering objects by recency.
pub(super) fn first_timestamp(object: &Value, paths: &[&str]) -> Option<Timestamp> {
    paths.iter().find_map(|path| timestamp_at(object, path).ok().flatten())
}

/// Checks that the timestamp at `path` is present and at most `max_age` before `now`; returns its age.
pub(super) fn check_age(
    subject: &str,
    object: &Value,
    path: &str,
    now: Timestamp,
    max_age: Duration,
) -> Result<(Timestamp, SignedDuration), GateFailure> {
    let at = match timestamp_at(object, path) {
        Ok(Some(at)) => at,
        Ok(None) => return Err(GateFailure::new(subject, path, "is not set: the backup has not finished")),
        Err(reason) => return Err(GateFailure::new(subject, path, reason)),
    };
    let age = now.duration_since(at);
    let limit = SignedDuration::from_millis(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
    if age > limit {
        let reason = format!("is {at}, {} ago: older than maxAge {max_age}", describe(age));
        return Err(GateFailure::new(subject, path, reason));
    }
    Ok((at, age))
}

/// A length of time in the plan file's notation, whole seconds (`1h30m`, `0s`).
pub(super) fn describe(length: SignedDuration) -> String {
    let secs = length.as_secs();
    let text = Duration::from_secs(secs.unsigned_abs()).to_string();
    if secs < 0 {
        format!("-{text}")
    } else {
        text
    }
}

/// Whether a read failed because the resource is not served at all (its CRD is not installed): the API
/// server answers 404 to a list of an unknown resource, and to nothing else a list can ask (a list in a
/// namespace that does not exist is empty). For a group it does not serve at all the real server's 404
/// has a plain-text body (`404 page not found`), so the code counts, not only the `NotFound` reason.
pub(super) fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_not_found() || status.code == 404)
}

/// `object` with the value at a dotted path replaced (`Value::Null`: removed), for tests.
#[cfg(test)]
pub(super) fn with(mut object: Value, path: &str, value: Value) -> Value {
    let (parents, last) = path.rsplit_once('.').unwrap_or(("", path));
    let parent = parents.split('.').filter(|key| !key.is_empty()).fold(&mut object, |o, key| &mut o[key]);
    if value.is_null() {
        parent.as_object_mut().unwrap().remove(last);
    } else {
        parent[last] = value;
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_dotted_paths_and_timestamps() {
        let object = json!({"status": {"at": "2026-01-02T03:04:05Z", "bad": "yesterday", "nil": null, "num": 3}});
        assert_eq!(at(&object, "status.num"), Some(&json!(3)));
        assert_eq!(at(&object, "status.nil"), None);
        assert_eq!(at(&object, "spec.x"), None);
        assert_eq!(timestamp_at(&object, "status.at").unwrap().unwrap().to_string(), "2026-01-02T03:04:05Z");
        assert_eq!(timestamp_at(&object, "status.missing"), Ok(None));
        assert!(timestamp_at(&object, "status.bad").unwrap_err().contains("not an RFC 3339"));
        assert!(timestamp_at(&object, "status.num").is_err());
    }

    #[test]
    fn ages_are_checked_against_the_limit() {
        let now: Timestamp = "2026-01-02T12:00:00Z".parse().unwrap();
        let object = json!({"status": {"at": "2026-01-02T09:00:00Z"}});
        let (_, age) = check_age("x", &object, "status.at", now, Duration::from_hours(3)).unwrap();
        assert_eq!(describe(age), "3h");
        let failure = check_age("x", &object, "status.at", now, Duration::from_hours(2)).unwrap_err();
        assert_eq!(failure.field, "status.at");
        assert_eq!(failure.reason, "is 2026-01-02T09:00:00Z, 3h ago: older than maxAge 2h");
        let missing = check_age("x", &object, "status.other", now, Duration::from_hours(2)).unwrap_err();
        assert!(missing.reason.contains("not set"), "{missing:?}");
        assert_eq!(describe(SignedDuration::from_secs(-90)), "-1m30s");
    }
}
