//! WATCH: a chunked stream of JSON events from a resourceVersion, with label and field selectors, timeouts,
//! 410 Gone for versions older than the retained history (as an ERROR event, the way the API server does)
//! and the injected "cut the stream" fault.

use super::api::{Query, Target};
use super::errors::ApiError;
use super::selectors::{parse_label_selector, FieldSelector, LabelSelector};
use super::state::SimState;
use super::store::Change;
use super::verbs::Served;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures::StreamExt;

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

struct Filter {
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    api_version: String,
    kind: String,
}

impl Filter {
    fn line(&self, change: &Change) -> Option<Bytes> {
        let object = &change.object;
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        if self.namespace.as_deref().is_some_and(|n| n != namespace)
            || !self.labels.matches(object)
            || !self.fields.matches(object)
        {
            return None;
        }
        let served = Served { object, api_version: &self.api_version, kind: &self.kind };
        Some(event_line(change.event.as_str(), &served))
    }
}

/// One line of a watch stream, serialised straight from the stored object (every watcher of every
/// change goes through here).
fn event_line(kind: &str, object: &impl serde::Serialize) -> Bytes {
    #[derive(serde::Serialize)]
    struct Line<'a, T> {
        #[serde(rename = "type")]
        kind: &'a str,
        object: &'a T,
    }
    let mut line = serde_json::to_vec(&Line { kind, object }).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Starts a watch response for `target`.
pub fn watch(state: &Arc<SimState>, target: &Target, query: &Query) -> Result<Response, ApiError> {
    let filter = Filter {
        namespace: target.namespace.clone(),
        labels: parse_label_selector(query.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))?,
        api_version: target.resource_type.api_version(),
        kind: target.resource_type.kind.clone(),
    };
    let group_resource = target.resource_type.group_resource();
    let from = match query.get("resourceVersion").map(String::as_str) {
        None | Some("") => None,
        Some(version) => Some(
            version.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {version}")))?,
        ),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let limit = state.faults.watch_cut_after().map_or(timeout, |cut| cut.min(timeout));
    let lines: futures::stream::BoxStream<'static, Bytes> = match state.store.watch(&group_resource, from) {
        Err(gone) => futures::stream::once(async move { event_line("ERROR", &gone.status()) }).boxed(),
        Ok(start) => {
            let backlog: Vec<Bytes> = start.backlog.iter().filter_map(|c| filter.line(c)).collect();
            let live = futures::stream::unfold(Some((start.live, filter, group_resource)), |state| async move {
                let (mut receiver, filter, gr) = state?;
                loop {
                    match receiver.recv().await {
                        Ok(change) if change.group_resource == gr => {
                            if let Some(line) = filter.line(&change) {
                                return Some((line, Some((receiver, filter, gr))));
                            }
                        }
                        Ok(_) => {}
                        // A watcher too slow to keep up must relist, exactly as with a compacted history.
                        Err(RecvError::Lagged(_)) => {
                            let gone = ApiError::gone("the watch fell behind; relist and watch again");
                            return Some((event_line("ERROR", &gone.status()), None));
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            });
            futures::stream::iter(backlog).chain(live).boxed()
        }
    };
    let deadline = tokio::time::sleep(limit);
    let body = lines.take_until(deadline).map(Ok::<Bytes, std::io::Error>);
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
