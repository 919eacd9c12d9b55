//! Loading one side of an upgrade (a file or a directory tree) into a [`ManifestSet`].

use super::crd::Crd;
use super::input::{read_text, InputError};
use super::normalise::normalise_crd;
use crate::schema::validate::fast_yaml;
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where one document came from: the file, its 1-based index in the file and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRef {
    /// The file, as found from the path the user gave.
    pub file: PathBuf,
    /// 1-based position of the document in the file.
    pub document: usize,
    /// 1-based line the document starts on.
    pub line: usize,
}

impl fmt::Display for DocumentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {} (line {})", self.file.display(), self.document, self.line)
    }
}

/// Why a side could not be loaded. Every variant names the file, and where possible the document and line.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The temporary file that keeps every finding (`--each`) cannot be written or read.
    #[error("cannot keep the findings in a temporary file (--each): {0}")]
    Spool(std::io::Error),
    /// The path does not exist or cannot be read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error; in the message, not a `source`, so an error chain says it once.
        cause: std::io::Error,
    },
    /// A manifest file is not a regular file (a FIFO, a device), or not UTF-8 text.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A directory held no `.yaml`, `.yml` or `.json` file.
    #[error("{0}: no .yaml, .yml or .json files found")]
    NoManifests(PathBuf),
    /// A document is not valid YAML or JSON.
    #[error("{file}: document {document}, line {line}, column {column}: {message}", file = .file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A document parsed but is not something a release can contain (a scalar, a list without items, an
    /// unreadable CRD).
    #[error("{at}: {message}")]
    Invalid {
        /// The document.
        at: DocumentRef,
        /// What is wrong with it.
        message: String,
    },
    /// The same CRD appears twice on one side.
    #[error("CRD {name} is defined twice: {first} and {second}")]
    DuplicateCrd {
        /// `metadata.name` of the CRD.
        name: String,
        /// The first definition.
        first: DocumentRef,
        /// The second definition.
        second: DocumentRef,
    },
}

/// A document that parsed but is not a mapping (a scalar, or a sequence such as a Prometheus scrape config kept
/// beside the manifests): not a Kubernetes object, so it is skipped, counted and named in reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct SkippedDocument {
    /// The file, as found from the path the user gave.
    pub file: String,
    /// 1-based position of the document in the file.
    pub document: usize,
    /// 1-based line the document starts on.
    pub line: usize,
    /// What the document is instead of a mapping (`a sequence`, `a string`, ...).
    pub found: &'static str,
}

impl SkippedDocument {
    /// A skipped document at `at`, holding a value of the given kind.
    pub fn new(at: &DocumentRef, found: &'static str) -> SkippedDocument {
        SkippedDocument { file: at.file.display().to_string(), document: at.document, line: at.line, found }
    }
}

impl fmt::Display for SkippedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {} (line {}), {}", self.file, self.document, self.line, self.found)
    }
}

/// A CRD read from a release, with where it was found.
#[derive(Debug, Clone)]
pub struct LoadedCrd {
    /// The CRD, normalised to `apiextensions.k8s.io/v1`.
    pub crd: Crd,
    /// The document it came from.
    pub source: DocumentRef,
    /// The `apiVersion` it was written in (`apiextensions.k8s.io/v1beta1` for legacy CRDs).
    pub original_api_version: String,
}

/// A non-CRD object read from a release (Deployment, RBAC, webhooks, ...), kept for the operator diff.
#[derive(Debug, Clone)]
pub struct Object {
    /// The object as parsed.
    pub value: Value,
    /// The document it came from.
    pub source: DocumentRef,
}

/// Everything one side of an upgrade ships.
#[derive(Debug, Default)]
pub struct ManifestSet {
    /// CRDs by `metadata.name`.
    pub crds: BTreeMap<String, LoadedCrd>,
    /// Every other Kubernetes object, in file order.
    pub objects: Vec<Object>,
    /// Documents that are not objects, so not diffed, but counted so nothing vanishes silently: mappings
    /// without `apiVersion` and `kind` (Helm values, Chart.yaml, ...) and documents that are not mappings.
    pub ignored: Vec<DocumentRef>,
    /// Of those, the documents that are not mappings at all (named in reports: a file that is not a manifest).
    pub not_objects: Vec<SkippedDocument>,
    /// The files read, sorted.
    pub files: Vec<PathBuf>,
}

/// Loads a file or a directory tree (recursively, `.yaml`, `.yml` and `.json`, in sorted order).
pub fn load_side(path: &Path) -> Result<ManifestSet, LoadError> {
    let files = manifest_files(path)?;
    let per_file: Vec<Result<FileContents, LoadError>> = files.par_iter().map(|f| load_file(f)).collect();
    let mut set = ManifestSet { files, ..ManifestSet::default() };
    for contents in per_file {
        set.add(contents?)?;
    }
    Ok(set)
}

impl ManifestSet {
    /// Adds one file's contents; a CRD already on this side is an error naming both documents.
    fn add(&mut self, contents: FileContents) -> Result<(), LoadError> {
        for loaded in contents.crds {
            let name = loaded.crd.name.clone();
            if let Some(first) = self.crds.get(&name) {
                return Err(LoadError::DuplicateCrd { name, first: first.source.clone(), second: loaded.source });
            }
            self.crds.insert(name, loaded);
        }
        self.objects.extend(contents.objects);
        self.ignored.extend(contents.ignored);
        self.not_objects.extend(contents.not_objects);
        Ok(())
    }
}

/// Loads one side from text already in memory (a chart rendered by helm, a Helm release's manifest);
/// `name` stands for the file in messages and locations.
pub fn load_side_text(text: &str, name: &Path) -> Result<ManifestSet, LoadError> {
    let mut contents = FileContents::default();
    for_each_document_of(text, name, |value, at| classify_document(value, at, &mut contents, Purpose::Diff))?;
    let mut set = ManifestSet::default();
    set.add(contents)?;
    Ok(set)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |cause| LoadError::Io { path: path.to_owned(), cause }
}

fn is_manifest_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let meta = std::fs::metadata(path).map_err(io_error(path))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    if files.is_empty() {
        return Err(LoadError::NoManifests(path.to_owned()));
    }
    files.sort();
    Ok(files)
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        if entry.file_type().map_err(io_error(&path))?.is_dir() {
            collect_files(&path, files)?;
        } else if is_manifest_file(&path) {
            files.push(path);
        }
    }
    Ok(())
}

#[derive(Default)]
struct FileContents {
    crds: Vec<LoadedCrd>,
    objects: Vec<Object>,
    ignored: Vec<DocumentRef>,
    not_objects: Vec<SkippedDocument>,
}

fn load_file(file: &Path) -> Result<FileContents, LoadError> {
    let mut contents = FileContents::default();
    for_each_document(file, |value, at| classify_document(value, at, &mut contents, Purpose::Diff))?;
    Ok(contents)
}

/// Parses every document of a file in order, handing each to `visit` with where it came from.
fn for_each_document(
    file: &Path,
    visit: impl FnMut(Value, DocumentRef) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    // A release is as large as it is (a provider ships 21 MB): no cap, but never a FIFO or a device.
    let text = read_text(file, "release manifest", None)?;
    for_each_document_of(&text, file, visit)
}

/// Parses every document of a text in order; `file` names where it came from in messages.
fn for_each_document_of(
    text: &str,
    file: &Path,
    mut visit: impl FnMut(Value, DocumentRef) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    let starts = document_start_lines(text);
    // The fast parser gives serde_norway's value for the plain block YAML generators write, several times
    // faster (parsing was most of `plan` on a provider's 800 CRDs); when it declines any document, the whole
    // text goes through serde_norway, so what is visited and every error message stay serde_norway's.
    if let Some(values) = fast_documents(text, &starts) {
        for (index, (value, line)) in values.into_iter().zip(&starts).enumerate() {
            visit(value, DocumentRef { file: file.to_owned(), document: index + 1, line: *line })?;
        }
        return Ok(());
    }
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let at =
            DocumentRef { file: file.to_owned(), document: index + 1, line: starts.get(index).copied().unwrap_or(1) };
        let value = Value::deserialize(document).map_err(|e| syntax_error(&at, &e))?;
        visit(value, at)?;
    }
    Ok(())
}

/// Every document of `text` parsed by the fast parser, one per entry of `starts`, or `None` when it declines one
/// (or the text has what it does not split: `...`, a marker with content after it, carriage returns).
fn fast_documents(text: &str, starts: &[usize]) -> Option<Vec<Value>> {
    if text.contains('\r') {
        return None;
    }
    let mut pieces = Vec::with_capacity(starts.len());
    let (mut piece_start, mut offset, mut seen_marker) = (0, 0, false);
    for line in text.split_inclusive('\n') {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        if bare.starts_with("---") || bare.starts_with("...") {
            if bare != "---" {
                return None;
            }
            // As libyaml counts them: text before the first marker is a document only if it has content.
            let before = &text[piece_start..offset];
            if seen_marker || !before.lines().all(is_blank_or_comment) {
                pieces.push(before);
            }
            (piece_start, seen_marker) = (offset, true);
        }
        offset += line.len();
    }
    pieces.push(&text[piece_start..]);
    if pieces.len() != starts.len() {
        return None;
    }
    pieces.into_iter().map(fast_yaml::parse).collect()
}

/// Every Kubernetes object of a file or directory tree as parsed, in order, `List`s expanded, legacy
/// v1beta1 CRDs normalised to v1: what applying the release to a cluster would send.
pub fn load_objects(path: &Path) -> Result<Vec<Object>, LoadError> {
    let mut objects = Vec::new();
    for file in manifest_files(path)? {
        let mut contents = FileContents::default();
        for_each_document(&file, |value, at| classify_document(value, at, &mut contents, Purpose::Apply))?;
        objects.extend(contents.objects);
    }
    Ok(objects)
}

/// Every Kubernetes object of text already in memory (a chart rendered by helm), as [`load_objects`] reads
/// a file; `name` stands for the file in messages.
pub fn load_objects_text(text: &str, name: &Path) -> Result<Vec<Object>, LoadError> {
    let mut contents = FileContents::default();
    for_each_document_of(text, name, |value, at| classify_document(value, at, &mut contents, Purpose::Apply))?;
    Ok(contents.objects)
}

fn syntax_error(at: &DocumentRef, error: &serde_norway::Error) -> LoadError {
    let (line, column) = error.location().map_or((at.line, 1), |l| (l.line(), l.column()));
    let message = error.to_string();
    // serde_norway appends " at line N column M"; the location is already in our own prefix.
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    LoadError::Syntax { file: at.file.clone(), document: at.document, line, column, message }
}

/// What documents are read for: diffing wants typed CRDs, applying wants every object as a document.
#[derive(Clone, Copy, PartialEq)]
enum Purpose {
    Diff,
    Apply,
}

/// A whole document: one that parses but is not a mapping is skipped (and named), not an error.
fn classify_document(
    value: Value,
    at: DocumentRef,
    contents: &mut FileContents,
    purpose: Purpose,
) -> Result<(), LoadError> {
    match value {
        Value::Null | Value::Object(_) => classify(value, at, contents, purpose),
        other => {
            contents.not_objects.push(SkippedDocument::new(&at, json_kind(&other)));
            contents.ignored.push(at);
            Ok(())
        }
    }
}

/// A document or a `List` item; an item that is not a mapping is an error (the `List` is malformed).
fn classify(value: Value, at: DocumentRef, contents: &mut FileContents, purpose: Purpose) -> Result<(), LoadError> {
    let map = match value {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        other => {
            return Err(LoadError::Invalid {
                at,
                message: format!("expected a Kubernetes object (a mapping), found {}", json_kind(&other)),
            })
        }
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
    if kind.is_empty() || api_version.is_empty() {
        contents.ignored.push(at);
        return Ok(());
    }
    if kind == "List" || (kind.ends_with("List") && map.contains_key("items")) {
        return classify_list_items(map, at, contents, purpose);
    }
    let is_crd = kind == "CustomResourceDefinition" && api_version.starts_with("apiextensions.k8s.io/");
    if is_crd && purpose == Purpose::Apply {
        let value = normalised(Value::Object(map), &api_version, &at)?;
        contents.objects.push(Object { value, source: at });
    } else if is_crd {
        let crd = read_crd(Value::Object(map), &api_version, &at)?;
        contents.crds.push(LoadedCrd { crd, source: at, original_api_version: api_version });
    } else {
        contents.objects.push(Object { value: Value::Object(map), source: at });
    }
    Ok(())
}

fn classify_list_items(
    mut list: serde_json::Map<String, Value>,
    at: DocumentRef,
    contents: &mut FileContents,
    purpose: Purpose,
) -> Result<(), LoadError> {
    match list.remove("items") {
        Some(Value::Array(items)) => {
            items.into_iter().try_for_each(|item| classify(item, at.clone(), contents, purpose))
        }
        Some(Value::Null) | None => Ok(()),
        Some(other) => Err(LoadError::Invalid {
            at,
            message: format!("List items must be a sequence, found {}", json_kind(&other)),
        }),
    }
}

fn normalised(value: Value, api_version: &str, at: &DocumentRef) -> Result<Value, LoadError> {
    let invalid = |message: String| LoadError::Invalid { at: at.clone(), message };
    match api_version {
        "apiextensions.k8s.io/v1" => Ok(value),
        "apiextensions.k8s.io/v1beta1" => normalise_crd(value).map_err(invalid),
        other => Err(invalid(format!("unsupported CustomResourceDefinition apiVersion {other}"))),
    }
}

fn read_crd(value: Value, api_version: &str, at: &DocumentRef) -> Result<Crd, LoadError> {
    let value = normalised(value, api_version, at)?;
    Crd::from_value(value).map_err(|e| LoadError::Invalid {
        at: at.clone(),
        message: format!("not a valid CustomResourceDefinition: {e}"),
    })
}

/// How a value's type reads in an error message ("a mapping", "a sequence", ...).
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// The 1-based line each YAML document of `text` starts on, in the order the parser yields them.
///
/// A `---` marker starts a document; text before the first marker counts as a document only if it holds
/// more than comments and blank lines, which is how libyaml counts them.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut content_before_first_marker = false;
    let mut seen_marker = false;
    for (index, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") || line.starts_with("---\t") {
            if !seen_marker && content_before_first_marker {
                starts.insert(0, 1);
            }
            seen_marker = true;
            starts.push(index + 1);
        } else if !seen_marker && !is_blank_or_comment(line) {
            content_before_first_marker = true;
        }
    }
    if !seen_marker {
        starts.push(1);
    }
    starts
}

fn is_blank_or_comment(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.is_empty() || trimmed.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_starts_follow_markers() {
        assert_eq!(document_start_lines("a: 1\n"), vec![1]);
        assert_eq!(document_start_lines("# c\n---\na: 1\n---\nb: 2\n"), vec![2, 4]);
        assert_eq!(document_start_lines("a: 1\n---\nb: 2\n"), vec![1, 2]);
    }
}
