use super::*;

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse_str(text, Path::new("s.yaml"))
}

/// The message of a scenario that must be refused.
fn refusal(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn churn_entries_load_and_a_bad_one_is_named_with_its_line() {
    let good = "churn:
  - {group: g.example, kind: Widget, everyMs: 2000, count: 3, field: .spec.a.b, values: [1, 2],
     namespace: default, labelSelector: tier=gold}
";
    let scenario = parse(good).unwrap();
    assert_eq!(scenario.churn[0].field_path().unwrap(), ["spec", "a", "b"]);
    assert_eq!(scenario.churn[0].label_selector.as_deref(), Some("tier=gold"));

    let first = "  - {group: g.example, kind: Widget, count: 1, field: .spec.a, values: [1], everyMs: 10}";
    let entry = |rest: &str| format!("churn:\n{first}\n  - {{group: g.example, kind: Gadget, count: 1, {rest}}}\n");
    let cases = [
        ("everyMs: 0, field: .spec.a, values: [1]", "churn[1].everyMs: must be at least 1"),
        ("everyMs: 5, field: .spec.a, values: []", "churn[1].values: must not be empty"),
        ("everyMs: 5, field: spec.a, values: [1]", "churn[1].field: field \"spec.a\" must start with '.'"),
        ("everyMs: 5, field: .spec..a, values: [1]", "dotted keys"),
        ("everyMs: 5, field: '.spec.a[0]', values: [1]", "dotted keys"),
        ("everyMs: 5, field: .status.a, values: [1]", "not status"),
        ("everyMs: 5, field: .metadata.labels.a, values: [1]", "not metadata"),
        (
            "everyMs: 5, field: .spec.a, values: [1], labelSelector: 'tier in gold'",
            "churn[1].labelSelector: invalid label selector",
        ),
    ];
    for (rest, why) in cases {
        let message = refusal(&entry(rest));
        // The entry is written in flow style: its line is the line of its dash.
        assert!(message.starts_with("s.yaml:3: churn[1]") && message.contains(why), "{rest}: {message}");
    }
}

/// A population whose template is `template` (indented under `template:`).
fn population(template: &str) -> String {
    format!("seed: 1\npopulations:\n  - count: 2\n    namePrefix: w-\n    template:\n{template}")
}

const WIDGET: &str = "      apiVersion: g.example/v1\n      kind: Widget\n";

#[test]
fn a_template_of_the_wrong_shape_is_refused_with_its_line_and_key() {
    let cases = [
        (format!("{WIDGET}      metadata: 'x'\n"), 8, "populations[0].template.metadata", "invalid type: string \"x\""),
        (format!("{WIDGET}      metadata: 7\n"), 8, "populations[0].template.metadata", "invalid type: integer `7`"),
        (format!("{WIDGET}      metadata: []\n"), 8, "populations[0].template.metadata", "invalid type: sequence"),
        (
            format!("{WIDGET}      metadata: {{labels: 5}}\n"),
            8,
            "populations[0].template.metadata.labels",
            "invalid type: integer `5`, expected a map",
        ),
        (
            format!("{WIDGET}      metadata:\n        labels: {{tier: {{gold: true}}}}\n"),
            9,
            "populations[0].template.metadata.labels.tier",
            "invalid type: map, expected a string",
        ),
        (
            format!("{WIDGET}      metadata:\n        annotations: [a]\n"),
            9,
            "populations[0].template.metadata.annotations",
            "invalid type: sequence, expected a map",
        ),
        (
            format!("{WIDGET}      metadata: {{namespce: a}}\n"),
            8,
            "populations[0].template.metadata.namespce",
            "unknown key `namespce`; did you mean `namespace`?",
        ),
        ("      'x'\n".to_owned(), 6, "populations[0].template", "invalid type: string \"x\""),
        ("      apiVersion: v1\n      spec: {}\n".to_owned(), 6, "populations[0].template", "missing field `kind`"),
    ];
    for (template, line, path, why) in cases {
        let text = population(&template);
        let message = refusal(&text);
        let located = format!("s.yaml:{line}:");
        assert!(message.starts_with(&located), "{message}\nwanted line {line} in:\n{text}");
        assert!(message.contains(&format!(" {path}: ")) && message.contains(why), "{message}\nwanted {path}: {why}");
    }
}

#[test]
fn a_template_keeps_its_body_and_metadata() {
    let text = population(&format!(
        "{WIDGET}      metadata: {{namespace: a, labels: {{tier: gold}}}}\n      spec: {{image: nginx}}\n"
    ));
    let template = &parse(&text).unwrap().populations[0].template;
    assert_eq!((template.api_version.as_str(), template.kind.as_str()), ("g.example/v1", "Widget"));
    assert_eq!(template.metadata.namespace.as_deref(), Some("a"));
    assert_eq!(template.metadata.labels["tier"], "gold");
    assert_eq!(template.body["spec"], serde_json::json!({"image": "nginx"}));
}

#[test]
fn values_that_hang_or_mean_nothing_are_refused_with_their_line() {
    let widgets = |count: &str| population(WIDGET).replace("count: 2", &format!("count: {count}"));
    let operator = |extra: &str| {
        format!("images:\n  - image: op:1\n    operator:\n      reconciles: [{{group: g, kind: K}}]\n      {extra}\n")
    };
    let fault = |rule: &str| format!("faults:\n  errors:\n    - {rule}\n");
    let cases = [
        (widgets("100000000"), "s.yaml:3: populations[0].count: 100000000 objects are more than the simulator holds"),
        (
            format!(
                "{}  - count: 6000\n    namePrefix: v-\n    template: {{apiVersion: v1, kind: ConfigMap}}\n",
                widgets("5000")
            ),
            "s.yaml:8: populations[1].count: the populations up to this one make 11000 objects",
        ),
        (
            widgets("2").replace("    template:", "    labelEvery: {n: 0, labels: {a: b}}\n    template:"),
            "s.yaml:5: populations[0].labelEvery.n: must be at least 1",
        ),
        (
            population(&format!("{WIDGET}      metadata: {{name: fixed}}\n")),
            "s.yaml:8: populations[0].template.metadata.name: names come from `namePrefix`",
        ),
        (
            population("      apiVersion: ''\n      kind: K\n"),
            "s.yaml:6: populations[0].template.apiVersion: must not be empty",
        ),
        (fault("{code: 500, rate: 2.0}"), "s.yaml:3: faults.errors[0].rate: 2 is not a rate"),
        (fault("{code: 500, rate: -0.5}"), "s.yaml:3: faults.errors[0].rate: -0.5 is not a rate"),
        (fault("{code: 500, rate: .nan}"), "s.yaml:3: faults.errors[0].rate: NaN is not a rate"),
        (fault("{code: 0, rate: 0.5}"), "s.yaml:3: faults.errors[0].code: 0 is not an error the simulator can inject"),
        (fault("{code: 200, rate: 0.5}"), "faults.errors[0].code: 200 is not an error"),
        (fault("{code: 404, rate: 0.5}"), "faults.errors[0].code: 404 is not an error"),
        (fault("{code: 500, rate: 0.5, verb: gett}"), "faults.errors[0].verb: `gett` is not a verb"),
        ("faults: {latencyMs: 100000000}\n".to_owned(), "s.yaml:1: faults.latencyMs: must be at most 60000"),
        (
            "faults:\n  watchCutAfterSeconds: 0\n".to_owned(),
            "s.yaml:2: faults.watchCutAfterSeconds: must be at least 1",
        ),
        ("tickMs: 0\n".to_owned(), "s.yaml:1: tickMs: must be from 1 to 60000"),
        ("tickMs: 18446744073709551615\n".to_owned(), "s.yaml:1: tickMs: must be from 1 to 60000"),
        (operator("errorRate: 2.0"), "s.yaml:5: images[0].operator.errorRate: 2 is not a rate"),
        (operator("metricsOnlyErrorRate: 1.5"), "s.yaml:5: images[0].operator.metricsOnlyErrorRate: 1.5 is not a rate"),
        (operator("failOn: [{}]"), "s.yaml:5: images[0].operator.failOn[0]: needs a `labelSelector` or a `field`"),
        (operator("failOn: [{equals: 1, labelSelector: a=b}]"), "images[0].operator.failOn[0].equals: compares"),
        (operator("failOn: [{labelSelector: 'a in b'}]"), "images[0].operator.failOn[0].labelSelector: invalid"),
        (
            "images:\n  - image: a:1\n  - image: b:1\n  - image: a:1\n    crashLoop: true\n".to_owned(),
            "s.yaml:4: images[2].image: `a:1` is described already by images[0]",
        ),
        (
            "churn:\n  - {group: g, kind: K, everyMs: 5, count: 100000000, field: .spec.a, values: [1]}\n".to_owned(),
            "s.yaml:2: churn[0].count: 100000000 objects a round are more than the simulator holds",
        ),
    ];
    for (text, wanted) in cases {
        let message = refusal(&text);
        assert!(message.contains(wanted), "{message}\nwanted: {wanted}\nin:\n{text}");
    }
}

#[test]
fn every_problem_is_listed_in_file_order() {
    let text = "tickMs: 0\nfaults: {errors: [{code: 0, rate: 3}]}\n";
    let message = refusal(text);
    assert!(message.starts_with("s.yaml: 3 problems in the scenario:\n  s.yaml:1: tickMs"), "{message}");
    assert!(
        message.contains("\n  s.yaml:2: faults.errors[0].code")
            && message.contains("\n  s.yaml:2: faults.errors[0].rate")
    );
}

#[test]
fn the_limits_themselves_are_accepted() {
    let text = format!(
        "tickMs: {MAX_TICK_MS}\nfaults:\n  latencyMs: {MAX_LATENCY_MS}\n  errors: [{{code: 409, rate: 0}}, {{code: 429, rate: 1}}, {{code: 503, rate: 0.5}}]\n{}",
        population(WIDGET).trim_start_matches("seed: 1\n").replace("count: 2", &format!("count: {MAX_POPULATION_OBJECTS}"))
    );
    let scenario = parse(&text).unwrap();
    assert_eq!(scenario.populations[0].count, MAX_POPULATION_OBJECTS);
}

#[test]
fn origins_name_the_file_and_line_of_a_key() {
    let text = population(WIDGET);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let scenario = Scenario::load(file.path()).unwrap();
    let path = KeyPath::root().key("populations").index(0);
    assert_eq!(scenario.origin(&path), format!("{}:3: populations[0]", file.path().display()));
    assert_eq!(Scenario::default().origin(&path), "the scenario: populations[0]");
}

#[test]
fn every_shipped_scenario_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("examples/demo-operator/scenario.yaml")];
    for entry in std::fs::read_dir(root.join("tests/fixtures/canary-plans")).unwrap() {
        let file = entry.unwrap().path().join("scenario.yaml");
        if file.is_file() {
            files.push(file);
        }
    }
    assert!(files.len() > 1, "{files:?}");
    for file in files {
        let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        assert!(!scenario.populations.is_empty(), "{}", file.display());
    }
}

#[test]
fn an_empty_scenario_file_is_an_empty_cluster() {
    for text in ["", "# nothing\n"] {
        let scenario = parse(text).unwrap();
        assert!(scenario.populations.is_empty() && scenario.manifests.is_empty());
        assert_eq!((scenario.tick_ms, scenario.watch_history), (50, 100_000));
        assert_eq!(Scenario { source: None, ..scenario }, Scenario::default(), "built in code, it is the same");
    }
}
