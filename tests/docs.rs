//! The documentation cannot go stale: the reference pages generated from the code match it, the README stays
//! short, every link between the pages resolves, and every shell command the README and `docs/` show is
//! checked.
//!
//! A fenced shell block (`sh`, `bash`, `shell`) says in its info string what is done with it:
//! - `sh test`: run, from a scratch copy of the repository's layout (the repository's files linked in, with
//!   `../shared` beside it when it exists), by `bash -e -o pipefail`, with the binaries first on `PATH`; its
//!   exit status must be 0, or N with `exit=N`. The blocks of one page run in order and share the scratch
//!   directory, so a block can use what an earlier one wrote.
//! - `sh test background`: started and left running (a simulator) until the page's blocks are done; it must
//!   print a first line on stdout and keep running.
//! - `corpus`: needs `../shared/corpus` (skipped with a message without it); `kubectl`: needs `kubectl` on
//!   `PATH` (skipped with a message without it); `helm`: needs helm 4 (`OPERATOR_UPGRADE_HELM`, which
//!   `controlplane/build-helm.sh` builds, put on `PATH`; skipped with a message without it).
//! - `sh cluster`: needs a real cluster (or Docker), so it is not run; `sh cargo`: builds or tests this
//!   project (cargo, `controlplane/run.sh`), not run here (the demo has `tests/demo.rs`).
//!
//! In every block, run or not, each `operator-upgrade` command (also as `kubectl operator-upgrade` and
//! `cargo run -- ...`) must parse with the real command line, and a script it names must exist.

use clap::Parser;
use operator_upgrade::cli::{reference_pages, stale_message, stale_pages, Cli};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The README's length limit: what a newcomer reads in five minutes.
const README_MAX_LINES: usize = 200;

/// How long one block may run; the whole test is meant to take well under a minute.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a background block has to print its first line.
const BACKGROUND_READY: Duration = Duration::from_secs(30);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> PathBuf {
    root().join("../shared/corpus")
}

/// The Markdown pages whose shell blocks and links are checked: the README, everything under `docs/`, and
/// the examples' READMEs.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, into);
            } else if path.extension().is_some_and(|e| e == "md") {
                into.push(path);
            }
        }
    }
    let mut pages = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut pages);
    walk(&root().join("examples"), &mut pages);
    pages.sort();
    pages
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

// ---- generated pages ----

#[test]
fn the_generated_reference_pages_are_current() {
    let pages = reference_pages(&root().join("tests/fixtures")).expect("the reference pages generate");
    let dir = root().join("docs/reference");
    let problems: Vec<String> = stale_pages(&dir, &pages)
        .expect("the reference directory reads")
        .into_iter()
        .map(|p| p.replace(&format!("{}/", root().display()), ""))
        .collect();
    assert!(problems.is_empty(), "{}", stale_message(&problems));
}

// ---- the README ----

#[test]
fn the_readme_is_read_in_five_minutes() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; at most {README_MAX_LINES}: move detail into docs/"
    );
}

// ---- fenced blocks ----

/// What a shell block's info string asks for.
#[derive(Debug, Default, Clone, PartialEq)]
struct Markers {
    run: bool,
    exit: i32,
    background: bool,
    corpus: bool,
    kubectl: bool,
    helm: bool,
    cluster: bool,
    cargo: bool,
}

fn parse_markers(words: &[&str]) -> Result<Markers, String> {
    let mut markers = Markers::default();
    for word in words {
        match *word {
            "test" => markers.run = true,
            "background" => markers.background = true,
            "corpus" => markers.corpus = true,
            "kubectl" => markers.kubectl = true,
            "helm" => markers.helm = true,
            "cluster" => markers.cluster = true,
            "cargo" => markers.cargo = true,
            other => match other.strip_prefix("exit=").map(str::parse) {
                Some(Ok(code)) => markers.exit = code,
                _ => return Err(format!("unknown marker `{other}`")),
            },
        }
    }
    let kinds = [markers.run, markers.cluster, markers.cargo].iter().filter(|k| **k).count();
    if kinds != 1 {
        return Err("a shell block says exactly one of `test`, `cluster` (needs a real cluster) or `cargo`".into());
    }
    if !markers.run && (markers.background || markers.exit != 0 || markers.corpus || markers.kubectl || markers.helm) {
        return Err("`background`, `exit=N`, `corpus`, `kubectl` and `helm` only go with `test`".into());
    }
    Ok(markers)
}

/// One fenced shell block.
#[derive(Debug, Clone)]
struct Block {
    page: PathBuf,
    /// The line of the opening fence.
    line: usize,
    markers: Markers,
    script: String,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", relative(&self.page), self.line)
    }
}

const SHELLS: &[&str] = &["sh", "bash", "shell"];

/// The shell blocks of a page, and the problems with their info strings.
fn shell_blocks(page: &Path) -> (Vec<Block>, Vec<String>) {
    let text = std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let (mut blocks, mut problems) = (Vec::new(), Vec::new());
    let mut open: Option<(usize, String, Vec<&str>)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let words: Vec<String> = info.split_whitespace().map(str::to_owned).collect();
                    open = Some((index + 1, words.join(" "), Vec::new()));
                }
            }
            Some((start, info, body)) => {
                if trimmed.starts_with("```") {
                    let words: Vec<&str> = info.split_whitespace().collect();
                    if words.first().is_some_and(|w| SHELLS.contains(w)) {
                        let at = format!("{}:{start}", relative(page));
                        match parse_markers(&words[1..]) {
                            Ok(markers) => blocks.push(Block {
                                page: page.to_owned(),
                                line: *start,
                                markers,
                                script: body.join("\n") + "\n",
                            }),
                            Err(problem) => problems.push(format!("{at}: ```{info}: {problem}")),
                        }
                    }
                    open = None;
                } else {
                    body.push(line);
                }
            }
        }
    }
    (blocks, problems)
}

/// The commands of a script: continuation lines joined, heredoc bodies and comments left out, and each
/// line split at `|`, `&&`, `||` and `;` (outside quotes) into words.
fn commands(script: &str) -> Vec<Vec<String>> {
    let mut joined = Vec::new();
    let mut current = String::new();
    let mut heredoc_end: Option<String> = None;
    for line in script.lines() {
        if let Some(end) = &heredoc_end {
            if line.trim() == end {
                heredoc_end = None;
            }
            continue;
        }
        if let Some(rest) = line.split("<<").nth(1) {
            let word = rest.trim_start_matches('-').split_whitespace().next().unwrap_or_default();
            heredoc_end = Some(word.trim_matches(|c| c == '\'' || c == '"').to_owned());
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined.iter().flat_map(|line| split_line(line)).filter(|words| !words.is_empty()).collect()
}

/// Shell words of one line, as separate commands at `|`, `&&`, `||` and `;`; a `#` comment ends the line,
/// and a redirection (`>`, `<`, `2>`) with its target is dropped.
fn split_line(line: &str) -> Vec<Vec<String>> {
    let (mut commands, mut words, mut word) = (Vec::new(), Vec::new(), String::new());
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    let mut skip_next_word = false;
    let finish = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>, skip: &mut bool| {
        if *in_word {
            if *skip {
                *skip = false;
            } else {
                words.push(std::mem::take(word));
            }
            word.clear();
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else {
                word.push(c);
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                in_word = true;
            }
            '#' if !in_word => break,
            ' ' | '\t' => finish(&mut word, &mut in_word, &mut words, &mut skip_next_word),
            '|' | ';' | '&' => {
                finish(&mut word, &mut in_word, &mut words, &mut skip_next_word);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                commands.push(std::mem::take(&mut words));
            }
            '>' | '<' => {
                // `2>` names a descriptor, not a word.
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                finish(&mut word, &mut in_word, &mut words, &mut skip_next_word);
                if chars.peek() == Some(&c) || chars.peek() == Some(&'&') {
                    chars.next();
                }
                skip_next_word = true;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    finish(&mut word, &mut in_word, &mut words, &mut skip_next_word);
    commands.push(words);
    commands
}

/// `NAME=value` before a command sets its environment; it is not the command.
fn is_assignment(word: &str) -> bool {
    word.contains('=') && !word.starts_with('-')
}

/// The arguments of the tool in a command: after `operator-upgrade`, `kubectl operator-upgrade` or
/// `cargo run [--release] --`.
fn tool_arguments(words: &[String]) -> Option<Vec<String>> {
    let words: Vec<&str> = words.iter().map(String::as_str).skip_while(|w| is_assignment(w)).collect();
    match words.as_slice() {
        ["operator-upgrade", rest @ ..] | ["kubectl", "operator-upgrade", rest @ ..] => {
            Some(rest.iter().map(|w| w.to_string()).collect())
        }
        ["cargo", "run", rest @ ..] => {
            let position = rest.iter().position(|w| *w == "--")?;
            Some(rest[position + 1..].iter().map(|w| w.to_string()).collect())
        }
        _ => None,
    }
}

/// Each `operator-upgrade` command in the block parses, and a script it runs by path exists.
fn check_commands(block: &Block) -> Vec<String> {
    let mut problems = Vec::new();
    for words in commands(&block.script) {
        let first = words.iter().find(|w| !is_assignment(w)).cloned().unwrap_or_default();
        if first.contains('/') && !first.starts_with('/') && !first.starts_with('$') && !root().join(&first).exists() {
            problems.push(format!("{}: `{first}` does not exist in the repository", block.at()));
        }
        let Some(arguments) = tool_arguments(&words) else { continue };
        let argv = std::iter::once("operator-upgrade".to_owned()).chain(arguments);
        if let Err(error) = Cli::try_parse_from(argv) {
            if !matches!(error.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) {
                let first_line = error.to_string().lines().next().unwrap_or_default().to_owned();
                problems.push(format!("{}: `{}` does not parse: {first_line}", block.at(), words.join(" ")));
            }
        }
    }
    if block.markers.cargo {
        for words in commands(&block.script) {
            if words.first().map(String::as_str) == Some("cargo")
                && words.get(1).map(String::as_str) == Some("run")
                && tool_arguments(&words).is_some_and(|a| a.first().map(String::as_str) == Some("demo"))
                && !root().join("tests/demo.rs").exists()
            {
                problems.push(format!("{}: the demo is shown but tests/demo.rs, which runs it, is gone", block.at()));
            }
        }
    }
    problems
}

#[test]
fn every_shell_block_is_marked_and_its_commands_parse() {
    let mut problems = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for page in pages() {
        let (blocks, marker_problems) = shell_blocks(&page);
        problems.extend(marker_problems);
        for block in &blocks {
            let kind = match (&block.markers.run, &block.markers.cluster) {
                (true, _) => "run",
                (_, true) => "need a real cluster",
                _ => "cargo",
            };
            *counts.entry(kind).or_default() += 1;
            problems.extend(check_commands(block));
        }
    }
    eprintln!("shell blocks: {counts:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_command_splitter_reads_what_the_docs_write() {
    let script = "a=1 operator-upgrade plan -f p.yaml | head -3 && echo done # comment\n\
                  operator-upgrade rbac -f p.yaml \\\n  --service-account ns/sa > rbac.yaml 2>&1\n\
                  cat > plan.yaml <<'EOF'\noperator-upgrade not a command\nEOF\n";
    let found = commands(script);
    assert_eq!(
        found,
        [
            vec!["a=1", "operator-upgrade", "plan", "-f", "p.yaml"],
            vec!["head", "-3"],
            vec!["echo", "done"],
            vec!["operator-upgrade", "rbac", "-f", "p.yaml", "--service-account", "ns/sa"],
            vec!["cat"],
        ]
    );
    assert_eq!(tool_arguments(&found[0]), Some(vec!["plan".into(), "-f".into(), "p.yaml".into()]));
    let cargo: Vec<String> = ["cargo", "run", "--release", "--", "demo"].map(String::from).to_vec();
    assert_eq!(tool_arguments(&cargo), Some(vec!["demo".into()]));
}

#[test]
fn markers_are_strict() {
    assert_eq!(parse_markers(&["test", "exit=3"]).unwrap(), Markers { run: true, exit: 3, ..Markers::default() });
    assert!(parse_markers(&[]).is_err(), "an unmarked shell block is an error");
    assert!(parse_markers(&["tset"]).is_err());
    assert!(parse_markers(&["cluster", "exit=1"]).is_err());
}

// ---- running the blocks ----

/// A page's scratch directory: `work/` holds a link to each top-level entry of the repository and is where
/// the blocks run; `shared` beside it links to the project's shared folder, so `../shared/corpus` resolves.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    for entry in std::fs::read_dir(root()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), work.join(&name)).unwrap();
    }
    let shared = root().join("../shared");
    if shared.exists() {
        std::os::unix::fs::symlink(shared, dir.path().join("shared")).unwrap();
    }
    dir
}

fn shell(block: &Block, work: &Path, home: &Path) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_operator-upgrade")).parent().unwrap();
    // helm from controlplane/build-helm.sh, for `helm` blocks.
    let helm_dir = helm().and_then(|helm| helm.parent().map(Path::to_owned));
    let path = std::env::join_paths(
        std::iter::once(bin.to_owned())
            .chain(helm_dir)
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut command = Command::new("bash");
    command
        .args(["-e", "-o", "pipefail", "-c", &block.script])
        .current_dir(work)
        .env("PATH", path)
        // A block reaches only the clusters it names: never one of the machine's own kubeconfig.
        .env_remove("KUBECONFIG")
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    // Its own process group, so a background block and whatever it started stop together.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    command
}

/// Background blocks of a page, stopped (their whole process group) when the page is done or fails.
struct Background(Vec<Child>);

impl Drop for Background {
    fn drop(&mut self) {
        for child in &mut self.0 {
            unsafe {
                libc::killpg(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }
}

/// The helm `controlplane/build-helm.sh` built, as `controlplane/run.sh` and `.ci/run` pass it.
fn helm() -> Option<PathBuf> {
    std::env::var_os("OPERATOR_UPGRADE_HELM").map(PathBuf::from).filter(|path| path.is_file())
}

fn on_path(program: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|dir| dir.join(program).is_file())
}

/// Why a block is skipped on this machine, if it is.
fn skip_reason(block: &Block) -> Option<String> {
    if block.markers.corpus && !corpus().exists() {
        return Some(format!("skipped {}: ../shared/corpus not found beside the project", block.at()));
    }
    if block.markers.kubectl && !on_path("kubectl") {
        return Some(format!("skipped {}: kubectl is not on PATH", block.at()));
    }
    if block.markers.helm && helm().is_none() && !on_path("helm") {
        return Some(format!(
            "skipped {}: no helm; run `controlplane/run.sh cargo test` (it builds helm with controlplane/build-helm.sh)",
            block.at()
        ));
    }
    None
}

/// Runs a page's blocks in order; returns what went wrong.
fn run_page(blocks: &[Block]) -> Vec<String> {
    let dir = scratch();
    let work = dir.path().join("work");
    let mut background = Background(Vec::new());
    let mut problems = Vec::new();
    for block in blocks.iter().filter(|b| b.markers.run) {
        if let Some(reason) = skip_reason(block) {
            eprintln!("{reason}");
            continue;
        }
        let started = Instant::now();
        let outcome = if block.markers.background {
            start_background(block, &work, dir.path())
        } else {
            run_block(block, &work, dir.path())
        };
        match outcome {
            Ok(Some(child)) => background.0.push(child),
            Ok(None) => {}
            Err(problem) => {
                problems.push(format!("{}: {problem}\n--- the block ---\n{}", block.at(), block.script));
                // Later blocks of the page build on this one.
                break;
            }
        }
        eprintln!("ran {} in {:.1}s", block.at(), started.elapsed().as_secs_f64());
    }
    problems
}

fn start_background(block: &Block, work: &Path, home: &Path) -> Result<Option<Child>, String> {
    let mut child = shell(block, work, home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start bash: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = sender.send(first);
        // Keep draining, so the process never blocks on a full pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let first = receiver.recv_timeout(BACKGROUND_READY).unwrap_or_default();
    let still_running = matches!(child.try_wait(), Ok(None));
    if first.is_empty() || !still_running {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            if !still_running {
                let _ = pipe.read_to_string(&mut stderr);
            }
        }
        unsafe {
            libc::killpg(child.id() as i32, libc::SIGTERM);
        }
        let _ = child.wait();
        return Err(format!("the background block did not start (first line {first:?})\n{stderr}"));
    }
    Ok(Some(child))
}

fn run_block(block: &Block, work: &Path, home: &Path) -> Result<Option<Child>, String> {
    let mut child = shell(block, work, home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start bash: {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + BLOCK_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    let Some(status) = status else {
        unsafe {
            libc::killpg(child.id() as i32, libc::SIGKILL);
        }
        let _ = child.wait();
        return Err(format!("did not finish within {}s", BLOCK_TIMEOUT.as_secs()));
    };
    let (stdout, stderr) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    let code = status.code().unwrap_or(-1);
    if code != block.markers.exit {
        let tail = |text: &str| {
            text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        return Err(format!(
            "exited {code}, the page says {}\n--- stdout (last lines) ---\n{}\n--- stderr (last lines) ---\n{}",
            block.markers.exit,
            tail(&stdout),
            tail(&stderr)
        ));
    }
    Ok(None)
}

#[test]
fn every_shell_block_marked_test_runs_with_its_exit_code() {
    let started = Instant::now();
    let pages: Vec<Vec<Block>> =
        pages().iter().map(|p| shell_blocks(p).0).filter(|blocks| blocks.iter().any(|b| b.markers.run)).collect();
    assert!(!pages.is_empty(), "no page has a block marked `test`");
    // Pages are independent (each its own scratch directory and simulators), so they run side by side.
    let problems: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = pages.iter().map(|blocks| scope.spawn(|| run_page(blocks))).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a page's runner")).collect()
    });
    eprintln!("ran every page's blocks in {:.1}s", started.elapsed().as_secs_f64());
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// ---- links ----

/// GitHub's anchors for a page's headings (`## The plan file` -> `the-plan-file`; repeats get `-1`, `-2`).
fn anchors(text: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let Some(heading) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) else { continue };
        if in_code || !heading.starts_with(' ') {
            continue;
        }
        let slug = operator_upgrade::cli::anchor(heading.trim());
        let count = seen.entry(slug.clone()).or_default();
        anchors.push(if *count == 0 { slug.clone() } else { format!("{slug}-{count}") });
        *count += 1;
    }
    anchors
}

/// The targets of the inline links of a page outside code, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_code = false;
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let prose = without_code_spans(line);
        let mut rest = prose.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            found.push((index + 1, after[..end].to_owned()));
            rest = &after[end..];
        }
    }
    found
}

/// A line without its inline code spans (which may hold `](`): a run of N backticks opens a span that the
/// next run of exactly N backticks closes, as in CommonMark.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let (mut out, mut i) = (String::new(), 0);
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        let mut j = i + run;
        let mut closed = None;
        while j < chars.len() {
            let other = chars[j..].iter().take_while(|c| **c == '`').count();
            if other == run {
                closed = Some(j + other);
                break;
            }
            j += other.max(1);
        }
        match closed {
            Some(end) => {
                out.push(' ');
                i = end;
            }
            None => {
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut problems = Vec::new();
    let mut anchor_cache: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            let at = format!("{}:{line}", relative(&page));
            let normalised = normalise(&path);
            if !normalised.starts_with(root()) {
                problems.push(format!("{at}: {target} leaves the repository (it would not resolve on GitHub)"));
                continue;
            }
            if !path.exists() {
                problems.push(format!("{at}: {target} does not exist"));
                continue;
            }
            if let Some(anchor) = anchor.filter(|_| path.extension().is_some_and(|e| e == "md")) {
                let known = anchor_cache
                    .entry(normalised.clone())
                    .or_insert_with(|| anchors(&std::fs::read_to_string(&path).unwrap_or_default()));
                if !known.iter().any(|a| a == anchor) {
                    problems.push(format!("{at}: {target}: no heading has the anchor #{anchor}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `a/b/../c` as `a/c`, without touching the file system (links may point at directories).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn anchors_and_links_are_read_as_github_does() {
    let page = "# Title\n## The `plan` file\n## Steps\n## Steps\n```sh\n# not a heading\n```\n";
    assert_eq!(anchors(page), ["title", "the-plan-file", "steps", "steps-1"]);
    let text = "see [a](docs/a.md#x) and `[b](not-a-link)` and [c](#steps)\n```\n[d](in-code)\n```\n";
    assert_eq!(links(text), [(1, "docs/a.md#x".to_owned()), (1, "#steps".to_owned())]);
    assert_eq!(without_code_spans("a ```` ```sh [x](y) ```` b [c](d) `e"), "a   b [c](d) `e");
}
