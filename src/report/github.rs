//! GitHub Actions workflow commands (`--output github`): one `::error`, `::warning` or `::notice` line per
//! finding, so a workflow step running `plan` or `validate` puts each finding on the pull request's diff at
//! the file and line it is about. The locations are the ones the SARIF output uses (`plan` attaches them
//! before rendering either format); nothing here reads files.
//!
//! The format is GitHub's: <https://docs.github.com/actions/reference/workflow-commands-for-github-actions>.

use super::validation::{Pieces, ValidationView};
use super::{location_of, PlanReport};
use crate::findings::{Finding, FindingCode, ObjectFinding, OperatorFinding, Severity, SourceLocation};
use crate::schema::validate::FindingGroup;
use std::fmt::Write;
use std::path::Path;

/// The annotation levels GitHub shows on a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn of(severity: Severity) -> Level {
        match severity {
            Severity::Blocker | Severity::Breaking => Level::Error,
            Severity::Warning => Level::Warning,
            Severity::Info => Level::Notice,
        }
    }

    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// One workflow command: where, which code, what.
#[derive(Debug)]
struct Annotation<'a> {
    level: Level,
    location: Option<&'a SourceLocation>,
    code: FindingCode,
    message: String,
}

impl Annotation<'_> {
    /// The command line: `::level file=F,line=N,title=CODE::message`. A location with line 0 (unknown) still
    /// names the file, so the annotation lands on the file rather than nowhere. `base` is the directory the
    /// job runs in: GitHub places annotations by paths relative to the checkout, and a plan file's releases
    /// resolve to absolute paths.
    fn line(&self, base: Option<&Path>) -> String {
        let mut properties = Vec::new();
        if let Some(location) = self.location {
            properties.push(format!("file={}", escape_property(&relative_to(&location.file, base))));
            if location.line > 0 {
                properties.push(format!("line={}", location.line));
            }
        }
        properties.push(format!("title={}", escape_property(self.code.as_str())));
        format!("::{} {}::{}", self.level.command(), properties.join(","), escape_data(&self.message))
    }
}

/// `file` relative to `base` when it lies under it, else unchanged.
fn relative_to(file: &str, base: Option<&Path>) -> String {
    base.and_then(|base| Path::new(file).strip_prefix(base).ok())
        .map_or_else(|| file.to_owned(), |relative| relative.display().to_string())
}

/// Escapes a command's message as the runner unescapes it: `%`, carriage return and line feed.
pub(crate) fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            other => out.push(other),
        }
    }
    out
}

/// Escapes a property value (`file=`, `title=`): the message's escapes plus `:` and `,`, which end a value.
pub(crate) fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn crd_annotation(finding: &Finding) -> Annotation<'_> {
    Annotation {
        level: Level::of(finding.severity),
        location: finding.location.as_ref(),
        code: finding.code,
        message: format!("{} {}: {}", finding.crd, location_of(finding), finding.message),
    }
}

/// A lint problem the old release already had is not this change's doing (and does not count for
/// `--fail-on`), so it is a notice whatever its severity. The message names the object already.
fn operator_annotation(finding: &OperatorFinding, is_lint: bool) -> Annotation<'_> {
    let inherited = is_lint && !finding.regression;
    let before = if inherited { " (already in the old release)" } else { "" };
    Annotation {
        level: if inherited { Level::Notice } else { Level::of(finding.severity) },
        location: finding.location.as_ref(),
        code: finding.code,
        message: format!("{}{before}", finding.message),
    }
}

fn object_annotation(finding: &ObjectFinding) -> Annotation<'_> {
    let crd = finding.key.crd.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
    Annotation {
        level: Level::of(finding.key.severity),
        location: finding.source.as_ref(),
        code: finding.key.code,
        message: format!(
            "{} {}{crd} {}: {}",
            finding.object.kind,
            finding.object.display_name(),
            finding.key.path,
            finding.key.message
        ),
    }
}

/// One annotation per group, on the first object's file and line, naming how many objects and which.
fn group_annotation(group: &FindingGroup) -> Annotation<'_> {
    let crd = group.key.crd.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
    let first = group.objects.first();
    let kind = first.map(|o| o.object.kind.as_str()).unwrap_or_default();
    Annotation {
        level: Level::of(group.key.severity),
        location: first.and_then(|o| o.source.as_ref()),
        code: group.key.code,
        message: format!(
            "{} object(s){crd} {}: {} ({kind} {})",
            group.count,
            group.key.path,
            group.key.message,
            group.objects_line()
        ),
    }
}

fn write_annotations<'a>(out: &mut impl Write, annotations: impl Iterator<Item = Annotation<'a>>) {
    let base = std::env::current_dir().ok();
    for annotation in annotations {
        let _ = writeln!(out, "{}", annotation.line(base.as_deref()));
    }
}

/// The objects' annotations: one per group, or one per finding with `--each` (streamed from the spool).
fn write_objects(out: &mut Pieces<'_>, view: &ValidationView<'_>) -> std::io::Result<()> {
    match view.findings_one_by_one() {
        Some(each) => {
            let base = std::env::current_dir().ok();
            for finding in each {
                let _ = writeln!(out, "{}", object_annotation(&finding?).line(base.as_deref()));
            }
            Ok(())
        }
        None => {
            write_annotations(out, view.groups.iter().map(|g| group_annotation(g)));
            Ok(())
        }
    }
}

/// The plan's findings (CRD, operator, readiness lint, and objects with `--objects`), then the verdict line.
pub(super) fn render(report: &PlanReport<'_>, out: &mut Pieces<'_>) -> std::io::Result<()> {
    write_annotations(out, report.findings.iter().map(|f| crd_annotation(f)));
    write_annotations(out, report.operator_findings.iter().map(|f| operator_annotation(f, false)));
    write_annotations(out, report.lint.iter().map(|f| operator_annotation(f, true)));
    if let Some(objects) = &report.objects {
        write_objects(out, objects)?;
    }
    let _ = writeln!(out, "{}", report.verdict_line());
    Ok(())
}

/// The objects' findings, then the verdict line.
pub(super) fn write_validation(out: &mut Pieces<'_>, view: &ValidationView<'_>) -> std::io::Result<()> {
    write_objects(out, view)?;
    let _ = writeln!(out, "{}", view.verdict_line());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_escapes_percent_and_line_breaks_only() {
        assert_eq!(escape_data("100% done\r\nnext: a, b"), "100%25 done%0D%0Anext: a, b");
    }

    #[test]
    fn percent_is_escaped_first_so_escapes_are_not_doubled() {
        assert_eq!(escape_data("%0A"), "%250A");
        assert_eq!(escape_property("%3A"), "%253A");
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(escape_property("C:\\a,b\n%"), "C%3A\\a%2Cb%0A%25");
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(escape_data("widgets.demo.example.com v1 .spec.mode"), "widgets.demo.example.com v1 .spec.mode");
        assert_eq!(escape_property("examples/demo-operator/v1.1.0/crd.yaml"), "examples/demo-operator/v1.1.0/crd.yaml");
    }

    fn annotation(severity: Severity, location: Option<&SourceLocation>, message: &str) -> String {
        Annotation { level: Level::of(severity), location, code: FindingCode::DataPruned, message: message.to_owned() }
            .line(None)
    }

    #[test]
    fn files_under_the_working_directory_are_named_relative_to_it() {
        let base = Path::new("/home/runner/work/repo");
        assert_eq!(relative_to("/home/runner/work/repo/charts/crds.yaml", Some(base)), "charts/crds.yaml");
        assert_eq!(relative_to("/elsewhere/crds.yaml", Some(base)), "/elsewhere/crds.yaml");
        assert_eq!(relative_to("charts/crds.yaml", Some(base)), "charts/crds.yaml");
    }

    #[test]
    fn severities_map_to_error_warning_and_notice() {
        let levels: Vec<String> = [Severity::Blocker, Severity::Breaking, Severity::Warning, Severity::Info]
            .into_iter()
            .map(|s| annotation(s, None, "m").split(' ').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(levels, ["::error", "::error", "::warning", "::notice"]);
    }

    #[test]
    fn a_located_finding_names_file_and_line_with_escaped_values() {
        let location = SourceLocation { file: "dir,1/a:b.yaml".to_owned(), line: 12 };
        assert_eq!(
            annotation(Severity::Breaking, Some(&location), "lost: a, b\nsecond"),
            format!("::error file=dir%2C1/a%3Ab.yaml,line=12,title={}::lost: a, b%0Asecond", FindingCode::DataPruned)
        );
    }

    #[test]
    fn a_location_without_a_line_still_names_the_file() {
        let location = SourceLocation { file: "crd.yaml".to_owned(), line: 0 };
        let line = annotation(Severity::Warning, Some(&location), "m");
        assert!(line.starts_with("::warning file=crd.yaml,title="), "{line}");
    }

    #[test]
    fn no_location_means_no_file_property() {
        let line = annotation(Severity::Info, None, "m");
        assert_eq!(line, format!("::notice title={}::m", FindingCode::DataPruned));
    }
}
