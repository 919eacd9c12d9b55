use super::*;
use crate::engine::status::Heartbeat;

fn run() -> RunView {
    RunView { journal: fixture::journal(), lease: None, heartbeat: Heartbeat::None }
}

/// The SVG parsed as XML (the test fails on a document that is not).
fn parse(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("the chart is not XML: {e}\n{svg}"))
}

fn texts(document: &roxmltree::Document<'_>) -> Vec<String> {
    document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

/// The polylines drawn in `colour` (plotters writes `stroke="#RRGGBB"`), each as its number of points; the
/// last is the legend's sample (two points).
fn lines_in(document: &roxmltree::Document<'_>, colour: &str) -> Vec<usize> {
    document
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke").is_some_and(|s| s.eq_ignore_ascii_case(colour)))
        .map(|n| n.attribute("points").unwrap_or_default().split_whitespace().count())
        .collect()
}

#[test]
fn names_are_made_safe_for_files_and_links() {
    assert_eq!(slug("metric reconcile-error-ratio"), "metric-reconcile-error-ratio");
    assert_eq!(slug("observedGeneration"), "observedgeneration");
    assert_eq!(slug("../../etc/passwd"), "etc-passwd");
    assert_eq!(slug("???"), "run");
}

#[test]
fn every_signal_gets_its_own_chart_file() {
    let mut journal = fixture::journal();
    let files = chart_files(&journal);
    assert_eq!(
        files,
        vec![
            ("conditions".to_owned(), "demo-operator-v1-1-conditions.svg".to_owned()),
            (
                "metric reconcile-error-ratio".to_owned(),
                "demo-operator-v1-1-metric-reconcile-error-ratio.svg".to_owned()
            ),
        ]
    );
    // Two signals that read alike as file names still get two files.
    let canary = journal.canary.as_mut().unwrap();
    canary.intervals[0].signals[1].0.signal = "Conditions!".into();
    let names: Vec<String> = chart_files(&journal).into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        names,
        [
            "demo-operator-v1-1-conditions.svg",
            "demo-operator-v1-1-conditions-2.svg",
            "demo-operator-v1-1-metric-reconcile-error-ratio.svg"
        ]
    );
}

#[test]
fn a_chart_has_both_series_a_legend_and_a_gap_where_an_interval_was_not_measured() {
    let svg = chart_svg(&fixture::intervals(), "conditions").unwrap();
    let document = parse(&svg);
    // The canary could not be read in the second interval: two pieces of one point each (each value is
    // also a dot), then the legend's sample.
    assert_eq!(lines_in(&document, "#E67800"), [1, 1, 2], "{svg}");
    assert_eq!(lines_in(&document, "#1F64B4"), [3, 2], "{svg}");
    let texts = texts(&document);
    for name in ["conditions", "canary", "baseline", "seconds since the analysis began", "count"] {
        assert!(texts.iter().any(|t| t == name), "no text {name:?} in {texts:?}");
    }
    assert!(!texts.iter().any(|t| t.starts_with("max")), "conditions has no max: {texts:?}");
}

#[test]
fn a_chart_without_a_baseline_draws_the_canary_and_the_limit() {
    let svg = chart_svg(&fixture::intervals(), "metric reconcile-error-ratio").unwrap();
    let document = parse(&svg);
    assert_eq!(lines_in(&document, "#E67800"), [3, 2], "{svg}");
    assert!(lines_in(&document, "#1F64B4").is_empty(), "{svg}");
    let texts = texts(&document);
    assert!(texts.iter().any(|t| t == "max 0.050"), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "baseline"), "{texts:?}");
}

#[test]
fn a_chart_of_an_analysis_that_never_measured_still_draws() {
    let svg = chart_svg(&[], "conditions").unwrap();
    assert!(texts(&parse(&svg)).iter().any(|t| t == "canary"));
}

#[test]
fn the_reports_are_written_beside_their_charts() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("reports/new");
    let written = write_reports(&target, &[run()]).unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        [
            "demo-operator-v1-1.md",
            "demo-operator-v1-1-conditions.svg",
            "demo-operator-v1-1-metric-reconcile-error-ratio.svg"
        ]
    );
    let markdown = std::fs::read_to_string(target.join("demo-operator-v1-1.md")).unwrap();
    for (_, file) in chart_files(&run().journal) {
        assert!(markdown.contains(&format!("]({file})")), "{file} is not linked");
        parse(&std::fs::read_to_string(target.join(&file)).unwrap());
    }
    let mut present: Vec<_> = std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name()).collect();
    present.sort();
    assert_eq!(present.len(), 3, "no temporary file is left: {present:?}");
}

#[test]
fn a_directory_that_cannot_be_created_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let target = file.join("reports");
    let error = write_reports(&target, &[run()]).unwrap_err();
    assert!(matches!(error, ReportError::CreateDir { .. }), "{error:?}");
    assert!(error.to_string().contains(&target.display().to_string()), "{error}");
}
