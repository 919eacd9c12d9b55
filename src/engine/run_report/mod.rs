//! A run as a report for a pull request or a change ticket (`status -o markdown`), and with
//! `--report-dir` that report and an SVG chart of each signal of the canary analysis, written as files.
//!
//! Rendering is pure (a journal in, text out); only [`write_reports`] touches the file system, and only once
//! everything rendered, so a chart that cannot be drawn leaves the directory as it was.

mod chart;
mod markdown;

pub use chart::{chart_svg, ChartError};
pub use markdown::render_markdown;

use super::journal::Journal;
use super::status::RunView;
use crate::canary::judge::IntervalResult;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Whether the markdown links each signal's chart (written beside it with `--report-dir`) or has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartLinks {
    /// No chart: the report goes to standard output, where a relative link leads nowhere.
    Omitted,
    /// `![...](<plan>-<signal>.svg)` under the analysis, relative to the report's own file.
    Relative,
}

/// Why the reports could not be written.
#[derive(Debug, Error)]
pub enum ReportError {
    /// A chart could not be drawn (nothing was written).
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// The report directory could not be created.
    #[error("cannot create the report directory {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written into the report directory.
    #[error("cannot write {file} into the report directory {}: {source}", dir.display())]
    Write {
        /// The directory.
        dir: PathBuf,
        /// The file's name in it.
        file: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One file of a report: its name in the report directory and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    /// The file's name (no directory: a journal's plan name never leads out of the directory).
    pub name: String,
    /// What it holds.
    pub content: String,
}

/// Each run's markdown report and its signals' charts, rendered, in the order the files are written.
pub fn render_files(runs: &[RunView]) -> Result<Vec<ReportFile>, ChartError> {
    let mut files = Vec::new();
    for run in runs {
        let journal = &run.journal;
        let markdown = render_markdown(journal, run.heartbeat, run.lease.as_ref(), ChartLinks::Relative);
        files.push(ReportFile { name: format!("{}.md", slug(&journal.plan)), content: markdown });
        let intervals = analysis_intervals(journal);
        for (signal, name) in chart_files(journal) {
            files.push(ReportFile { name, content: chart_svg(intervals, &signal)? });
        }
    }
    Ok(files)
}

/// Renders every run's report and charts, then writes them into `dir` (created if missing), each file
/// atomically (a temporary file in `dir` renamed over the name); returns the paths written.
pub fn write_reports(dir: &Path, runs: &[RunView]) -> Result<Vec<PathBuf>, ReportError> {
    let files = render_files(runs)?;
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir { dir: dir.to_owned(), source })?;
    files.iter().map(|file| write_atomically(dir, file)).collect()
}

fn write_atomically(dir: &Path, file: &ReportFile) -> Result<PathBuf, ReportError> {
    let failed = |source| ReportError::Write { dir: dir.to_owned(), file: file.name.clone(), source };
    // The temporary file is in `dir` itself so the rename never crosses file systems.
    let mut temporary = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    temporary.write_all(file.content.as_bytes()).map_err(failed)?;
    let path = dir.join(&file.name);
    temporary.persist(&path).map_err(|e| failed(e.error))?;
    Ok(path)
}

/// The analysis's intervals, with or without a canary.
fn analysis_intervals(journal: &Journal) -> &[IntervalResult] {
    crate::engine::canary::analysis_intervals(journal)
}

/// Every signal of the analysis, in the order the intervals first name them.
pub fn signals(intervals: &[IntervalResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (reading, _) in intervals.iter().flat_map(|i| &i.signals) {
        if !names.contains(&reading.signal) {
            names.push(reading.signal.clone());
        }
    }
    names
}

/// Each signal of the run's analysis with the file name of its chart, `<plan>-<signal>.svg`, unique even
/// where two signals' names read alike once made safe for a file name.
pub fn chart_files(journal: &Journal) -> Vec<(String, String)> {
    let plan = slug(&journal.plan);
    let mut files: Vec<(String, String)> = Vec::new();
    for signal in signals(analysis_intervals(journal)) {
        let stem = format!("{plan}-{}", slug(&signal));
        let mut name = format!("{stem}.svg");
        let mut n = 2;
        while files.iter().any(|(_, taken)| *taken == name) {
            name = format!("{stem}-{n}.svg");
            n += 1;
        }
        files.push((signal, name));
    }
    files
}

/// `text` as a file-name part: lower-case ASCII letters and digits, every other run of characters one `-`
/// (so a journal's names cannot reach outside the report directory or need quoting in a link).
pub fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "run".to_owned()
    } else {
        slug.to_owned()
    }
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests;
