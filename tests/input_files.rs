//! The input files (plan, fleet, rehearsal evidence, scenario) as the binary reads them: a FIFO, a device, an
//! oversized file or one that is not UTF-8 is bad input (exit 2, the file named) at once, wherever the file is
//! given; and a seeded mutation test over every kind: mutated files never panic, never hang, and either load or
//! are refused naming the file.
//!
//! The mutation test runs `OPERATOR_UPGRADE_FUZZ_CASES` cases (default 300, spread over the four kinds) from
//! the seed `OPERATOR_UPGRADE_FUZZ_SEED` (default fixed, so a run is reproducible); a failure prints each failing
//! case's own seed, which replays it alone with `OPERATOR_UPGRADE_FUZZ_CASES=1`.

use operator_upgrade::engine::rehearsal::Evidence;
use operator_upgrade::sim::Scenario;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Long enough for a debug build on a busy machine; a FIFO read would block forever.
const TIMEOUT: Duration = Duration::from_secs(30);

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-operator").join(name)
}

/// The binary run with `args`, never near a cluster (no kubeconfig anywhere), killed after [`TIMEOUT`].
fn run(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_operator-upgrade"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("OPERATOR_UPGRADE_CRASH_AFTER_WRITE")
        .timeout(TIMEOUT)
        .output()
        .expect("the binary runs");
    (output, started.elapsed())
}

fn text_of(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A directory holding one good file of each kind: the demo's plan (its releases beside it), a fleet of it,
/// passing evidence and the demo's scenario.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        for release in ["v1.0.0", "v1.1.0"] {
            copy_dir(&example(release), &dir.path().join(release));
        }
        std::fs::copy(example("plan.yaml"), dir.path().join("plan.yaml")).unwrap();
        std::fs::write(dir.path().join("fleet.yaml"), fleet_text("plan.yaml")).unwrap();
        evidence().write(&dir.path().join("evidence.json")).unwrap();
        std::fs::copy(example("scenario.yaml"), dir.path().join("scenario.yaml")).unwrap();
        Workspace { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn text(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A fleet of three clusters none of which can be reached (their kubeconfigs do not exist).
fn fleet_text(plan: &str) -> String {
    format!(
        "apiVersion: operator-upgrade.dev/v1alpha1
kind: UpgradeFleet
metadata: {{name: demo}}
spec:
  plan: {plan}
  soak: 1m
  waves:
    - name: canary
      clusters: [{{name: staging, kubeconfig: staging.kubeconfig, kubeSystemUid: 11111111-1111-1111-1111-111111111111}}]
    - name: production
      maxParallel: 2
      clusters:
        - name: eu
          context: eu
          kubeSystemUid: 22222222-2222-2222-2222-222222222222
        - {{name: us, kubeconfig: us.kubeconfig, kubeSystemUid: 33333333-3333-3333-3333-333333333333}}
"
    )
}

/// Passing evidence with an analysis and a drill, so every part of the format is there to mutate.
fn evidence() -> Evidence {
    let reading = |signal: &str, value: f64| {
        serde_json::json!([{"signal": signal, "unit": "ratio", "canary": {"reading": "value", "value": value},
            "baseline": {"reading": "no-data"}, "max": 0.05, "tolerance": 0.01}, "pass"])
    };
    let phase = |phase: &str, analysis: serde_json::Value| {
        serde_json::json!({"phase": phase, "started": "2026-12-01T10:00:00Z", "ended": "2026-12-01T10:01:00Z",
            "seconds": 60.5, "verdict": "passed", "outcome": format!("done: {phase}"), "exitCode": 0,
            "analysis": analysis})
    };
    let analysis = serde_json::json!({
        "intervals": [
            {"index": 1, "atSeconds": 10, "signals": [reading("conditions", 0.0), reading("metric errors", 0.01)], "tookMs": 3},
            {"index": 2, "atSeconds": 20, "signals": [reading("conditions", 0.0)]}
        ],
        "decision": {"decision": "pass"}
    });
    serde_json::from_value(serde_json::json!({
        "apiVersion": "operator-upgrade.dev/v1alpha1",
        "kind": "RehearsalEvidence",
        "plan": "demo-operator-v1-1",
        "planHash": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "cluster": {"kubeSystemUid": "99999999-9999-9999-9999-999999999999", "context": "staging"},
        "toolVersion": "0.1.0",
        "started": "2026-12-01T10:00:00Z",
        "ended": "2026-12-01T10:03:00Z",
        "phases": [phase("apply", analysis), phase("rollback-drill", serde_json::Value::Null)],
        "drill": {"restored": 3, "removed": 1, "checked": 4, "kept": ["CRD x: kept"], "differences": [],
            "unhealthy": [], "seconds": 12.25}
    }))
    .expect("the test's evidence is evidence")
}

/// Each way the tool is given one of the input files, as a command line with `FILE` where the file goes.
const PLACES: [(&str, &[&str]); 6] = [
    ("plan -f", &["plan", "-f", "FILE"]),
    ("sim --scenario", &["sim", "--scenario", "FILE"]),
    ("fleet -f", &["fleet", "-f", "FILE"]),
    ("the fleet's spec.plan", &["fleet", "-f", "FLEET_OF_FILE"]),
    ("apply --rehearsal", &["apply", "-f", "PLAN", "--rehearsal", "FILE"]),
    ("fleet --rehearsal", &["fleet", "-f", "FLEET", "--rehearsal", "FILE"]),
];

/// Runs the command of `place` with `file` in it; the exit code and everything printed.
fn run_at(workspace: &Workspace, place: &[&str], file: &Path) -> (Option<i32>, String) {
    let fleet_of_file = workspace.path("fleet-of-file.yaml");
    std::fs::write(&fleet_of_file, fleet_text(&file.display().to_string())).unwrap();
    let substitute = |arg: &&str| match *arg {
        "FILE" => file.display().to_string(),
        "FLEET_OF_FILE" => fleet_of_file.display().to_string(),
        "PLAN" => workspace.path("plan.yaml").display().to_string(),
        "FLEET" => workspace.path("fleet.yaml").display().to_string(),
        other => other.to_owned(),
    };
    let args: Vec<String> = place.iter().map(substitute).collect();
    let (output, elapsed) = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(elapsed < TIMEOUT, "{args:?} did not end within {TIMEOUT:?}");
    (output.status.code(), text_of(&output))
}

fn assert_refused_everywhere(workspace: &Workspace, file: &Path, why: &str) {
    for (name, place) in PLACES {
        let (code, text) = run_at(workspace, place, file);
        assert_eq!(code, Some(2), "{name} with {}: {text}", file.display());
        let named = format!("{}: ", file.display());
        assert!(text.contains(&named) && text.contains(why), "{name}: `{named}` and `{why}` in {text}");
        assert!(!text.contains("panicked"), "{name}: {text}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_at_once_wherever_a_file_is_given() {
    let workspace = Workspace::new();
    let fifo = workspace.path("input.yaml");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    assert_refused_everywhere(&workspace, &fifo, "is a FIFO (named pipe), not a regular file");
}

#[cfg(unix)]
#[test]
fn a_device_is_refused_without_reading_it() {
    let workspace = Workspace::new();
    assert_refused_everywhere(&workspace, Path::new("/dev/zero"), "is a character device, not a regular file");
}

#[test]
fn an_oversized_file_is_refused_with_its_size() {
    let workspace = Workspace::new();
    // Over every kind's cap (16 MiB for evidence), and not read to find out: only its size is looked at.
    let big = workspace.path("big.yaml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len((16 << 20) + 1).unwrap();
    assert_refused_everywhere(&workspace, &big, &format!("is {} bytes, over the ", (16 << 20) + 1));
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_the_line_of_the_bad_byte() {
    let workspace = Workspace::new();
    let binary = workspace.path("binary.yaml");
    std::fs::write(&binary, b"apiVersion: operator-upgrade.dev/v1alpha1\nkind: \xff\xfe\n").unwrap();
    let named = format!("{}:2:7: ", binary.display());
    for (name, place) in PLACES {
        let (code, text) = run_at(&workspace, place, &binary);
        assert_eq!(code, Some(2), "{name}: {text}");
        assert!(text.contains(&named) && text.contains("is not UTF-8 text"), "{name}: `{named}` in {text}");
    }
}

/// Release manifests and object exports are read whatever their size, but only from regular files.
#[cfg(unix)]
#[test]
fn a_release_manifest_or_objects_file_that_is_a_device_is_refused() {
    let workspace = Workspace::new();
    let (code, text) = run_at(&workspace, &["plan", "--from", "FILE", "--to", "FILE"], Path::new("/dev/zero"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("/dev/zero: the release manifest is a character device"), "{text}");
    let crds = workspace.path("v1.1.0");
    let crds = crds.to_str().unwrap();
    for extension in ["yaml", "json"] {
        // The objects readers pick their parser by the extension: a device with either is refused.
        let device = workspace.path(&format!("zero.{extension}"));
        std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
        let (code, text) = run_at(&workspace, &["validate", "--crds", crds, "--objects", "FILE"], &device);
        assert_eq!(code, Some(2), "{text}");
        let expected = format!("{}: the objects file is a character device", device.display());
        assert!(text.contains(&expected), "{expected} in {text}");
    }
}

#[test]
fn fleet_errors_name_the_file_and_line() {
    let workspace = Workspace::new();
    let fleet = workspace.path("broken-fleet.yaml");
    let text = fleet_text("plan.yaml").replace("maxParallel: 2", "maxParallel: 0").replace("context: eu", "tier: eu");
    std::fs::write(&fleet, text).unwrap();
    let (code, output) = run_at(&workspace, &["fleet", "-f", "FILE"], &fleet);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains(&format!("{}:14:11: ", fleet.display())) && output.contains("unknown key `tier`"),
        "{output}"
    );

    let text = fleet_text("plan.yaml").replace("maxParallel: 2", "maxParallel: 0");
    std::fs::write(&fleet, format!("{text}kind: UpgradeFleet\n")).unwrap();
    let (code, output) = run_at(&workspace, &["fleet", "-f", "FILE"], &fleet);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains(&format!("{}:17: duplicate field `kind`", fleet.display())), "{output}");

    std::fs::write(&fleet, text).unwrap();
    let (code, output) = run_at(&workspace, &["fleet", "-f", "FILE"], &fleet);
    assert_eq!(code, Some(2), "{output}");
    let expected = format!("{}:11: spec.waves[1].maxParallel: must be at least 1", fleet.display());
    assert!(output.contains(&expected), "{output}");
}

// ---- The seeded mutation test. ----

/// The kinds of input file, each with the cheapest way to load it that needs no cluster.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `plan -f` (offline: diffs the releases beside it).
    Plan,
    /// `fleet status -f`: reads the fleet and its plan; every cluster is unreachable.
    Fleet,
    /// `fleet -f FLEET --rehearsal FILE`: the evidence is read before any cluster; they are all unreachable, so
    /// the fleet stops (exit 5) when the evidence loads.
    Evidence,
    /// `Scenario::load` in this process (`sim --scenario` serves until Ctrl-C once the file loads).
    Scenario,
}

const KINDS: [Kind; 4] = [Kind::Plan, Kind::Fleet, Kind::Evidence, Kind::Scenario];

impl Kind {
    /// The workspace's good file of this kind, which each case mutates.
    fn base(self) -> &'static str {
        match self {
            Kind::Plan => "plan.yaml",
            Kind::Fleet => "fleet.yaml",
            Kind::Evidence => "evidence.json",
            Kind::Scenario => "scenario.yaml",
        }
    }

    /// Where the mutated file is written: beside the base, so its relative paths still resolve.
    fn case_file(self) -> &'static str {
        match self {
            Kind::Plan => "case-plan.yaml",
            Kind::Fleet => "case-fleet.yaml",
            Kind::Evidence => "case-evidence.json",
            Kind::Scenario => "case-scenario.yaml",
        }
    }

    /// The exit code of a file that loads.
    fn loaded_code(self) -> i32 {
        match self {
            Kind::Evidence => 5,
            Kind::Plan | Kind::Fleet | Kind::Scenario => 0,
        }
    }
}

/// Loads the file of `kind` at `file` as the tool would; Err says what is wrong with how that went.
fn load(kind: Kind, workspace: &Workspace, file: &Path) -> Result<(), String> {
    let file_text = file.display().to_string();
    let args: Vec<&str> = match kind {
        Kind::Plan => vec!["plan", "-f", &file_text, "--fail-on", "never", "--color", "never"],
        Kind::Fleet => vec!["fleet", "status", "-f", &file_text],
        Kind::Evidence => {
            let fleet = workspace.path("fleet.yaml");
            return judge_output(
                kind,
                workspace,
                run(&["fleet", "-f", fleet.to_str().unwrap(), "--rehearsal", &file_text]),
            );
        }
        Kind::Scenario => return load_scenario(file),
    };
    judge_output(kind, workspace, run(&args))
}

fn judge_output(kind: Kind, workspace: &Workspace, (output, elapsed): (Output, Duration)) -> Result<(), String> {
    let text = text_of(&output);
    let tail: String = text.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect();
    if let Some(at) = text.find("panicked") {
        return Err(text[at..].lines().take(3).collect::<Vec<_>>().join(" "));
    }
    match output.status.code() {
        None if elapsed >= TIMEOUT => Err(format!("hung: killed after {TIMEOUT:?}")),
        None => Err(format!("killed by a signal (a crash: stack overflow, abort): {tail}")),
        Some(code) if code == kind.loaded_code() => Ok(()),
        // Every file of the case is in the workspace: a refusal names the mutated one or one it points at.
        Some(2) if text.contains(&workspace.dir.path().display().to_string()) => Ok(()),
        Some(2) => Err(format!("bad input that names no file: {tail}")),
        Some(code) => Err(format!("exit {code}: {tail}")),
    }
}

fn load_scenario(file: &Path) -> Result<(), String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let path = file.to_owned();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(|| Scenario::load(&path).map(drop).map_err(|e| e.to_string()));
        let _ = sender.send(result.map_err(|panic| panic_text(panic.as_ref())));
    });
    match receiver.recv_timeout(TIMEOUT) {
        Err(_) => Err(format!("hung: no answer within {TIMEOUT:?}")),
        Ok(Err(panic)) => Err(format!("panicked: {panic}")),
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(message))) if message.contains(&file.display().to_string()) => Ok(()),
        Ok(Ok(Err(message))) => Err(format!("an error that names no file: {message}")),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Values a scalar is replaced with: other types, extremes, YAML's specials, nesting.
const VALUES: &[&str] = &[
    "~",
    "null",
    "true",
    "-1",
    "0",
    "-0.0",
    "4294967296",
    "18446744073709551616",
    "-9223372036854775809",
    "1e400",
    ".nan",
    "-.inf",
    "999999999999d",
    "2562047788015216h",
    "0.000000001s",
    "[]",
    "{}",
    "[1, [2, {a: b}]]",
    "{a: 1, b: [x]}",
    "\"\"",
    "''",
    "!!binary aGk=",
    "!Tag x",
    "&anchor x",
    "*undefined",
    "'\\u0000'",
    "\"\\0\"",
    "|\n  block",
    ">-",
    "\"a\\tb\"",
    "10%",
    "-",
    ": :",
    "# only a comment",
    "v999999999999999999999.0.0",
    "[*, *]",
];

/// Byte sequences that are not UTF-8 (or are, but no YAML or JSON parser wants them there).
const BAD_BYTES: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf8\x88\x80\x80\x80",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\t",
    b"\r",
];

fn lines_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

fn joined(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// Where a line's value starts: after its first `: `, else after a list dash.
fn value_start(line: &[u8]) -> Option<usize> {
    if let Some(colon) = line.windows(2).position(|w| w == b": ") {
        return Some(colon + 2);
    }
    let indent = line.iter().take_while(|&&b| b == b' ').count();
    line[indent..].starts_with(b"- ").then_some(indent + 2)
}

/// Replaces the value of a random line that has one (keeping a JSON line's trailing comma).
fn replace_value(rng: &mut fastrand::Rng, bytes: &[u8], value: &[u8]) -> Vec<u8> {
    let mut lines = lines_of(bytes);
    let with_values: Vec<usize> = (0..lines.len()).filter(|&i| value_start(&lines[i]).is_some()).collect();
    if with_values.is_empty() {
        return bytes.to_vec();
    }
    let index = with_values[rng.usize(..with_values.len())];
    let line = &lines[index];
    let start = value_start(line).unwrap_or(line.len());
    let comma = if line.ends_with(b",") { &b","[..] } else { &b""[..] };
    lines[index] = [&line[..start], value, comma].concat();
    joined(&lines)
}

/// A value of the same type as `value` at an extreme: a number, a duration, a boolean, a string.
fn extreme_like(rng: &mut fastrand::Rng, value: &str) -> String {
    let pick = |rng: &mut fastrand::Rng, choices: &[&str]| choices[rng.usize(..choices.len())].to_owned();
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let unit = value.trim_start_matches(|c: char| c.is_ascii_digit());
    if digits(value) {
        pick(rng, &["0", "1", "4294967295", "4294967296", "9223372036854775807", "18446744073709551615"])
    } else if value.parse::<f64>().is_ok() {
        pick(rng, &["0.0", "-0.5", "1.0000001", "1e308", "5e-324", "100.0"])
    } else if unit.len() < value.len() && ["ms", "s", "m", "h", "d"].contains(&unit) {
        pick(rng, &["0s", "1ms", "999999999999d", "18446744073709551615s", "2562047788015215h", "106751991167301d"])
    } else if value == "true" || value == "false" {
        if value == "true" { "false" } else { "true" }.to_owned()
    } else {
        let quote = if value.starts_with('"') { "\"" } else { "'" };
        let text = pick(rng, &["", " ", "ünïcødé 😀", "a b: c", "{cohortSelector}{leaseName}{unknown}", "-", "*"]);
        let long = "x".repeat(300);
        format!("{quote}{}{quote}", if rng.u8(..4) == 0 { &long } else { &text })
    }
}

/// Replaces a random line's value with an extreme of the same type, to get past parsing to the checks after.
fn extreme_value(rng: &mut fastrand::Rng, bytes: &[u8]) -> Vec<u8> {
    let mut lines = lines_of(bytes);
    let with_values: Vec<usize> = (0..lines.len()).filter(|&i| value_start(&lines[i]).is_some()).collect();
    if with_values.is_empty() {
        return bytes.to_vec();
    }
    let index = with_values[rng.usize(..with_values.len())];
    let line = String::from_utf8_lossy(&lines[index]).into_owned();
    let start = value_start(line.as_bytes()).unwrap_or(line.len());
    let (value, comma) = match line[start..].strip_suffix(',') {
        Some(value) => (value, ","),
        None => (&line[start..], ""),
    };
    lines[index] = format!("{}{}{comma}", &line[..start], extreme_like(rng, value)).into_bytes();
    joined(&lines)
}

/// Nesting `depth` deep, in YAML's flow style (which is JSON's too).
fn nested(rng: &mut fastrand::Rng) -> Vec<u8> {
    let depth = [20, 127, 129, 300, 20_000][rng.usize(..5)];
    if rng.bool() {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
    } else {
        format!("{}1{}", "{\"a\": ".repeat(depth), "}".repeat(depth)).into_bytes()
    }
}

/// One seeded mutation of `bytes`.
fn mutate_once(rng: &mut fastrand::Rng, bytes: &[u8]) -> Vec<u8> {
    let mut lines = lines_of(bytes);
    let line = rng.usize(..lines.len());
    match rng.u8(..15) {
        0 => {
            lines.remove(line);
            joined(&lines)
        }
        1 => {
            lines.insert(line, lines[line].clone());
            joined(&lines)
        }
        2 => {
            let other = rng.usize(..lines.len());
            lines.swap(line, other);
            joined(&lines)
        }
        3 | 4 => {
            let value = VALUES[rng.usize(..VALUES.len())];
            replace_value(rng, bytes, value.as_bytes())
        }
        5 => {
            let huge = ["9".repeat(400), format!("\"{}\"", "x".repeat(100_000)), "1".repeat(20)];
            let value = huge[rng.usize(..huge.len())].clone();
            replace_value(rng, bytes, value.as_bytes())
        }
        6 => bytes[..rng.usize(..=bytes.len())].to_vec(),
        7 => {
            let at = rng.usize(..=bytes.len());
            let bad = BAD_BYTES[rng.usize(..BAD_BYTES.len())];
            [&bytes[..at], bad, &bytes[at..]].concat()
        }
        8 => {
            let value = nested(rng);
            replace_value(rng, bytes, &value)
        }
        9 => {
            // Wrong indentation: more, less or a tab.
            let indent = lines[line].iter().take_while(|&&b| b == b' ').count();
            lines[line] = match rng.u8(..3) {
                0 => [b"   ".as_slice(), &lines[line]].concat(),
                1 => lines[line][indent.min(rng.usize(1..=2))..].to_vec(),
                _ => [b"\t".as_slice(), &lines[line][indent..]].concat(),
            };
            joined(&lines)
        }
        10 => {
            // A key the format does not have, at the indentation of a random line.
            let indent = lines[line].iter().take_while(|&&b| b == b' ').count();
            let key = if bytes.starts_with(b"{") { "\"unexpectedKey\": 1," } else { "unexpectedKey: 1" };
            lines.insert(line, format!("{}{key}", " ".repeat(indent)).into_bytes());
            joined(&lines)
        }
        12..=13 => extreme_value(rng, bytes),
        _ => match rng.u8(..5) {
            0 => bytes.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect(),
            1 => Vec::new(),
            2 => b"---\n".to_vec(),
            3 => b"[]\n".to_vec(),
            _ => [bytes, b"\n---\nkind: Other\n"].concat(),
        },
    }
}

/// The file of one case: 1 to 3 mutations of the base, all drawn from the case's seed. A third of the cases
/// only change values to extremes of their own type, so they parse and reach the checks after parsing.
fn mutated(seed: u64, base: &[u8]) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let typed_only = rng.u8(..3) == 0;
    let mut bytes = base.to_vec();
    for _ in 0..rng.usize(1..=3) {
        bytes = if typed_only { extreme_value(&mut rng, &bytes) } else { mutate_once(&mut rng, &bytes) };
        if bytes.is_empty() {
            break;
        }
    }
    bytes
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

#[test]
fn the_unmutated_files_load() {
    let workspace = Workspace::new();
    for kind in KINDS {
        let file = workspace.path(kind.case_file());
        std::fs::write(&file, workspace.text(kind.base())).unwrap();
        assert_eq!(load(kind, &workspace, &file), Ok(()), "{kind:?}: a mutation test whose base fails tests nothing");
    }
}

#[test]
fn mutated_input_files_never_panic_or_hang_and_are_loaded_or_refused_naming_the_file() {
    let first_seed = env_number("OPERATOR_UPGRADE_FUZZ_SEED", 0x5eed_0028);
    let cases = env_number("OPERATOR_UPGRADE_FUZZ_CASES", 300);
    let next = std::sync::atomic::AtomicU64::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let workspace = Workspace::new();
                loop {
                    let case = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if case >= cases {
                        break;
                    }
                    let seed = first_seed.wrapping_add(case);
                    let kind = KINDS[(seed % 4) as usize];
                    let input = mutated(seed, &workspace.text(kind.base()));
                    let file = workspace.path(kind.case_file());
                    std::fs::write(&file, &input).unwrap();
                    if let Err(why) = load(kind, &workspace, &file) {
                        let head = String::from_utf8_lossy(&input[..input.len().min(600)]).into_owned();
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("seed {seed} ({kind:?}): {why}\n  input begins: {head:?}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed (replay one with OPERATOR_UPGRADE_FUZZ_SEED=<seed> OPERATOR_UPGRADE_FUZZ_CASES=1):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
