//! Rendering a validation report (`validate`, and the objects part of `plan --objects`): text for people
//! (coloured on a terminal), JSON for CI, markdown for a pull-request comment, GitHub Actions annotations.
//!
//! Data loss is the headline: when any object would lose fields on its next write, that comes first. Identical
//! findings across objects are one group (count and first objects); `--each` lists them one by one, streamed
//! from the report's spool as they are written, so neither is ever held whole.

use super::markdown::{cell, icon};
use super::text::paint;
use super::{Detail, OutputFormat, SeverityCounts};
use crate::findings::{FindingCode, ObjectFinding, Severity, Verdict};
use crate::manifest::SkippedDocument;
use crate::schema::validate::{FindingGroup, ValidationReport, ValidationSummary};
use serde::Serialize;
use std::fmt::Write;

/// What a validation report shows: the groups of identical findings at or above a threshold (or, with `--each`,
/// every finding one by one), with exact counts of everything.
#[derive(Debug)]
pub struct ValidationView<'a> {
    /// The verdict over all findings, hidden ones included.
    pub verdict: Verdict,
    /// The groups at or above `min_severity`.
    pub groups: Vec<&'a FindingGroup>,
    /// Counts.
    pub summary: ValidationViewSummary<'a>,
    /// How much the text output shows.
    pub detail: Detail,
    /// The report, for its findings one by one.
    report: &'a ValidationReport,
    /// Whether findings are listed one by one (`--each`; the report kept them).
    each: bool,
}

/// The `summary` object of the JSON output.
#[derive(Debug, Serialize)]
pub struct ValidationViewSummary<'a> {
    /// Findings per severity, hidden ones included.
    #[serde(flatten)]
    pub severities: SeverityCounts,
    /// All findings.
    pub total: usize,
    /// Findings below `min_severity`, left out of `groups` (and `findings`).
    pub hidden: usize,
    /// The threshold applied.
    pub min_severity: Severity,
    /// Groups of identical findings, hidden ones included.
    pub groups: usize,
    /// Objects that lose data users wrote on their next write (a breaking `data-pruned` finding).
    pub objects_losing_data: usize,
    /// What was read and checked, with counts per CRD.
    #[serde(flatten)]
    pub counts: &'a ValidationSummary,
}

impl Serialize for ValidationView<'_> {
    /// `{"verdict", "groups", "findings"?, "summary"}`: `findings` only with `--each`, streamed from the spool.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("ValidationView", 4)?;
        out.serialize_field("verdict", &self.verdict)?;
        out.serialize_field("groups", &self.groups)?;
        if let Some(each) = self.one_by_one() {
            out.serialize_field("findings", &EachFinding(std::cell::RefCell::new(Some(each))))?;
        }
        out.serialize_field("summary", &self.summary)?;
        out.end()
    }
}

/// The findings one by one, serialized as they are read back.
struct EachFinding<I>(std::cell::RefCell<Option<I>>);

impl<I: Iterator<Item = std::io::Result<ObjectFinding>>> Serialize for EachFinding<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(None)?;
        for finding in self.0.borrow_mut().take().into_iter().flatten() {
            seq.serialize_element(&finding.map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}

impl<'a> ValidationView<'a> {
    /// Selects what to show from a report.
    pub fn new(report: &'a ValidationReport, min_severity: Severity) -> ValidationView<'a> {
        let groups: Vec<&FindingGroup> = report.groups.iter().filter(|g| g.key.severity >= min_severity).collect();
        let total = report.total();
        let shown: usize = groups.iter().map(|g| g.count).sum();
        ValidationView {
            verdict: Verdict::of_severities(report.groups.iter().map(|g| g.key.severity)),
            summary: ValidationViewSummary {
                severities: SeverityCounts::of(report.severities()),
                total,
                hidden: total - shown,
                min_severity,
                groups: report.groups.len(),
                objects_losing_data: report.summary.crds.values().map(|c| c.objects_losing_data).sum(),
                counts: &report.summary,
            },
            groups,
            detail: Detail::Every,
            report,
            each: false,
        }
    }

    /// Sets how much the text output shows.
    pub fn with_detail(mut self, detail: Detail) -> ValidationView<'a> {
        self.detail = detail;
        self
    }

    /// Lists the findings one by one instead of grouped, when the report kept them (`--each`).
    pub fn one_by_one_if(mut self, each: bool) -> ValidationView<'a> {
        self.each = each && self.report.each.is_some();
        self
    }

    /// The findings one by one, at or above the threshold, when they are listed so (`--each`).
    pub(super) fn findings_one_by_one(&self) -> Option<impl Iterator<Item = std::io::Result<ObjectFinding>> + 'a> {
        self.one_by_one()
    }

    fn one_by_one(&self) -> Option<impl Iterator<Item = std::io::Result<ObjectFinding>> + 'a> {
        self.each.then(|| self.report.each(self.summary.min_severity)).flatten()
    }

    /// Renders in the given format into a string; `color` only affects text. See [`ValidationView::render_to`].
    pub fn render(&self, format: OutputFormat, color: bool) -> String {
        into_string(|out| self.render_to(format, color, out))
    }

    /// Writes the report in the given format as it is rendered, never holding it whole (a million findings
    /// with `--each`).
    pub fn render_to(&self, format: OutputFormat, color: bool, sink: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut out = Pieces::new(sink);
        self.write(format, color, &mut out)?;
        out.finish()
    }

    /// Writes the report into `out` (also the objects section of a plan).
    pub(super) fn write(&self, format: OutputFormat, color: bool, out: &mut Pieces<'_>) -> std::io::Result<()> {
        match format {
            OutputFormat::Text => self.text(out, color),
            OutputFormat::Markdown => self.markdown(out),
            OutputFormat::Github => super::github::write_validation(out, self)?,
            OutputFormat::Json => out.json(self)?,
            OutputFormat::Sarif => super::sarif::write_validation(out, self)?,
        }
        Ok(())
    }

    /// The one-line verdict shown at the end of text and markdown output.
    pub fn verdict_line(&self) -> String {
        let counts = self.summary.severities;
        let what = match self.verdict {
            Verdict::Blocker => "BLOCKED: objects cannot be kept under the new CRDs",
            Verdict::Breaking => "BREAKING: objects lose data or fail their next write under the new CRDs",
            Verdict::Warning => "REVIEW: objects read differently or need care when next changed",
            Verdict::Safe => "SAFE: every object is valid under the new CRDs",
        };
        format!("{what} ({counts})")
    }

    /// The data-loss headline, when any object loses data.
    fn data_loss_line(&self) -> Option<String> {
        let fields: usize = self
            .groups
            .iter()
            .filter(|g| g.key.code == FindingCode::DataPruned && g.key.severity >= Severity::Breaking)
            .map(|g| g.count)
            .sum();
        let objects = self.summary.objects_losing_data;
        (objects > 0).then(|| {
            format!(
                "DATA LOSS: {objects} object(s) lose {fields} field(s) on their next write: the new schemas do not \
                 declare them (data-pruned below)"
            )
        })
    }

    fn text(&self, out: &mut Pieces<'_>, color: bool) {
        if let Some(line) = self.data_loss_line() {
            let _ = writeln!(out, "{}\n", paint(&line, Severity::Breaking, color));
        }
        let listed = match self.one_by_one() {
            Some(each) => self.text_each(out, each, color),
            None => self.text_groups(out, color),
        };
        if listed {
            out.push('\n');
        }
        self.text_counts(out);
        let _ = writeln!(out, "{}", self.verdict_line());
    }

    /// Each group under its CRD: severity, code and path, the message, then how many objects and which.
    fn text_groups(&self, out: &mut Pieces<'_>, color: bool) -> bool {
        let mut current_crd: Option<Option<&str>> = None;
        for group in &self.groups {
            let crd = group.key.crd.as_deref();
            if current_crd != Some(crd) {
                let _ = writeln!(out, "{}{}", if current_crd.is_some() { "\n" } else { "" }, crd_heading(crd, self));
                current_crd = Some(crd);
            }
            let label = paint(&format!("{:<8}", group.key.severity.as_str()), group.key.severity, color);
            let version = group.key.version.as_deref().map(|v| format!(" ({v})")).unwrap_or_default();
            let place = if group.other_places { "other places, e.g. " } else { "" };
            let _ = writeln!(out, "  {label} {:<26} {place}{}{version}", group.key.code.as_str(), group.key.path);
            if self.detail == Detail::Summary && group.key.severity == Severity::Info {
                let _ = writeln!(out, "           {} object(s), e.g. {}", group.count, first_object(group));
                continue;
            }
            let _ = writeln!(out, "           {}", group.key.message);
            if let Some(rule) = &group.key.rule {
                let _ = writeln!(out, "           rule: {rule}");
            }
            let kind = group.objects.first().map(|o| o.object.kind.as_str()).unwrap_or_default();
            let _ = writeln!(out, "           {} object(s): {kind} {}", group.count, group.objects_line());
        }
        !self.groups.is_empty()
    }

    /// Every finding under its CRD and object, as read back from the spool.
    fn text_each(
        &self,
        out: &mut Pieces<'_>,
        each: impl Iterator<Item = std::io::Result<ObjectFinding>>,
        color: bool,
    ) -> bool {
        let mut current_crd: Option<Option<String>> = None;
        let mut current_object: Option<(String, Option<String>, String)> = None;
        for finding in each {
            let finding = match finding {
                Ok(finding) => finding,
                Err(error) => return out.fail(error),
            };
            if current_crd.as_ref() != Some(&finding.key.crd) {
                let heading = crd_heading(finding.key.crd.as_deref(), self);
                let _ = writeln!(out, "{}{heading}", if current_crd.is_some() { "\n" } else { "" });
                current_crd = Some(finding.key.crd.clone());
                current_object = None;
            }
            let object =
                (finding.object.api_version.clone(), finding.object.namespace.clone(), finding.object.name.clone());
            if current_object.as_ref() != Some(&object) {
                let _ = writeln!(out, "  {}", object_heading(&finding));
                current_object = Some(object);
            }
            let label = paint(&format!("{:<8}", finding.key.severity.as_str()), finding.key.severity, color);
            let _ = writeln!(out, "    {label} {:<26} {}", finding.key.code.as_str(), finding.key.path);
            let _ = writeln!(out, "             {}", finding.key.message);
            if let Some(rule) = &finding.key.rule {
                let _ = writeln!(out, "             rule: {rule}");
            }
        }
        current_crd.is_some()
    }

    fn text_counts(&self, out: &mut Pieces<'_>) {
        let s = self.summary.counts;
        let _ = writeln!(
            out,
            "Checked {} of {} objects against {} CRDs ({}): {} with findings; {} of a kind missing from a known \
             group, {} of other projects' groups and {} built-in or CRD objects not checked, {} documents that are \
             not objects ignored ({} file(s) read).",
            s.checked,
            s.objects,
            s.crds_known,
            if s.old_crds_known { "defaults compared with the old CRDs" } else { "old CRDs not given" },
            s.objects_with_findings,
            s.unknown_kind,
            s.other_group,
            s.not_custom,
            s.ignored_documents,
            s.files
        );
        write_not_objects(out, &s.not_objects);
        for (crd, counts) in &s.crds {
            let _ = writeln!(
                out,
                "  {crd} ({}): {} objects, {} with findings, {} losing data; {} breaking, {} warning, {} info",
                counts.kind,
                counts.objects,
                counts.objects_with_findings,
                counts.objects_losing_data,
                counts.breaking + counts.blocker,
                counts.warning,
                counts.info
            );
        }
        if !self.each {
            let _ = writeln!(
                out,
                "{} findings in {} group(s) of identical findings (--each lists them one by one).",
                self.summary.total, self.summary.groups
            );
        }
        if self.summary.hidden > 0 {
            let _ = writeln!(
                out,
                "{} findings below {} hidden (--min-severity).",
                self.summary.hidden, self.summary.min_severity
            );
        }
    }

    fn markdown(&self, out: &mut Pieces<'_>) {
        let _ = writeln!(out, "### operator-upgrade validate\n\n**{}**\n", self.verdict_line());
        if let Some(line) = self.data_loss_line() {
            let _ = writeln!(out, "> ⚠️ **{line}**\n");
        }
        let s = self.summary.counts;
        let _ = writeln!(
            out,
            "Checked {} of {} objects against {} CRDs; {} with findings, {} of a kind missing from a known group, \
             {} of other projects' groups.\n",
            s.checked, s.objects, s.crds_known, s.objects_with_findings, s.unknown_kind, s.other_group
        );
        if !s.crds.is_empty() {
            let _ = writeln!(out, "| CRD | kind | objects | with findings | losing data | breaking | warning | info |");
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
            for (crd, c) in &s.crds {
                let _ = writeln!(
                    out,
                    "| `{crd}` | {} | {} | {} | {} | {} | {} | {} |",
                    c.kind,
                    c.objects,
                    c.objects_with_findings,
                    c.objects_losing_data,
                    c.breaking + c.blocker,
                    c.warning,
                    c.info
                );
            }
        }
        match self.one_by_one() {
            Some(each) => self.markdown_each(out, each),
            None => self.markdown_groups(out),
        }
        if self.summary.hidden > 0 {
            let _ = writeln!(out, "\n_{} findings below {} hidden._", self.summary.hidden, self.summary.min_severity);
        }
    }

    fn markdown_groups(&self, out: &mut Pieces<'_>) {
        let mut current_crd: Option<Option<&str>> = None;
        for group in &self.groups {
            let crd = group.key.crd.as_deref();
            if current_crd != Some(crd) {
                markdown_crd_heading(out, crd);
                let _ = writeln!(out, "| severity | code | path | objects | what |\n|---|---|---|---|---|");
                current_crd = Some(crd);
            }
            let place = if group.other_places { "other places, e.g. " } else { "" };
            let kind = group.objects.first().map(|o| o.object.kind.as_str()).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} {} | `{}` | {place}`{}` | {} {}: {} | {} |",
                icon(group.key.severity),
                group.key.severity,
                group.key.code,
                cell(&group.key.path),
                group.count,
                cell(kind),
                cell(&group.objects_line()),
                cell(&group.key.message)
            );
        }
    }

    fn markdown_each(&self, out: &mut Pieces<'_>, each: impl Iterator<Item = std::io::Result<ObjectFinding>>) {
        let mut current_crd: Option<Option<String>> = None;
        for finding in each {
            let finding = match finding {
                Ok(finding) => finding,
                Err(error) => {
                    out.fail(error);
                    return;
                }
            };
            if current_crd.as_ref() != Some(&finding.key.crd) {
                markdown_crd_heading(out, finding.key.crd.as_deref());
                let _ = writeln!(out, "| severity | code | object | path | what |\n|---|---|---|---|---|");
                current_crd = Some(finding.key.crd.clone());
            }
            let _ = writeln!(
                out,
                "| {} {} | `{}` | {} `{}` | `{}` | {} |",
                icon(finding.key.severity),
                finding.key.severity,
                finding.key.code,
                cell(&finding.object.kind),
                cell(&finding.object.display_name()),
                cell(&finding.key.path),
                cell(&finding.key.message)
            );
        }
    }
}

fn markdown_crd_heading(out: &mut Pieces<'_>, crd: Option<&str>) {
    let _ = writeln!(out, "\n#### {}\n", crd.map_or_else(|| "Objects no CRD defines".to_owned(), |c| format!("`{c}`")));
}

/// A group's first object, as `kind namespace/name`.
fn first_object(group: &FindingGroup) -> String {
    group.objects.first().map(|o| o.object.to_string()).unwrap_or_default()
}

/// What a renderer writes, as a string. Writing into memory only fails if the findings' spool cannot be read
/// back, which the string then says at its end.
pub(super) fn into_string(render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    if let Err(error) = render(&mut out) {
        out.extend_from_slice(format!("\nerror: {error}\n").as_bytes());
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Text written in pieces to an `io::Write`, so a report of a million findings is never one string. The first
/// write error is kept (and returned by [`Pieces::finish`]); nothing more is written after it.
pub(crate) struct Pieces<'w> {
    buffer: String,
    sink: &'w mut dyn std::io::Write,
    error: Option<std::io::Error>,
}

impl<'w> Pieces<'w> {
    /// Pieces written to `sink`.
    pub(crate) fn new(sink: &'w mut dyn std::io::Write) -> Pieces<'w> {
        Pieces { buffer: String::new(), sink, error: None }
    }

    /// Appends text.
    pub(crate) fn push_str(&mut self, text: &str) {
        let _ = self.write_str(text);
    }

    /// Appends a character.
    pub(crate) fn push(&mut self, c: char) {
        let _ = self.write_char(c);
    }

    /// Writes what is buffered.
    pub(crate) fn flush_buffer(&mut self) {
        if self.error.is_none() && !self.buffer.is_empty() {
            if let Err(error) = self.sink.write_all(self.buffer.as_bytes()) {
                self.error = Some(error);
            }
        }
        self.buffer.clear();
    }

    /// Writes a value as pretty JSON and a newline, straight to the sink.
    pub(crate) fn json(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        self.flush_buffer();
        serde_json::to_writer_pretty(&mut *self.sink, value).map_err(std::io::Error::other)?;
        self.sink.write_all(b"\n")
    }

    /// Records an error (of reading what is written); returns whether anything was listed, for callers.
    fn fail(&mut self, error: std::io::Error) -> bool {
        self.error.get_or_insert(error);
        true
    }

    /// Writes the rest; the first error, if any.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        self.flush_buffer();
        match self.error.take() {
            Some(error) => Err(error),
            None => self.sink.flush(),
        }
    }
}

impl std::fmt::Write for Pieces<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.error.is_some() {
            return Err(std::fmt::Error);
        }
        self.buffer.push_str(text);
        if self.buffer.len() >= 64 * 1024 {
            self.flush_buffer();
        }
        Ok(())
    }
}

/// Names the documents skipped because they are not mappings (they are in the ignored count already).
pub(super) fn write_not_objects(out: &mut impl Write, skipped: &[SkippedDocument]) {
    if skipped.is_empty() {
        return;
    }
    let _ = writeln!(out, "Skipped {} document(s) that are not Kubernetes objects (not mappings):", skipped.len());
    for document in skipped {
        let _ = writeln!(out, "  {document}");
    }
}

fn crd_heading(crd: Option<&str>, view: &ValidationView<'_>) -> String {
    match crd.and_then(|name| view.summary.counts.crds.get(name).map(|counts| (name, counts))) {
        Some((name, counts)) => format!(
            "{name} ({}): {} objects, {} with findings",
            counts.kind, counts.objects, counts.objects_with_findings
        ),
        None => "Objects no CRD of the new set defines".to_owned(),
    }
}

fn object_heading(finding: &ObjectFinding) -> String {
    let object = &finding.object;
    let source = finding.source.as_ref().map(|s| format!(", {}:{}", s.file, s.line)).unwrap_or_default();
    let checked = finding.key.version.as_ref().map(|v| format!(", checked at {v}")).unwrap_or_default();
    format!("{} {} ({}{checked}{source})", object.kind, object.display_name(), object.api_version)
}
