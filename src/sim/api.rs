//! The HTTP front of the simulator: discovery, and routing of REST paths to the verbs.

use super::errors::ApiError;
use super::resources::{core_versions, group_list, resource_list, ResourceType};
use super::state::SimState;
use super::{verbs, watch};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A REST request resolved against the served kinds.
#[derive(Debug, Clone)]
pub struct Target {
    /// The kind served at the requested group/version.
    pub resource_type: ResourceType,
    /// The namespace from the path (empty for cluster-scoped requests or all namespaces).
    pub namespace: Option<String>,
    /// The object name, for single-object requests.
    pub name: Option<String>,
    /// `status`, `scale` or `proxy/...`.
    pub subresource: Option<String>,
}

/// A JSON response with a status code.
pub fn json_response(code: u16, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body)
        .unwrap_or_else(|e| format!("{{\"kind\":\"Status\",\"message\":\"{e}\"}}").into_bytes());
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The response for an API error: its Status object, and Retry-After for 429.
pub fn error_response(error: &ApiError) -> Response {
    let mut response = json_response(error.code, &error.status());
    if let Some(seconds) = error.retry_after {
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// Query parameters, decoded.
pub type Query = HashMap<String, String>;

fn parse_query(uri: &Uri) -> Query {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%' && index + 2 < bytes.len())
            .then(|| Some(hex(bytes[index + 1])? * 16 + hex(bytes[index + 2])?))
            .flatten();
        match (escaped, bytes[index]) {
            (Some(byte), _) => {
                out.push(byte);
                index += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                index += 1;
            }
            (None, byte) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The single entry point: every request of the Kubernetes API and the admin endpoints.
pub async fn handle(state: Arc<SimState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().trim_end_matches('/').to_owned();
    let query = parse_query(&uri);
    match route(&state, &method, &path, &query, &headers, body).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

async fn route(
    state: &Arc<SimState>,
    method: &Method,
    path: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => Ok(json_response(200, &version())),
        ["healthz"] | ["readyz"] | ["livez"] => Ok("ok".into_response()),
        ["api"] => Ok(json_response(200, &core_versions())),
        ["apis"] => Ok(json_response(200, &group_list(&state.types()))),
        ["openapi", "v3"] => Ok(json_response(200, &openapi_root(&state.types()))),
        ["openapi", "v3", "api", version] => openapi_group_version(state, "", version),
        ["openapi", "v3", "apis", group, version] => openapi_group_version(state, group, version),
        ["sim", "faults"] => admin_faults(state, method, &body),
        ["api", version] => discovery(state, "", version),
        ["apis", group] => group_discovery(state, group),
        ["apis", group, version] => discovery(state, group, version),
        ["api", version, rest @ ..] => resource_request(state, "", version, rest, method, query, headers, body).await,
        ["apis", group, version, rest @ ..] => {
            resource_request(state, group, version, rest, method, query, headers, body).await
        }
        _ => Err(ApiError::not_found(format!("path {path}"))),
    }
}

fn version() -> Value {
    json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-operator-upgrade-sim", "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"})
}

/// `/openapi/v3`: one entry per served group version. kubectl reads it to learn that the server validates
/// fields itself (the `fieldValidation` parameter), so it skips client-side schema validation.
fn openapi_root(types: &[ResourceType]) -> Value {
    let mut paths = serde_json::Map::new();
    for t in types {
        let key =
            if t.group.is_empty() { format!("api/{}", t.version) } else { format!("apis/{}/{}", t.group, t.version) };
        paths.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash=sim")}));
    }
    json!({"paths": paths})
}

/// A group version's OpenAPI v3 document: the PATCH operation of each kind with its
/// `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter (schemas are not served).
fn openapi_group_version(state: &SimState, group: &str, version: &str) -> Result<Response, ApiError> {
    let types: Vec<ResourceType> =
        state.types().into_iter().filter(|t| t.group == group && t.version == version).collect();
    if types.is_empty() {
        return Err(ApiError::not_found(format!("openapi for {group}/{version}")));
    }
    let mut paths = serde_json::Map::new();
    for t in &types {
        let prefix = if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
        let scope = if t.namespaced { "/namespaces/{namespace}" } else { "" };
        let patch = json!({"patch": {
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": t.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}},
        }});
        paths.insert(format!("{prefix}{scope}/{}/{{name}}", t.resource), patch);
    }
    Ok(json_response(
        200,
        &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths, "components": {"schemas": {}}}),
    ))
}

fn discovery(state: &SimState, group: &str, version: &str) -> Result<Response, ApiError> {
    resource_list(&state.types(), group, version).map(|list| json_response(200, &list)).ok_or_else(|| {
        ApiError::not_found(format!("the server could not find the requested resource ({group}/{version})"))
    })
}

fn group_discovery(state: &SimState, group: &str) -> Result<Response, ApiError> {
    let list = group_list(&state.types());
    let found = list["groups"].as_array().and_then(|groups| groups.iter().find(|g| g["name"] == group)).cloned();
    let mut found = found.ok_or_else(|| ApiError::not_found(format!("group {group}")))?;
    found["kind"] = json!("APIGroup");
    found["apiVersion"] = json!("v1");
    Ok(json_response(200, &found))
}

fn record_request(state: &SimState, target: &Target, verb: &str, headers: &HeaderMap) {
    let rt = &target.resource_type;
    let resource = if rt.group.is_empty() { rt.resource.clone() } else { format!("{}.{}", rt.resource, rt.group) };
    let custom = !rt.group.is_empty()
        && state.store.get(&super::crds::crd_resource(), "", &format!("{}.{}", rt.resource, rt.group)).is_some();
    let record = super::state::RequestRecord {
        verb: verb.to_owned(),
        resource,
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        custom,
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
    };
    state.requests.lock().unwrap_or_else(|p| p.into_inner()).push(record);
}

fn admin_faults(state: &SimState, method: &Method, body: &Bytes) -> Result<Response, ApiError> {
    if method == Method::PUT || method == Method::POST {
        let settings = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("fault config: {e}")))?;
        let problems = super::scenario::fault_problems(&settings);
        if !problems.is_empty() {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(ApiError::bad_request(format!("fault config: {}", problems.join("; "))));
        }
        state.faults.set_settings(settings);
    }
    let config = serde_json::to_value(state.faults.settings()).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json_response(200, &config))
}

/// Splits `[namespaces/{ns}/]{resource}[/{name}[/{subresource...}]]` against the kinds served at group/version.
fn resolve(state: &SimState, group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let served = |resource: &str| state.find_type(group, version, resource);
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, tail @ ..] if group.is_empty() && served(resource).is_some() => {
            (Some(ns.to_string()), [&[*resource][..], tail].concat())
        }
        ["namespaces", ns, resource, tail @ ..] if !group.is_empty() => {
            (Some(ns.to_string()), [&[*resource][..], tail].concat())
        }
        other => (None, other.to_vec()),
    };
    let (resource, name, subresource) = match rest.as_slice() {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(name.to_string()), None),
        [resource, name, sub @ ..] => (*resource, Some(name.to_string()), Some(sub.join("/"))),
        [] => return Err(ApiError::not_found("empty resource path")),
    };
    let resource_type = served(resource).ok_or_else(|| {
        ApiError::not_found(format!("the server could not find the requested resource ({resource}.{group}/{version})"))
    })?;
    if namespace.is_some() && !resource_type.namespaced {
        return Err(ApiError::not_found(format!("{resource} is cluster-scoped")));
    }
    Ok(Target { resource_type, namespace, name, subresource })
}

fn verb_name(method: &Method, target: &Target, query: &Query) -> &'static str {
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    match (method.as_str(), target.name.is_some()) {
        ("GET", _) if watching => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource_request(
    state: &Arc<SimState>,
    group: &str,
    version: &str,
    rest: &[&str],
    method: &Method,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let target = resolve(state, group, version, rest)?;
    let verb = verb_name(method, &target, query);
    record_request(state, &target, verb, headers);
    let (latency, fault) = state.faults.decide(verb, &target.resource_type.resource);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(error) = fault {
        return Err(error);
    }
    if target.resource_type.create_only && verb != "create" {
        return Err(ApiError::method_not_allowed(format!("{} only supports create", target.resource_type.resource)));
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let request = verbs::Request { state, target: &target, query, accept, content_type, user_agent, body: &body };
    match verb {
        "watch" => watch::watch(state, &target, query),
        "get" => verbs::get(&request),
        "list" => verbs::list(&request),
        "create" => verbs::create(&request),
        "update" => verbs::update(&request),
        "patch" => verbs::patch(&request),
        "delete" => verbs::delete(&request),
        "deletecollection" => verbs::delete_collection(&request),
        _ => Err(ApiError::method_not_allowed(format!("{method} is not supported"))),
    }
}
