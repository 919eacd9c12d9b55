//! What a run shows while it runs: a line per step transition (or one JSON object per event with
//! `-o json`), progress bars for waits and the migration on a terminal, and a Kubernetes Event on the
//! operator Deployment for every step transition, so `kubectl describe` and event pipelines see the upgrade.

use crate::plan::steps::StepKind;
use indicatif::{ProgressBar, ProgressStyle};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::io::{IsTerminal, Write};

/// How the run's progress is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    /// Lines for people.
    Text,
    /// One JSON object per event, per line.
    Json,
}

/// The Deployment the run's Events are about.
#[derive(Clone)]
struct EventTarget {
    client: kube::Client,
    namespace: String,
    name: String,
}

/// Prints the run's progress and records it as Kubernetes Events.
pub struct Reporter {
    mode: OutputMode,
    terminal: bool,
    events: Option<EventTarget>,
}

impl Reporter {
    /// A reporter printing in `mode`; progress bars only when standard error is a terminal.
    pub fn new(mode: OutputMode) -> Reporter {
        Reporter { mode, terminal: std::io::stderr().is_terminal() && mode == OutputMode::Text, events: None }
    }

    /// Also records step transitions as Events on this Deployment.
    pub fn with_events(mut self, client: kube::Client, namespace: &str, deployment: &str) -> Reporter {
        self.events = Some(EventTarget { client, namespace: namespace.into(), name: deployment.into() });
        self
    }

    /// The output mode.
    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    /// A line of information (a JSON `message` event with `-o json`).
    pub fn info(&self, text: &str) {
        match self.mode {
            OutputMode::Text => print_line(text),
            OutputMode::Json => print_line(&json!({"event": "message", "message": text}).to_string()),
        }
    }

    /// A step changed state: printed, and recorded as an Event on the operator Deployment.
    pub async fn step(&self, position: (usize, usize), kind: StepKind, state: &str, message: &str, warning: bool) {
        let (index, total) = position;
        match self.mode {
            OutputMode::Text => print_line(&format!("[{}/{total}] {kind} {state}: {message}", index + 1)),
            OutputMode::Json => print_line(
                &json!({"event": "step", "step": index + 1, "of": total, "kind": kind, "state": state, "message": message})
                    .to_string(),
            ),
        }
        if let Some(target) = &self.events {
            let reason = format!("{}{}", camel(kind.as_str()), camel(state));
            if let Err(error) = emit_event(target, &reason, message, warning).await {
                // An Event is for people watching; the run does not stop because one could not be written.
                tracing::warn!(%error, "could not record the step as an Event");
            }
        }
    }

    /// Text redrawn in place on a terminal (the analysis table); hidden elsewhere, where the caller prints
    /// lines instead.
    pub fn live_text(&self) -> ProgressBar {
        if !self.terminal {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        bar.enable_steady_tick(std::time::Duration::from_millis(500));
        bar
    }

    /// A progress bar for `what` (hidden when not on a terminal); `total` None for a spinner.
    pub fn progress(&self, what: &str, total: Option<u64>) -> ProgressBar {
        if !self.terminal {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("  {msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    }
}

fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn camel(text: &str) -> String {
    text.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

async fn emit_event(target: &EventTarget, reason: &str, message: &str, warning: bool) -> Result<(), kube::Error> {
    let now = Time(jiff::Timestamp::now());
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", target.name)),
            namespace: Some(target.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some(target.name.clone()),
            namespace: Some(target.namespace.clone()),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(message.chars().take(1000).collect()),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        source: Some(EventSource { component: Some("operator-upgrade".into()), host: None }),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        ..Event::default()
    };
    let events: Api<Event> = Api::namespaced(target.client.clone(), &target.namespace);
    events.create(&PostParams::default(), &event).await.map(|_| ())
}

/// On a terminal without `--yes`: prints `summary` to standard error and asks before the first write (only
/// `y` or `yes` proceeds). Without a terminal (CI, a Job) there is nobody to ask, so it proceeds.
pub fn ask_to_proceed(yes: bool, summary: &str) -> Result<bool, super::EngineError> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes || !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    let mut out = std::io::stderr().lock();
    let _ = write!(out, "{summary}Proceed? [y/N] ");
    let _ = out.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| super::EngineError::BadInput(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_reasons_are_camel_case() {
        assert_eq!(super::camel("crd-expand"), "CrdExpand");
        assert_eq!(super::camel("rolled-back"), "RolledBack");
    }
}
