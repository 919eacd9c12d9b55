//! The kubelet's probe rules as a pure state machine: a probe's results count towards its success and
//! failure thresholds, and only a threshold crossed changes what the container is (ready or not; alive or
//! to be restarted). [`check`] is the I/O: one HTTP GET or TCP connect against the Pod's IP.

use k8s_openapi::api::core::v1::{Container, ContainerPort, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one probe checks, resolved against the container's named ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// An HTTP GET of a path on a port: 200..400 passes.
    Http {
        /// The port.
        port: u16,
        /// The path.
        path: String,
    },
    /// A TCP connect to a port.
    Tcp {
        /// The port.
        port: u16,
    },
}

/// A probe of a container, with the kubelet's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// What it checks.
    pub check: Check,
    /// Wait before the first check.
    pub initial_delay: Duration,
    /// Between checks.
    pub period: Duration,
    /// How long one check may take.
    pub timeout: Duration,
    /// Consecutive passes that make a failing probe pass.
    pub success_threshold: u32,
    /// Consecutive failures that make a passing probe fail.
    pub failure_threshold: u32,
}

/// Reads a container's probe; `None` when it has none, or one the test bed cannot run (exec, gRPC).
pub fn probe_spec(probe: Option<&Probe>, container: &Container) -> Option<ProbeSpec> {
    let probe = probe?;
    let named = |port: &IntOrString| match port {
        IntOrString::Int(number) => u16::try_from(*number).ok(),
        IntOrString::String(name) => {
            let ports: &[ContainerPort] = container.ports.as_deref().unwrap_or_default();
            ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
        }
    };
    let check = if let Some(http) = &probe.http_get {
        Check::Http { port: named(&http.port)?, path: http.path.clone().unwrap_or_else(|| "/".to_owned()) }
    } else if let Some(tcp) = &probe.tcp_socket {
        Check::Tcp { port: named(&tcp.port)? }
    } else {
        return None;
    };
    let seconds = |value: Option<i32>, default: u64| Duration::from_secs(value.map_or(default, |v| v.max(0) as u64));
    Some(ProbeSpec {
        check,
        initial_delay: seconds(probe.initial_delay_seconds, 0),
        period: seconds(probe.period_seconds, 10).max(Duration::from_secs(1)),
        timeout: seconds(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
        success_threshold: probe.success_threshold.map_or(1, |v| v.max(1) as u32),
        failure_threshold: probe.failure_threshold.map_or(3, |v| v.max(1) as u32),
    })
}

/// The counting state of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeState {
    /// What the probe says now (a readiness probe starts failing; a liveness probe starts passing).
    pub passing: bool,
    successes: u32,
    failures: u32,
}

impl ProbeState {
    /// A probe that says `passing` until its results say otherwise.
    pub fn new(passing: bool) -> Self {
        ProbeState { passing, successes: 0, failures: 0 }
    }

    /// Counts one result; returns true when it changed what the probe says.
    pub fn observe(&mut self, passed: bool, spec: &ProbeSpec) -> bool {
        if passed {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if !self.passing && self.successes >= spec.success_threshold {
                self.passing = true;
                return true;
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.passing && self.failures >= spec.failure_threshold {
                self.passing = false;
                return true;
            }
        }
        false
    }
}

/// Runs one check against `ip`: true when it passes within the timeout.
pub async fn check(ip: &str, spec: &ProbeSpec) -> bool {
    tokio::time::timeout(spec.timeout, check_once(ip, &spec.check)).await.unwrap_or(false)
}

async fn check_once(ip: &str, check: &Check) -> bool {
    match check {
        Check::Tcp { port } => tokio::net::TcpStream::connect((ip, *port)).await.is_ok(),
        Check::Http { port, path } => {
            let Ok(mut stream) = tokio::net::TcpStream::connect((ip, *port)).await else { return false };
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nUser-Agent: kube-probe/1.34\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            );
            if stream.write_all(request.as_bytes()).await.is_err() {
                return false;
            }
            // The status line is all a kubelet looks at.
            let mut head = [0u8; 12];
            if stream.read_exact(&mut head).await.is_err() {
                return false;
            }
            let code = std::str::from_utf8(&head[9..12]).ok().and_then(|c| c.parse::<u16>().ok());
            matches!(code, Some(200..=399))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container() -> Container {
        serde_json::from_value(json!({"name": "c", "ports": [{"name": "metrics", "containerPort": 8090}],
            "readinessProbe": {"httpGet": {"path": "/metrics", "port": "metrics"}, "periodSeconds": 5, "failureThreshold": 2},
            "livenessProbe": {"tcpSocket": {"port": 8080}},
            "startupProbe": {"exec": {"command": ["true"]}}}))
        .unwrap()
    }

    #[test]
    fn probes_resolve_named_ports_and_take_the_kubelets_defaults() {
        let c = container();
        let readiness = probe_spec(c.readiness_probe.as_ref(), &c).unwrap();
        assert_eq!(readiness.check, Check::Http { port: 8090, path: "/metrics".into() });
        assert_eq!((readiness.period, readiness.failure_threshold), (Duration::from_secs(5), 2));
        let liveness = probe_spec(c.liveness_probe.as_ref(), &c).unwrap();
        assert_eq!(liveness.check, Check::Tcp { port: 8080 });
        assert_eq!(
            (liveness.period, liveness.timeout, liveness.failure_threshold),
            (Duration::from_secs(10), Duration::from_secs(1), 3)
        );
        assert_eq!(probe_spec(c.startup_probe.as_ref(), &c), None, "exec probes are not run");
    }

    #[test]
    fn only_a_crossed_threshold_changes_what_a_probe_says() {
        let c = container();
        let spec = probe_spec(c.readiness_probe.as_ref(), &c).unwrap();
        let mut readiness = ProbeState::new(false);
        assert!(!readiness.observe(false, &spec));
        assert!(readiness.observe(true, &spec), "one success makes it ready");
        assert!(!readiness.observe(false, &spec), "one failure of two is not enough");
        assert!(!readiness.observe(true, &spec));
        assert!(!readiness.observe(false, &spec));
        assert!(readiness.observe(false, &spec), "two in a row are");
        assert!(!readiness.passing);
    }
}
