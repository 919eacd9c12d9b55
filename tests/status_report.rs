//! `status -o markdown` and `--report-dir` end to end: the demo's canary on the simulator through the real
//! binary, then its run as a markdown report on standard output and as files with a chart per signal.

use crate::common;

use common::canary::{apply, demo_cluster, tool, CanaryPlan, ALL_SIGNALS};

/// Every `](file.svg)` link of a markdown report, in order.
fn chart_links(markdown: &str) -> Vec<String> {
    markdown
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')'))
        .map(|(target, _)| target.to_owned())
        .filter(|target| target.ends_with(".svg"))
        .collect()
}

/// The texts of an SVG document, which must parse as XML.
fn svg_texts(svg: &str) -> Vec<String> {
    let document = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("the chart is not XML: {e}"));
    document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promoted_canary_reports_as_markdown_and_as_files_with_a_chart_per_signal() {
    let cluster = demo_cluster().await;
    // 6 intervals of 1s: the churn (from 5s on) changes nearly every spec meanwhile, so the canary's 4 objects
    // have changes to catch up with; with 2 intervals they were all left alone about once in ten runs (no data).
    let plan = CanaryPlan::new("registry.example/demo-operator:v1.1.0", ALL_SIGNALS, true).timed("1s", 6, "1500ms");
    let (code, output) = apply(&cluster, &plan).await;
    assert_eq!(code, 0, "{output}");

    let (code, markdown) = tool(&cluster, &["status", "-o", "markdown"]).await;
    assert_eq!(code, 0, "{markdown}");
    assert!(markdown.starts_with("# Upgrade run `"), "{markdown}");
    assert!(markdown.contains("| State | **promoted** |"), "{markdown}");
    assert!(markdown.contains("operator image `registry.example/demo-operator:v1.0.0`"), "{markdown}");
    assert!(markdown.contains("- Cohorts: 4 canary, 4 baseline objects\n"), "{markdown}");
    assert!(markdown.contains("- Decision: **passed**"), "{markdown}");
    assert!((1..=6).all(|i| markdown.contains(&format!("| #{i} | "))), "{markdown}");
    assert!(chart_links(&markdown).is_empty(), "no chart without --report-dir: {markdown}");

    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let reports_arg = reports.display().to_string();
    let (code, output) = tool(&cluster, &["status", "-o", "markdown", "--report-dir", &reports_arg]).await;
    assert_eq!(code, 0, "{output}");
    let written = std::fs::read_to_string(reports.join("demo-operator-v1-1.md")).expect("the report is written");
    // The same report as on standard output, but for the chart links.
    assert!(written.starts_with(markdown.split("\n### Analysis").next().unwrap()), "{written}");
    let links = chart_links(&written);
    assert_eq!(links.len(), 6, "a chart per signal of the plan: {links:?}");
    for link in &links {
        assert!(output.contains(&reports.join(link).display().to_string()), "{link} not listed in {output}");
        let svg = std::fs::read_to_string(reports.join(link)).unwrap_or_else(|e| panic!("{link}: {e}"));
        let texts = svg_texts(&svg);
        for legend in ["canary", "baseline"] {
            assert!(texts.iter().any(|t| t == legend), "{link} has no {legend} legend: {texts:?}");
        }
    }
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 7, "the report, its charts and nothing else");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_dir_needs_markdown_and_a_directory_that_can_be_made() {
    let cluster = demo_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = tool(&cluster, &["status", "--report-dir", &dir.path().display().to_string()]).await;
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("use it with `-o markdown`"), "{output}");
    let (code, output) = tool(&cluster, &["status", "-o", "markdown"]).await;
    assert_eq!(code, 3, "no run yet: {output}");
    assert!(
        output.contains("no runs") && output.contains("next: `operator-upgrade apply -f FILE` starts one"),
        "{output}"
    );
}
