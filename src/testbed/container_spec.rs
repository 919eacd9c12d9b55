//! What a kubelet makes of a container before it starts it, as pure functions of the Pod and of the objects
//! the Pod refers to: the argument vector (`command`/`args` with `$(VAR)` expanded), the environment
//! (`env`, `envFrom`, `valueFrom` and the service variables), the files of its volumes at their mount paths
//! (ConfigMaps, Secrets, projected service-account tokens, the downward API, empty directories) and the user
//! it runs as. [`references`] says which objects to read; [`launch_of`] builds the [`Launch`] from them.
//!
//! Secret values only pass through here into the Pod's own files and environment, as a kubelet passes them;
//! nothing here logs or prints them.

use k8s_openapi::api::core::v1::{Container, EnvVar, KeyToPath, ObjectFieldSelector, Pod, Volume};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Where the image's one program lives inside the Pod's root when the container gives no `command`.
pub const DEFAULT_ENTRYPOINT: &str = "/bin/operator";
/// The user a container that must not run as root but names no user runs as (the distroless `nonroot`).
pub const NON_ROOT_USER: i64 = 65532;
/// The lifetime of a projected token when the volume gives none (the kubelet's default, one hour).
pub const DEFAULT_TOKEN_SECONDS: i64 = 3600;

/// An object of the Pod's namespace the launch reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reference {
    /// A ConfigMap, by name.
    ConfigMap(String),
    /// A Secret, by name.
    Secret(String),
    /// A token of the Pod's ServiceAccount for an audience (empty: the API server's) and a lifetime.
    Token {
        /// The audience; empty for the API server's own.
        audience: String,
        /// The lifetime asked for, in seconds.
        seconds: i64,
    },
}

/// The objects a Pod refers to, as read: an absent one is missing from its map.
#[derive(Debug, Clone, Default)]
pub struct Referenced {
    /// ConfigMaps' data (and binaryData), by name.
    pub config_maps: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// Secrets' data, by name.
    pub secrets: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// Tokens by (audience, seconds).
    pub tokens: HashMap<(String, i64), String>,
}

/// Facts of the node and the Pod's sandbox that the launch needs.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The Pod's IP.
    pub pod_ip: String,
    /// The node's IP.
    pub host_ip: String,
    /// The API server as Pods reach it: host and port (`KUBERNETES_SERVICE_HOST`/`_PORT`).
    pub api_host: String,
    /// The API server's port.
    pub api_port: u16,
}

/// One file of the Pod's volumes, at its path inside the Pod's root.
#[derive(Clone, PartialEq, Eq)]
pub struct PodFile {
    /// Absolute path inside the Pod's root.
    pub path: String,
    /// The content.
    pub content: Vec<u8>,
    /// The file mode.
    pub mode: u32,
}

impl fmt::Debug for PodFile {
    // The content may be a Secret's value: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PodFile({}, {} bytes, {:o})", self.path, self.content.len(), self.mode)
    }
}

/// How to start one container: what a kubelet hands its runtime.
#[derive(Clone, PartialEq, Eq)]
pub struct Launch {
    /// The program's path inside the Pod's root (where the image's binary is placed).
    pub program: String,
    /// The arguments after the program.
    pub args: Vec<String>,
    /// The environment, in order.
    pub env: Vec<(String, String)>,
    /// The files of the mounted volumes.
    pub files: Vec<PodFile>,
    /// Directories to create (empty directories and mount points).
    pub dirs: Vec<String>,
    /// The user and group it runs as.
    pub user: (i64, i64),
}

impl fmt::Debug for Launch {
    // The environment may carry a Secret's value: only the names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Launch")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &names)
            .field("files", &self.files)
            .field("dirs", &self.dirs)
            .field("user", &self.user)
            .finish()
    }
}

/// Why a container cannot be started: the kubelet's `CreateContainerConfigError`, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The objects the container `container` of `pod` needs: its env's and its mounted volumes' references.
pub fn references(pod: &Pod, container: &Container) -> Vec<Reference> {
    let mut found = Vec::new();
    for var in container.env.iter().flatten() {
        let Some(from) = &var.value_from else { continue };
        if let Some(key) = &from.config_map_key_ref {
            found.push(Reference::ConfigMap(key.name.clone()));
        }
        if let Some(key) = &from.secret_key_ref {
            found.push(Reference::Secret(key.name.clone()));
        }
    }
    for source in container.env_from.iter().flatten() {
        if let Some(map) = &source.config_map_ref {
            found.push(Reference::ConfigMap(map.name.clone()));
        }
        if let Some(secret) = &source.secret_ref {
            found.push(Reference::Secret(secret.name.clone()));
        }
    }
    for volume in mounted_volumes(pod, container) {
        if let Some(map) = &volume.config_map {
            found.push(Reference::ConfigMap(map.name.clone()));
        }
        if let Some(secret) = &volume.secret {
            found.push(Reference::Secret(secret.secret_name.clone().unwrap_or_default()));
        }
        for source in volume.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(map) = &source.config_map {
                found.push(Reference::ConfigMap(map.name.clone()));
            }
            if let Some(secret) = &source.secret {
                found.push(Reference::Secret(secret.name.clone()));
            }
            if let Some(token) = &source.service_account_token {
                found.push(Reference::Token {
                    audience: token.audience.clone().unwrap_or_default(),
                    seconds: token.expiration_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS),
                });
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn mounted_volumes<'a>(pod: &'a Pod, container: &'a Container) -> impl Iterator<Item = &'a Volume> {
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    volumes.filter(|v| container.volume_mounts.iter().flatten().any(|m| m.name == v.name))
}

/// Builds the launch of `container` in `pod` from the objects read and the sandbox.
pub fn launch_of(
    pod: &Pod,
    container: &Container,
    referenced: &Referenced,
    sandbox: &Sandbox,
) -> Result<Launch, ConfigError> {
    let env = environment(pod, container, referenced, sandbox)?;
    let expand_all = |words: &[String]| words.iter().map(|w| expand(w, &env)).collect::<Vec<_>>();
    let command = expand_all(container.command.as_deref().unwrap_or_default());
    let mut args = expand_all(container.args.as_deref().unwrap_or_default());
    let program = match command.split_first() {
        Some((program, rest)) => {
            args.splice(0..0, rest.iter().cloned());
            program.clone()
        }
        None => DEFAULT_ENTRYPOINT.to_owned(),
    };
    let (files, dirs) = volume_files(pod, container, referenced)?;
    Ok(Launch { program, args, env, files, dirs, user: user_of(pod, container) })
}

/// The environment as the kubelet builds it: the service variables of the API server, `envFrom` sources,
/// then `env` in order (each value may refer to the ones before it with `$(NAME)`).
fn environment(
    pod: &Pod,
    container: &Container,
    referenced: &Referenced,
    sandbox: &Sandbox,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = vec![
        ("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("HOSTNAME".to_owned(), pod.metadata.name.clone().unwrap_or_default()),
        ("KUBERNETES_SERVICE_HOST".to_owned(), sandbox.api_host.clone()),
        ("KUBERNETES_SERVICE_PORT".to_owned(), sandbox.api_port.to_string()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".to_owned(), sandbox.api_port.to_string()),
    ];
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        let (data, name, optional) = match (&source.config_map_ref, &source.secret_ref) {
            (Some(map), _) => (referenced.config_maps.get(&map.name), format!("configmap {}", map.name), map.optional),
            (None, Some(secret)) => {
                (referenced.secrets.get(&secret.name), format!("secret {}", secret.name), secret.optional)
            }
            (None, None) => continue,
        };
        match data {
            Some(data) => {
                for (key, value) in data {
                    set(&mut env, format!("{prefix}{key}"), String::from_utf8_lossy(value).into_owned());
                }
            }
            None if optional == Some(true) => {}
            None => return Err(ConfigError(format!("{name} not found"))),
        }
    }
    for var in container.env.iter().flatten() {
        if let Some(value) = env_value(pod, var, referenced, sandbox, &env)? {
            set(&mut env, var.name.clone(), value);
        }
    }
    Ok(env)
}

fn set(env: &mut Vec<(String, String)>, name: String, value: String) {
    match env.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    }
}

fn env_value(
    pod: &Pod,
    var: &EnvVar,
    referenced: &Referenced,
    sandbox: &Sandbox,
    before: &[(String, String)],
) -> Result<Option<String>, ConfigError> {
    let Some(from) = &var.value_from else {
        return Ok(Some(expand(var.value.as_deref().unwrap_or_default(), before)));
    };
    if let Some(field) = &from.field_ref {
        return field_value(pod, field, sandbox).map(Some);
    }
    if let Some(key) = &from.config_map_key_ref {
        return keyed_value(&referenced.config_maps, "ConfigMap", (&key.name, &key.key, key.optional));
    }
    if let Some(key) = &from.secret_key_ref {
        return keyed_value(&referenced.secrets, "Secret", (&key.name, &key.key, key.optional));
    }
    if let Some(resource) = &from.resource_field_ref {
        // Without a limit the kubelet gives the node's allocatable; the agent's node reports 64 CPUs, 256Gi.
        let limits = pod.spec.iter().flat_map(|s| s.containers.iter()).find_map(|c| {
            let wanted = resource.container_name.as_deref().unwrap_or(&c.name);
            (c.name == wanted).then(|| c.resources.as_ref()?.limits.clone()).flatten()
        });
        let resource_name = resource.resource.trim_start_matches("limits.").trim_start_matches("requests.");
        let value = limits.and_then(|l| l.get(resource_name).map(|q| q.0.clone()));
        return Ok(Some(
            value.unwrap_or_else(|| if resource_name == "cpu" { "64" } else { "274877906944" }.to_owned()),
        ));
    }
    Ok(None)
}

/// A key of a ConfigMap's or Secret's data (`kind` names it in errors, as the kubelet's messages do).
fn keyed_value(
    data: &HashMap<String, BTreeMap<String, Vec<u8>>>,
    kind: &str,
    (name, key, optional): (&str, &str, Option<bool>),
) -> Result<Option<String>, ConfigError> {
    match data.get(name).map(|values| values.get(key)) {
        Some(Some(value)) => Ok(Some(String::from_utf8_lossy(value).into_owned())),
        _ if optional == Some(true) => Ok(None),
        Some(None) => Err(ConfigError(format!("couldn't find key {key} in {kind} {name}"))),
        None => Err(ConfigError(format!("{} \"{name}\" not found", kind.to_lowercase()))),
    }
}

/// The downward API's fields, as the kubelet resolves them.
fn field_value(pod: &Pod, field: &ObjectFieldSelector, sandbox: &Sandbox) -> Result<String, ConfigError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let path = field.field_path.as_str();
    let from_map = |map: &Option<BTreeMap<String, String>>, prefix: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(map.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default())
    };
    let value = match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()),
        "status.podIP" | "status.podIPs" => Some(sandbox.pod_ip.clone()),
        "status.hostIP" | "status.hostIPs" => Some(sandbox.host_ip.clone()),
        _ => from_map(&meta.labels, "metadata.labels['")
            .or_else(|| from_map(&meta.annotations, "metadata.annotations['")),
    };
    value.ok_or_else(|| ConfigError(format!("unsupported fieldRef {path}")))
}

/// Expands `$(NAME)` references to variables defined before, `$$` to `$`, and leaves unknown references
/// as written (the Kubernetes rules for command, args and env values).
pub fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        if let Some(after) = tail.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(close) = tail.strip_prefix('(').and_then(|t| t.find(')').map(|i| (t, i))) {
            let (inner, end) = close;
            let name = &inner[..end];
            match env.iter().rev().find(|(n, _)| n == name) {
                Some((_, value)) => out.push_str(value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The files and directories of the container's volume mounts.
fn volume_files(
    pod: &Pod,
    container: &Container,
    referenced: &Referenced,
) -> Result<(Vec<PodFile>, Vec<String>), ConfigError> {
    let volumes: HashMap<&str, &Volume> =
        pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()).map(|v| (v.name.as_str(), v)).collect();
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for mount in container.volume_mounts.iter().flatten() {
        let volume = volumes.get(mount.name.as_str()).ok_or_else(|| {
            ConfigError(format!("volume {} of mount {} is not in the Pod", mount.name, mount.mount_path))
        })?;
        let contents = volume_contents(pod, volume, referenced)?;
        let base = mount.mount_path.trim_end_matches('/');
        match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => {
                let sub = sub.trim_matches('/');
                let exact = contents.iter().find(|(path, ..)| path == sub);
                match exact {
                    Some((_, content, mode)) => {
                        files.push(PodFile { path: base.to_owned(), content: content.clone(), mode: *mode })
                    }
                    None => {
                        dirs.push(base.to_owned());
                        for (path, content, mode) in &contents {
                            if let Some(rest) = path.strip_prefix(&format!("{sub}/")) {
                                files.push(PodFile {
                                    path: format!("{base}/{rest}"),
                                    content: content.clone(),
                                    mode: *mode,
                                });
                            }
                        }
                    }
                }
            }
            None => {
                dirs.push(base.to_owned());
                for (path, content, mode) in contents {
                    files.push(PodFile { path: format!("{base}/{path}"), content, mode });
                }
            }
        }
    }
    Ok((files, dirs))
}

/// A volume's files: (path relative to the volume, content, mode).
type VolumeFile = (String, Vec<u8>, u32);

fn volume_contents(pod: &Pod, volume: &Volume, referenced: &Referenced) -> Result<Vec<VolumeFile>, ConfigError> {
    if volume.empty_dir.is_some() {
        return Ok(Vec::new());
    }
    if let Some(map) = &volume.config_map {
        let data = referenced.config_maps.get(&map.name);
        let missing = || ConfigError(format!("configmap \"{}\" not found", map.name));
        let mode = mode_of(map.default_mode);
        return keyed_files(data, map.items.as_deref(), mode, map.optional == Some(true), missing);
    }
    if let Some(secret) = &volume.secret {
        let name = secret.secret_name.clone().unwrap_or_default();
        let data = referenced.secrets.get(&name);
        let missing = || ConfigError(format!("secret \"{name}\" not found"));
        let mode = mode_of(secret.default_mode);
        return keyed_files(data, secret.items.as_deref(), mode, secret.optional == Some(true), missing);
    }
    if let Some(projected) = &volume.projected {
        let mode = mode_of(projected.default_mode);
        let mut files = Vec::new();
        for source in projected.sources.iter().flatten() {
            if let Some(map) = &source.config_map {
                let missing = || ConfigError(format!("configmap \"{}\" not found", map.name));
                let data = referenced.config_maps.get(&map.name);
                files.extend(keyed_files(data, map.items.as_deref(), mode, map.optional == Some(true), missing)?);
            }
            if let Some(secret) = &source.secret {
                let missing = || ConfigError(format!("secret \"{}\" not found", secret.name));
                let data = referenced.secrets.get(&secret.name);
                files.extend(keyed_files(data, secret.items.as_deref(), mode, secret.optional == Some(true), missing)?);
            }
            if let Some(token) = &source.service_account_token {
                let key = (
                    token.audience.clone().unwrap_or_default(),
                    token.expiration_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS),
                );
                let value = referenced
                    .tokens
                    .get(&key)
                    .ok_or_else(|| ConfigError("the service account token could not be requested".to_owned()))?;
                files.push((token.path.clone(), value.clone().into_bytes(), mode));
            }
            for item in source.downward_api.iter().flat_map(|d| d.items.iter().flatten()) {
                if let Some(field) = &item.field_ref {
                    let sandbox =
                        Sandbox { pod_ip: String::new(), host_ip: String::new(), api_host: String::new(), api_port: 0 };
                    let value = field_value(pod, field, &sandbox)?;
                    files.push((item.path.clone(), value.into_bytes(), item.mode.map_or(mode, |m| m as u32)));
                }
            }
        }
        return Ok(files);
    }
    Err(ConfigError(format!("volume {} has a kind the test bed does not mount", volume.name)))
}

fn mode_of(mode: Option<i32>) -> u32 {
    mode.map_or(0o644, |m| m as u32)
}

fn keyed_files(
    data: Option<&BTreeMap<String, Vec<u8>>>,
    items: Option<&[KeyToPath]>,
    mode: u32,
    optional: bool,
    missing: impl Fn() -> ConfigError,
) -> Result<Vec<VolumeFile>, ConfigError> {
    let Some(data) = data else {
        return if optional { Ok(Vec::new()) } else { Err(missing()) };
    };
    match items {
        None => Ok(data.iter().map(|(k, v)| (k.clone(), v.clone(), mode)).collect()),
        Some(items) => items
            .iter()
            .filter_map(|item| match data.get(&item.key) {
                Some(value) => Some(Ok((item.path.clone(), value.clone(), item.mode.map_or(mode, |m| m as u32)))),
                None if optional => None,
                None => Some(Err(ConfigError(format!("key {} is not in the volume's source", item.key)))),
            })
            .collect(),
    }
}

/// The user and group: the container's security context, then the Pod's; a non-root container without a
/// user runs as [`NON_ROOT_USER`]; otherwise root.
fn user_of(pod: &Pod, container: &Container) -> (i64, i64) {
    let container_context = container.security_context.as_ref();
    let pod_context = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let user = container_context.and_then(|c| c.run_as_user).or_else(|| pod_context.and_then(|p| p.run_as_user));
    let group = container_context.and_then(|c| c.run_as_group).or_else(|| pod_context.and_then(|p| p.run_as_group));
    let non_root =
        container_context.and_then(|c| c.run_as_non_root).or_else(|| pod_context.and_then(|p| p.run_as_non_root));
    let user = user.unwrap_or(if non_root == Some(true) { NON_ROOT_USER } else { 0 });
    (user, group.unwrap_or(user))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sandbox() -> Sandbox {
        Sandbox {
            pod_ip: "10.213.0.5".into(),
            host_ip: "10.213.0.1".into(),
            api_host: "10.213.0.1".into(),
            api_port: 6443,
        }
    }

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn operator_pod() -> Pod {
        pod(json!({
            "metadata": {"name": "op-1", "namespace": "monitoring", "uid": "u1", "labels": {"app": "op"}},
            "spec": {
                "nodeName": "n", "serviceAccountName": "op",
                "securityContext": {"runAsNonRoot": true, "runAsUser": 65534},
                "containers": [{
                    "name": "op", "image": "op:v1",
                    "args": ["--namespace=$(POD_NAMESPACE)", "--literal=$$(POD_NAMESPACE)", "--unknown=$(NOPE)"],
                    "env": [
                        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                        {"name": "GREETING", "value": "hello $(APP)"}
                    ],
                    "volumeMounts": [
                        {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true},
                        {"name": "certs", "mountPath": "/tls"},
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "settings", "mountPath": "/etc/op/level.conf", "subPath": "level"}
                    ]
                }],
                "volumes": [
                    {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                    ]}},
                    {"name": "certs", "secret": {"secretName": "webhook-tls", "defaultMode": 384}},
                    {"name": "tmp", "emptyDir": {}},
                    {"name": "settings", "configMap": {"name": "settings"}}
                ]
            }
        }))
    }

    fn referenced() -> Referenced {
        let data = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
        Referenced {
            config_maps: HashMap::from([
                ("settings".into(), data(&[("level", "debug")])),
                ("kube-root-ca.crt".into(), data(&[("ca.crt", "CA")])),
            ]),
            secrets: HashMap::from([
                ("creds".into(), data(&[("password", "s3cret")])),
                ("webhook-tls".into(), data(&[("tls.crt", "CRT"), ("tls.key", "KEY")])),
            ]),
            tokens: HashMap::from([((String::new(), 3607), "TOKEN".to_owned())]),
        }
    }

    #[test]
    fn references_name_every_object_the_container_reads() {
        let pod = operator_pod();
        let container = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            references(&pod, container),
            vec![
                Reference::ConfigMap("kube-root-ca.crt".into()),
                Reference::ConfigMap("settings".into()),
                Reference::Secret("creds".into()),
                Reference::Secret("webhook-tls".into()),
                Reference::Token { audience: String::new(), seconds: 3607 },
            ]
        );
    }

    #[test]
    fn a_launch_resolves_env_args_and_volumes_as_a_kubelet() {
        let pod = operator_pod();
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let launch = launch_of(&pod, container, &referenced(), &sandbox()).unwrap();
        assert_eq!(launch.program, DEFAULT_ENTRYPOINT);
        assert_eq!(launch.args, ["--namespace=monitoring", "--literal=$(POD_NAMESPACE)", "--unknown=$(NOPE)"]);
        let env: HashMap<_, _> = launch.env.iter().cloned().collect();
        assert_eq!(env["POD_IP"], "10.213.0.5");
        assert_eq!(env["LEVEL"], "debug");
        assert_eq!(env["PASSWORD"], "s3cret");
        assert_eq!(env["GREETING"], "hello op");
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "10.213.0.1");
        assert_eq!(env["KUBERNETES_SERVICE_PORT"], "6443");
        let file = |path: &str| launch.files.iter().find(|f| f.path == path).map(|f| (f.content.clone(), f.mode));
        let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
        assert_eq!(file(&format!("{sa}/token")), Some((b"TOKEN".to_vec(), 0o644)));
        assert_eq!(file(&format!("{sa}/ca.crt")), Some((b"CA".to_vec(), 0o644)));
        assert_eq!(file(&format!("{sa}/namespace")), Some((b"monitoring".to_vec(), 0o644)));
        assert_eq!(file("/tls/tls.key"), Some((b"KEY".to_vec(), 0o600)));
        assert_eq!(file("/etc/op/level.conf"), Some((b"debug".to_vec(), 0o644)));
        assert!(launch.dirs.contains(&"/tmp".to_owned()));
        assert_eq!(launch.user, (65534, 65534));
        let shown = format!("{launch:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("KEY\"") && !shown.contains("TOKEN\""), "{shown}");
    }

    #[test]
    fn a_command_replaces_the_entrypoint_and_keeps_its_arguments_first() {
        let pod = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "i", "command": ["/app/controller", "--one"], "args": ["--two"]}]}}));
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let launch = launch_of(&pod, container, &Referenced::default(), &sandbox()).unwrap();
        assert_eq!(
            (launch.program.as_str(), launch.args.as_slice()),
            ("/app/controller", &["--one".to_owned(), "--two".to_owned()][..])
        );
        assert_eq!(launch.user, (0, 0));
    }

    #[test]
    fn a_missing_reference_is_the_kubelets_config_error_unless_optional() {
        let with = |optional: bool| {
            pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
                "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": optional}}}]}]}}))
        };
        let missing = with(false);
        let container = &missing.spec.as_ref().unwrap().containers[0];
        let error = launch_of(&missing, container, &Referenced::default(), &sandbox()).unwrap_err();
        assert_eq!(error.0, "secret \"gone\" not found");
        let optional = with(true);
        let container = &optional.spec.as_ref().unwrap().containers[0];
        let launch = launch_of(&optional, container, &Referenced::default(), &sandbox()).unwrap();
        assert!(launch.env.iter().all(|(name, _)| name != "X"));
    }

    #[test]
    fn expansion_follows_the_kubernetes_rules() {
        let env = vec![("A".to_owned(), "1".to_owned())];
        assert_eq!(expand("$(A)-$$(A)-$(B)-$-$", &env), "1-$(A)-$(B)-$-$");
        assert_eq!(expand("$(A", &env), "$(A");
    }
}
