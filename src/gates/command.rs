//! The command gate: a local program (no shell) must exit 0 within its timeout. Its interleaved stdout
//! and stderr are kept, the last [`COMMAND_OUTPUT_LIMIT`] bytes of them, for the verdict.

use super::{GateContext, GateError, GateFailure, GateVerdict};
use crate::plan::file::CommandGate;
use std::io::Read;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// How much of a command's output a verdict keeps: its last 16 KiB.
pub const COMMAND_OUTPUT_LIMIT: usize = 16 * 1024;

/// How often a running command is checked for having exited.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// After a timeout, how long the output may take to end (a process the command started may still hold it).
const OUTPUT_GRACE: Duration = Duration::from_millis(100);

/// The last `limit` bytes of a stream, and how many came before them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTail {
    limit: usize,
    kept: Vec<u8>,
    dropped: u64,
}

impl OutputTail {
    /// An empty tail that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> OutputTail {
        OutputTail { limit, kept: Vec::new(), dropped: 0 }
    }

    /// Appends `bytes`, dropping the oldest bytes beyond the limit.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= self.limit {
            self.dropped += (self.kept.len() + bytes.len() - self.limit) as u64;
            self.kept.clear();
            self.kept.extend_from_slice(&bytes[bytes.len() - self.limit..]);
            return;
        }
        self.kept.extend_from_slice(bytes);
        let excess = self.kept.len().saturating_sub(self.limit);
        if excess > 0 {
            self.kept.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// The bytes kept (at most the limit).
    pub fn kept(&self) -> &[u8] {
        &self.kept
    }

    /// How many bytes were dropped from the front.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The kept bytes as text (invalid UTF-8 replaced; a character cut by the limit left out), after a line
    /// saying how much was dropped, if anything was.
    pub fn render(&self) -> String {
        let mut bytes = self.kept.as_slice();
        let mut dropped = self.dropped;
        if dropped > 0 {
            // Skip the continuation bytes of a character whose start was dropped.
            let cut = bytes.iter().take(3).take_while(|byte| (**byte & 0b1100_0000) == 0b1000_0000).count();
            bytes = &bytes[cut..];
            dropped += cut as u64;
        }
        let text = String::from_utf8_lossy(bytes);
        match dropped {
            0 => text.into_owned(),
            dropped => format!("[{dropped} earlier bytes dropped]\n{text}"),
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// It exited with this status code.
    Exited(i32),
    /// A signal ended it (its number).
    Signalled(i32),
    /// It was still running at its timeout and was killed.
    TimedOut,
}

impl CommandOutcome {
    fn of(status: ExitStatus) -> CommandOutcome {
        if let Some(code) = status.code() {
            return CommandOutcome::Exited(code);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            CommandOutcome::Signalled(status.signal().unwrap_or_default())
        }
        #[cfg(not(unix))]
        CommandOutcome::Signalled(0)
    }
}

/// The command as reports name it: `command <name>` or the command line.
fn subject(gate: &CommandGate) -> String {
    match &gate.name {
        Some(name) => format!("command {name}"),
        None => format!("command `{}`", gate.command.join(" ")),
    }
}

/// Judges how a command ended: exit status 0 passes; anything else fails on `exit status`, and a command
/// still running at its timeout fails on `timeout`. The output's tail is part of the verdict either way.
pub fn judge_command(
    gate: &CommandGate,
    outcome: CommandOutcome,
    elapsed: Duration,
    output: &OutputTail,
) -> GateVerdict {
    let subject = subject(gate);
    let output = match output.kept().is_empty() && output.dropped() == 0 {
        true => "no output".to_owned(),
        false => format!("output:\n{}", output.render()),
    };
    let took = format!("{:.1}s", elapsed.as_secs_f64());
    match outcome {
        CommandOutcome::Exited(0) => {
            GateVerdict::Passed { evidence: format!("{subject}: exited 0 after {took}; {output}") }
        }
        CommandOutcome::Exited(code) => {
            GateFailure::new(subject, "exit status", format!("is {code}, must be 0 (after {took}); {output}")).into()
        }
        CommandOutcome::Signalled(signal) => {
            let reason = format!("is killed by signal {signal}, must be 0 (after {took}); {output}");
            GateFailure::new(subject, "exit status", reason).into()
        }
        CommandOutcome::TimedOut => {
            let reason = format!("{} passed with the command still running: killed; {output}", gate.timeout);
            GateFailure::new(subject, "timeout", reason).into()
        }
    }
}

/// A child process that is killed (and reaped) if it is dropped while still running, so a cancelled
/// evaluation leaves no process behind.
struct KillOnDrop {
    child: Child,
    reaped: bool,
}

impl KillOnDrop {
    fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        let status = self.child.try_wait()?;
        self.reaped |= status.is_some();
        Ok(status)
    }

    fn kill(&mut self) {
        // Fails only when it has exited meanwhile; either way it is reaped below.
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
        }
    }
}

/// Runs the gate's command and judges how it ended.
pub(super) async fn evaluate(gate: &CommandGate, ctx: &GateContext) -> Result<GateVerdict, GateError> {
    let (program, args) = gate.command.split_first().ok_or(GateError::EmptyCommand)?;
    let line = gate.command.join(" ");
    let spawn_error = |source| GateError::Spawn { command: line.clone(), source };
    let working_dir = match &gate.working_dir {
        Some(dir) => ctx.base_dir.join(dir),
        None => ctx.base_dir.clone(),
    };

    // One pipe for stdout and stderr, so the output interleaves as the command wrote it.
    let (mut reader, writer) = std::io::pipe().map_err(spawn_error)?;
    let mut command = std::process::Command::new(program);
    command.args(args).current_dir(&working_dir).stdin(Stdio::null());
    command.stdout(writer.try_clone().map_err(spawn_error)?).stderr(writer);
    let started = Instant::now();
    let child = command.spawn().map_err(spawn_error)?;
    // The Command holds this side's copies of the write end: close them, so the output ends when the
    // command's own copies close.
    drop(command);
    let mut child = KillOnDrop { child, reaped: false };

    let tail = Arc::new(Mutex::new(OutputTail::new(COMMAND_OUTPUT_LIMIT)));
    let (done, output_ended) = tokio::sync::oneshot::channel::<()>();
    let sink = Arc::clone(&tail);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => sink.lock().unwrap_or_else(PoisonError::into_inner).push(&buffer[..n]),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });

    // None only for a timeout past the clock's range (the plan file's limits keep it to days): no deadline.
    let deadline = started.checked_add(gate.timeout.to_std());
    let outcome = loop {
        match child.try_wait() {
            Ok(Some(status)) => break CommandOutcome::of(status),
            Ok(None) => {}
            Err(source) => return Err(GateError::Wait { command: line, source }),
        }
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            child.kill();
            break CommandOutcome::TimedOut;
        }
        let left = deadline.map_or(POLL_INTERVAL, |deadline| deadline.saturating_duration_since(now));
        tokio::time::sleep(POLL_INTERVAL.min(left)).await;
    };
    let elapsed = started.elapsed();
    // A process the command left running may hold the pipe open: wait for the output's end only until the
    // deadline (or a short grace after a timeout).
    let grace =
        deadline.map_or(OUTPUT_GRACE, |deadline| deadline.saturating_duration_since(Instant::now())).max(OUTPUT_GRACE);
    let _ = tokio::time::timeout(grace, output_ended).await;
    let output = tail.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(judge_command(gate, outcome, elapsed, &output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::file::Duration as PlanDuration;

    fn gate(argv: &[&str], timeout: &str) -> CommandGate {
        CommandGate {
            name: None,
            command: argv.iter().map(|s| s.to_string()).collect(),
            working_dir: None,
            timeout: PlanDuration::parse(timeout).unwrap(),
        }
    }

    fn ctx() -> GateContext {
        GateContext {
            now: jiff::Timestamp::now(),
            upgrade_window: Duration::from_secs(60),
            base_dir: std::env::temp_dir(),
        }
    }

    #[test]
    fn the_tail_keeps_the_last_bytes() {
        let mut tail = OutputTail::new(8);
        tail.push(b"abc");
        tail.push(b"def");
        assert_eq!((tail.kept(), tail.dropped()), (&b"abcdef"[..], 0));
        assert_eq!(tail.render(), "abcdef");
        tail.push(b"ghij");
        assert_eq!((tail.kept(), tail.dropped()), (&b"cdefghij"[..], 2));
        tail.push(b"0123456789");
        assert_eq!((tail.kept(), tail.dropped()), (&b"23456789"[..], 12));
        assert_eq!(tail.render(), "[12 earlier bytes dropped]\n23456789");
    }

    #[test]
    fn the_tail_does_not_start_inside_a_character() {
        let mut tail = OutputTail::new(5);
        tail.push("aé€x".as_bytes()); // a, é (2 bytes), € (3 bytes), x: 7 bytes; the last 5 start inside é
        assert_eq!(tail.kept().len(), 5);
        assert_eq!(tail.render(), "[3 earlier bytes dropped]\n€x");
    }

    #[test]
    fn exit_zero_passes_and_other_ends_fail() {
        let gate = gate(&["check"], "1m");
        let mut output = OutputTail::new(64);
        let took = Duration::from_millis(1200);
        let verdict = judge_command(&gate, CommandOutcome::Exited(0), took, &output);
        assert_eq!(verdict, GateVerdict::Passed { evidence: "command `check`: exited 0 after 1.2s; no output".into() });
        output.push(b"backup is 3 days old\n");
        let failure = judge_command(&gate, CommandOutcome::Exited(2), took, &output).failure().cloned().unwrap();
        assert_eq!(failure.subject, "command `check`");
        assert_eq!(failure.field, "exit status");
        assert_eq!(failure.reason, "is 2, must be 0 (after 1.2s); output:\nbackup is 3 days old\n");
        let killed = judge_command(&gate, CommandOutcome::Signalled(9), took, &output).failure().cloned().unwrap();
        assert_eq!(killed.field, "exit status");
        assert!(killed.reason.starts_with("is killed by signal 9"), "{killed:?}");
        let late = judge_command(&gate, CommandOutcome::TimedOut, took, &output).failure().cloned().unwrap();
        assert_eq!(late.field, "timeout");
        assert!(late.reason.starts_with("1m passed with the command still running: killed"), "{late:?}");
    }

    #[tokio::test]
    async fn a_command_exiting_zero_passes_with_its_output() {
        let verdict = evaluate(&gate(&["sh", "-c", "echo out; echo err >&2"], "10s"), &ctx()).await.unwrap();
        let GateVerdict::Passed { evidence } = verdict else { panic!("{verdict:?}") };
        assert!(evidence.ends_with("output:\nout\nerr\n"), "{evidence}");
    }

    #[tokio::test]
    async fn a_non_zero_exit_fails_on_exit_status() {
        let verdict = evaluate(&gate(&["sh", "-c", "echo no backup today; exit 3"], "10s"), &ctx()).await.unwrap();
        let failure = verdict.failure().unwrap();
        assert_eq!(failure.field, "exit status");
        assert!(failure.reason.starts_with("is 3, must be 0"), "{failure:?}");
        assert!(failure.reason.ends_with("output:\nno backup today\n"), "{failure:?}");
    }

    #[tokio::test]
    async fn a_command_running_past_its_timeout_is_killed_and_fails() {
        let started = std::time::Instant::now();
        let verdict = evaluate(&gate(&["sleep", "5"], "200ms"), &ctx()).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
        let failure = verdict.failure().unwrap();
        assert_eq!(failure.field, "timeout");
        assert!(failure.reason.starts_with("200ms passed with the command still running: killed"), "{failure:?}");
    }

    #[tokio::test]
    async fn long_output_is_cut_to_its_last_bytes() {
        let script = "printf start; head -c 40000 /dev/zero | tr '\\0' x; printf end";
        let verdict = evaluate(&gate(&["sh", "-c", script], "10s"), &ctx()).await.unwrap();
        let GateVerdict::Passed { evidence } = verdict else { panic!("{verdict:?}") };
        let output = evidence.split_once("output:\n").unwrap().1;
        let (note, text) = output.split_once('\n').unwrap();
        assert_eq!(note, format!("[{} earlier bytes dropped]", 40008 - COMMAND_OUTPUT_LIMIT));
        assert_eq!(text.len(), COMMAND_OUTPUT_LIMIT);
        assert!(text.ends_with("xxend") && !text.contains("start"));
    }

    #[tokio::test]
    async fn the_working_dir_is_relative_to_the_plan_directory() {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("checks")).unwrap();
        std::fs::write(base.path().join("checks/marker"), "").unwrap();
        let mut in_checks = gate(&["test", "-e", "marker"], "10s");
        in_checks.working_dir = Some("checks".into());
        let ctx = GateContext { base_dir: base.path().to_owned(), ..ctx() };
        assert!(evaluate(&in_checks, &ctx).await.unwrap().passed());
        assert!(!evaluate(&gate(&["test", "-e", "marker"], "10s"), &ctx).await.unwrap().passed());
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_not_a_verdict() {
        let error = evaluate(&gate(&["/no/such/program"], "10s"), &ctx()).await.unwrap_err();
        assert!(matches!(error, GateError::Spawn { .. }), "{error:?}");
        assert!(matches!(evaluate(&gate(&[], "10s"), &ctx()).await, Err(GateError::EmptyCommand)));
    }
}
