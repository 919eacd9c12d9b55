//! The tests that need no cluster: the CLI, loading, the rules and their fixtures, plan files, text and other
//! outputs, properties, the corpus, the upstream samples and the docs (each file under tests/ is one module
//! here; the docs' shell blocks start simulators of their own).
//! Grouped into one binary so the library links once for all of them.

#[macro_use]
#[path = "common/mod.rs"]
mod common;

#[path = "cli.rs"]
mod cli;
#[path = "corpus.rs"]
mod corpus;
#[path = "docs.rs"]
mod docs;
#[path = "helm_charts.rs"]
mod helm_charts;
#[path = "in_cluster.rs"]
mod in_cluster;
#[path = "input_files.rs"]
mod input_files;
#[path = "journal_size.rs"]
mod journal_size;
#[path = "loading.rs"]
mod loading;
#[path = "operator.rs"]
mod operator;
#[path = "plan_file.rs"]
mod plan_file;
#[path = "plan_flow.rs"]
mod plan_flow;
#[path = "plan_text.rs"]
mod plan_text;
#[path = "properties.rs"]
mod properties;
#[path = "rules.rs"]
mod rules;
#[path = "samples.rs"]
mod samples;
#[path = "steps.rs"]
mod steps;
#[path = "surfaces.rs"]
mod surfaces;
#[path = "validate.rs"]
mod validate;

/// Every file under tests/ is a module of one of the test binaries: with `autotests = false` a new file no
/// root names would otherwise never run.
#[test]
fn every_test_file_is_a_module_of_a_test_binary() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let roots = ["offline.rs", "cluster.rs"];
    // The roots' modules, and theirs in turn (a module may hold modules of its own).
    let mut reached: std::collections::BTreeSet<String> = roots.iter().map(|r| r.to_string()).collect();
    let mut unread: Vec<String> = reached.iter().cloned().collect();
    while let Some(file) = unread.pop() {
        let text = std::fs::read_to_string(tests.join(&file)).unwrap();
        for declared in text.split("#[path = \"").skip(1).filter_map(|rest| rest.split('"').next()) {
            if reached.insert(declared.to_owned()) && !declared.contains('/') {
                unread.push(declared.to_owned());
            }
        }
    }
    for entry in std::fs::read_dir(&tests).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".rs") && !roots.contains(&name.as_str()) {
            assert!(
                reached.contains(&name),
                "tests/{name} is in no test binary: add `#[path = \"{name}\"] mod ...;` to tests/offline.rs or cluster.rs"
            );
        }
    }
}
