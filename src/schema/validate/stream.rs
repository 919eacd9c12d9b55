//! Streaming objects from files into the [`Validator`], in parallel and in bounded memory.
//!
//! One reader thread splits each file into documents (YAML) and, for `List` documents as `kubectl get -o yaml`
//! and `-o json` write them, into one piece per item, so that neither a multi-document stream nor one huge `List`
//! is ever held whole. The pieces go in small batches through a bounded channel to one worker per core, which
//! parse them (YAML parsing is most of the cost) and validate the objects. Each worker keeps its own
//! [`ReportBuilder`]; they merge at the end, and findings are sorted, so the report does not depend on timing.
//!
//! Splitting relies on YAML's rule that a line starting with `---` (or `...`) always delimits documents, and on
//! the items of a top-level `items:` sequence starting at one indentation; anything the splitter does not
//! recognise is parsed as a whole document instead, so the split never changes what is read.

use super::fast_yaml;
use super::json_stream::read_json;
use super::report::{ReportBuilder, ValidationReport};
use super::split::read_yaml;
use super::spool::FindingSpool;
use super::Validator;
use crate::findings::SourceLocation;
use crate::manifest::{json_kind, DocumentRef, LoadError, SkippedDocument};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

/// Units per batch sent to a worker, and the text size that also closes a batch.
const BATCH_UNITS: usize = 128;
const BATCH_BYTES: usize = 256 * 1024;

/// Reads every object under `paths` (files, or directories read recursively for `.yaml`, `.yml` and `.json`),
/// validates each against the validator's CRDs and returns the report, findings grouped. The first input error
/// (by file, document and item) fails the whole run, naming the file, the document and the line.
pub fn validate_paths(validator: &Validator, paths: &[PathBuf]) -> Result<ValidationReport, LoadError> {
    validate_paths_keeping(validator, paths, false)
}

/// [`validate_paths`], also keeping every finding one by one (in a temporary file) when `each` is set.
pub fn validate_paths_keeping(
    validator: &Validator,
    paths: &[PathBuf],
    each: bool,
) -> Result<ValidationReport, LoadError> {
    let files = collect_files(paths)?;
    let spool = each.then(FindingSpool::new).transpose().map_err(LoadError::Spool)?.map(Arc::new);
    let workers = rayon::current_num_threads().max(1);
    let (sender, receiver) = sync_channel::<Batch>(workers * 2);
    let shared =
        Shared { receiver: Mutex::new(receiver), errors: Mutex::new(Vec::new()), abort: AtomicBool::new(false) };
    let partials = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let (files, shared, partials) = (&files, &shared, &partials);
        scope.spawn(move || produce(files, sender, shared));
        rayon::scope(|pool| {
            for _ in 0..workers {
                let spool = spool.clone();
                pool.spawn(move |_| {
                    let builder = consume(validator, shared, spool);
                    lock(partials).push(builder);
                });
            }
        });
    });
    let mut errors = shared.errors.into_inner().unwrap_or_else(PoisonError::into_inner);
    errors.sort_by_key(|(position, _)| *position);
    if let Some((_, error)) = errors.into_iter().next() {
        return Err(error);
    }
    let mut report = ReportBuilder::keeping_each(spool);
    for partial in partials.into_inner().unwrap_or_else(PoisonError::into_inner) {
        report.merge(partial);
    }
    Ok(report.finish(files.len(), validator.crd_count(), validator.knows_old_crds()))
}

/// Where an input error is, for choosing the first one: file index, document, item (0 for the document itself).
pub(super) type Position = (usize, usize, usize);

/// Units for a worker, with the batch's place in the input.
type Batch = (u64, Vec<Unit>);

/// State shared by the reader and the workers.
struct Shared {
    receiver: Mutex<Receiver<Batch>>,
    errors: Mutex<Vec<(Position, LoadError)>>,
    /// Set on the first error: the reader stops, workers finish what was sent (so the earliest error is seen).
    abort: AtomicBool,
}

impl Shared {
    fn fail(&self, position: Position, error: LoadError) {
        lock(&self.errors).push((position, error));
        self.abort.store(true, Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a piece of input came from.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub(super) file_index: usize,
    pub(super) file: Arc<Path>,
    /// 1-based document in the file.
    pub(super) document: usize,
    /// 1-based line the piece starts on.
    pub(super) line: usize,
    /// The item's index, for a piece that is one item of a `List`.
    pub(super) item: Option<usize>,
    /// Columns removed from each line of an item's text (to report columns as in the file).
    pub(super) column_shift: usize,
}

impl Origin {
    pub(super) fn position(&self) -> Position {
        (self.file_index, self.document, self.item.map_or(0, |item| item + 1))
    }

    fn document_ref(&self) -> DocumentRef {
        DocumentRef { file: self.file.to_path_buf(), document: self.document, line: self.line }
    }

    fn source(&self) -> SourceLocation {
        SourceLocation { file: self.file.display().to_string(), line: self.line }
    }
}

/// A piece of input for a worker.
pub(super) enum Unit {
    /// YAML text of one document, or of one `List` item.
    Yaml { text: String, origin: Origin },
    /// An object already parsed (JSON is parsed by the reader while it streams a `List`).
    Parsed { value: Value, origin: Origin },
}

impl Unit {
    fn origin(&self) -> &Origin {
        match self {
            Unit::Yaml { origin, .. } | Unit::Parsed { origin, .. } => origin,
        }
    }

    fn size(&self) -> usize {
        match self {
            Unit::Yaml { text, .. } => text.len(),
            Unit::Parsed { .. } => 1024,
        }
    }
}

fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        let io_error = |cause| LoadError::Io { path: path.clone(), cause };
        if std::fs::metadata(path).map_err(io_error)?.is_dir() {
            let mut found = Vec::new();
            collect_dir(path, &mut found)?;
            if found.is_empty() {
                return Err(LoadError::NoManifests(path.clone()));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |cause| LoadError::Io { path: path.to_owned(), cause }
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        if entry.file_type().map_err(io_error(&path))?.is_dir() {
            collect_dir(&path, files)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            files.push(path);
        }
    }
    Ok(())
}

// ---- the reader ----

/// Collects units into batches and sends them; sending blocks while the workers are behind (bounded memory).
pub(super) struct Batcher<'a> {
    sender: SyncSender<Batch>,
    batch: Vec<Unit>,
    /// Batches sent so far.
    sent: u64,
    bytes: usize,
    abort: &'a AtomicBool,
}

impl Batcher<'_> {
    pub(super) fn push(&mut self, unit: Unit) {
        self.bytes += unit.size();
        self.batch.push(unit);
        if self.batch.len() >= BATCH_UNITS || self.bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.bytes = 0;
            // A send only fails when every worker is gone, which happens only after the reader finishes.
            let _ = self.sender.send((self.sent, std::mem::take(&mut self.batch)));
            self.sent += 1;
        }
    }

    pub(super) fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

fn produce(files: &[PathBuf], sender: SyncSender<Batch>, shared: &Shared) {
    let mut batcher = Batcher { sender, batch: Vec::new(), sent: 0, bytes: 0, abort: &shared.abort };
    for (file_index, file) in files.iter().enumerate() {
        if batcher.aborted() {
            break;
        }
        let is_json = file.extension().is_some_and(|e| e == "json");
        let result =
            if is_json { read_json(file_index, file, &mut batcher) } else { read_yaml(file_index, file, &mut batcher) };
        if let Err(failure) = result {
            batcher.flush();
            let (position, error) = *failure;
            shared.fail(position, error);
            break;
        }
    }
    batcher.flush();
}

/// An input error and where it is (boxed: errors are rare and `LoadError` is large).
pub(super) type Failure = Box<(Position, LoadError)>;
pub(super) type ReadResult = Result<(), Failure>;

// ---- the workers ----

fn consume(validator: &Validator, shared: &Shared, spool: Option<Arc<FindingSpool>>) -> ReportBuilder {
    let mut builder = ReportBuilder::keeping_each(spool);
    loop {
        // The guard is released at the end of the statement, before the batch is processed.
        let next = lock(&shared.receiver).recv();
        let Ok((sequence, batch)) = next else { break };
        let mut first = None;
        for unit in batch {
            first.get_or_insert_with(|| unit.origin().position());
            if let Err(failure) = process(unit, validator, &mut builder) {
                let (position, error) = *failure;
                shared.fail(position, error);
            }
        }
        if let Err(error) = builder.end_batch(sequence) {
            shared.fail(first.unwrap_or_default(), LoadError::Spool(error));
        }
    }
    builder
}

fn process(unit: Unit, validator: &Validator, builder: &mut ReportBuilder) -> ReadResult {
    match unit {
        Unit::Parsed { value, origin } => classify(value, &origin, validator, builder),
        Unit::Yaml { text, origin } => {
            // The fast path covers what kubectl writes; anything else (and every error) goes through serde_norway.
            if let Some(value) = fast_yaml::parse(&text) {
                return classify(value, &origin, validator, builder);
            }
            for (offset, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
                let origin = Origin { document: origin.document + offset, ..origin.clone() };
                let value =
                    Value::deserialize(document).map_err(|e| Box::new((origin.position(), yaml_error(&origin, &e))))?;
                classify(value, &origin, validator, builder)?;
            }
            Ok(())
        }
    }
}

fn yaml_error(origin: &Origin, error: &serde_norway::Error) -> LoadError {
    let (line, column) = error
        .location()
        .map_or((origin.line, 1), |at| (origin.line + at.line().saturating_sub(1), at.column() + origin.column_shift));
    let message = error.to_string();
    // serde_norway appends " at line N column M" relative to the piece; the file's position is in our prefix.
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    LoadError::Syntax { file: origin.file.to_path_buf(), document: origin.document, line, column, message }
}

fn classify(value: Value, origin: &Origin, validator: &Validator, builder: &mut ReportBuilder) -> ReadResult {
    let invalid =
        |message: String| Box::new((origin.position(), LoadError::Invalid { at: origin.document_ref(), message }));
    let mut fields = match value {
        Value::Null => return Ok(()),
        Value::Object(fields) => fields,
        // A whole document that is not a mapping is not an object (a scrape config beside the manifests).
        other if origin.item.is_none() => {
            builder.add_not_object(SkippedDocument::new(&origin.document_ref(), json_kind(&other)));
            return Ok(());
        }
        other => return Err(invalid(format!("expected a Kubernetes object (a mapping), found {}", json_kind(&other)))),
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (kind, api_version) = (text("kind"), text("apiVersion"));
    if kind.is_empty() || api_version.is_empty() {
        builder.add_ignored_document();
        return Ok(());
    }
    if kind == "List" || (kind.ends_with("List") && fields.contains_key("items")) {
        return match fields.remove("items") {
            Some(Value::Array(items)) => items.into_iter().enumerate().try_for_each(|(index, item)| {
                let origin = Origin { item: Some(index), ..origin.clone() };
                classify(item, &origin, validator, builder)
            }),
            Some(Value::Null) | None => Ok(()),
            Some(other) => Err(invalid(format!("List items must be a sequence, found {}", json_kind(&other)))),
        };
    }
    builder.add(validator.check(Value::Object(fields), Some(origin.source())));
    Ok(())
}
