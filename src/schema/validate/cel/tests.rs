use super::*;
use serde_json::json;

fn rules(schema: Json) -> CelRules {
    let schema: Schema = serde_json::from_value(schema).expect("test schema parses");
    CelRules::compile(&schema)
}

/// A root schema with `spec` holding the given properties and rules.
fn spec_schema(properties: Json, validations: Json) -> Json {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {"type": "object", "properties": properties, "x-kubernetes-validations": validations}
        }
    })
}

fn object(spec: Json) -> Json {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "ns"}, "spec": spec})
}

fn violated(path: &str, rule: &str, message: &str) -> CelOutcome {
    CelOutcome::Violated {
        path: path.to_owned(),
        rule: rule.to_owned(),
        message: message.to_owned(),
        reason: None,
        transition: false,
    }
}

fn assert_unevaluable(outcomes: &[CelOutcome], rule: &str) {
    assert!(
        matches!(outcomes, [CelOutcome::Unevaluable { rule: r, path, error }] if r == rule && path == ".spec" && !error.is_empty()),
        "{rule}: expected one unevaluable outcome, got {outcomes:?}"
    );
}

#[test]
fn compiled_rules_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CelRules>();
}

#[test]
fn a_schema_without_rules_is_empty_and_finds_nothing() {
    let cel = rules(spec_schema(json!({"x": {"type": "string"}}), json!([])));
    assert!(cel.is_empty());
    assert!(cel.evaluate(&object(json!({"x": "a"}))).is_empty());
    assert!(!rules(spec_schema(json!({}), json!([{"rule": "true"}]))).is_empty());
}

#[test]
fn a_false_rule_is_violated_with_its_message_and_a_true_one_is_silent() {
    let rule = "self.minReplicas <= self.replicas";
    let cel = rules(spec_schema(
        json!({"minReplicas": {"type": "integer"}, "replicas": {"type": "integer"}}),
        json!([{"rule": rule, "message": "replicas below the minimum ", "reason": "FieldValueForbidden"}]),
    ));
    assert_eq!(cel.evaluate(&object(json!({"minReplicas": 1, "replicas": 3}))), vec![]);
    assert_eq!(
        cel.evaluate(&object(json!({"minReplicas": 5, "replicas": 3}))),
        vec![CelOutcome::Violated {
            path: ".spec".to_owned(),
            rule: rule.to_owned(),
            message: "replicas below the minimum".to_owned(),
            reason: Some("FieldValueForbidden".to_owned()),
            transition: false,
        }]
    );
}

#[test]
fn message_expression_gives_the_message_and_falls_back_when_unusable() {
    let properties = json!({"replicas": {"type": "integer"}, "name": {"type": "string"}});
    let rule = "self.replicas < 10";
    let cel = rules(spec_schema(
        properties.clone(),
        json!([{
            "rule": rule,
            "message": "static",
            "messageExpression": "'replicas of ' + self.name + ' is ' + string(self.replicas) + ', above 9'"
        }]),
    ));
    let spec = json!({"replicas": 12, "name": "db"});
    assert_eq!(cel.evaluate(&object(spec.clone())), vec![violated(".spec", rule, "replicas of db is 12, above 9")]);

    // A messageExpression that fails, yields a non-string or an empty string falls back to `message`.
    for expression in ["self.missing", "self.replicas", "'  '"] {
        let cel = rules(spec_schema(
            properties.clone(),
            json!([{"rule": rule, "message": "static", "messageExpression": expression}]),
        ));
        assert_eq!(cel.evaluate(&object(spec.clone())), vec![violated(".spec", rule, "static")], "{expression}");
    }
    let cel = rules(spec_schema(properties, json!([{"rule": rule}])));
    assert_eq!(cel.evaluate(&object(spec)), vec![violated(".spec", rule, "failed rule: self.replicas < 10")]);
}

#[test]
fn field_path_is_appended_to_the_rule_path() {
    let rule = "self.labels.all(k, k.size() < 5)";
    let cel = rules(spec_schema(
        json!({"labels": {"type": "object", "additionalProperties": {"type": "string"}}}),
        json!([{"rule": rule, "message": "short keys", "fieldPath": ".labels['app.kubernetes.io/name']"}]),
    ));
    let outcomes = cel.evaluate(&object(json!({"labels": {"app.kubernetes.io/name": "x"}})));
    assert_eq!(outcomes, vec![violated(".spec.labels[\"app.kubernetes.io/name\"]", rule, "short keys")]);
}

#[test]
fn transition_rules_see_old_self_equal_to_self() {
    let immutable = "self == oldSelf";
    let growing = "self.size > oldSelf.size";
    let cel = rules(spec_schema(
        json!({"size": {"type": "integer"}, "cluster": {"type": "object", "properties": {"name": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": immutable, "message": "cluster is immutable"}]}}),
        json!([{"rule": growing, "message": "size may only grow"}]),
    ));
    let outcomes = cel.evaluate(&object(json!({"size": 3, "cluster": {"name": "a"}})));
    // On a no-op update `self == oldSelf` holds; `self.size > oldSelf.size` cannot, and is never ratcheted.
    assert_eq!(
        outcomes,
        vec![CelOutcome::Violated {
            path: ".spec".to_owned(),
            rule: growing.to_owned(),
            message: "size may only grow".to_owned(),
            reason: None,
            transition: true,
        }]
    );
}

#[test]
fn transition_rules_run_only_where_items_correlate() {
    let rule = "self.v > oldSelf.v";
    let item = json!({"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": rule}]});
    let mut map_list = json!({"type": "array", "items": item.clone()});
    map_list["x-kubernetes-list-type"] = json!("map");
    map_list["x-kubernetes-list-map-keys"] = json!(["name"]);
    let cel = rules(spec_schema(json!({"atomic": {"type": "array", "items": item}, "keyed": map_list}), json!([])));
    let outcomes = cel.evaluate(&object(json!({"atomic": [{"name": "a", "v": 1}], "keyed": [{"name": "a", "v": 1}]})));
    let paths: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            CelOutcome::Violated { path, transition: true, .. } => path.as_str(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(paths, vec![".spec.keyed[0]"], "items of an atomic list have no oldSelf on update");
}

#[test]
fn optional_old_self_binds_an_optional() {
    let rule = "!oldSelf.hasValue() || self.v == oldSelf.value().v + 1";
    let item = json!({"type": "object", "properties": {"v": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": rule, "optionalOldSelf": true}]});
    let cel = rules(spec_schema(json!({"one": item.clone(), "list": {"type": "array", "items": item}}), json!([])));
    let outcomes = cel.evaluate(&object(json!({"one": {"v": 1}, "list": [{"v": 1}]})));
    // `.one` has an old value (itself), so the rule fails; list items have none, so oldSelf is empty and it holds.
    assert!(
        matches!(outcomes.as_slice(), [CelOutcome::Violated { path, transition: true, .. }] if path == ".spec.one"),
        "{outcomes:?}"
    );
}

#[test]
fn interpreter_gaps_are_unevaluable_never_pass_or_fail() {
    let properties = json!({"x": {"type": "string"}, "m": {"type": "object", "additionalProperties": {"type": "string"}},
        "l": {"type": "array", "items": {"type": "integer"}}});
    for rule in [
        "type(self.x) == string",
        "cel.bind(v, self.x, v.size() > 100)",
        "self.m.all(k, v, v.size() > 100)",
        "self.l.exists(i, v, v > 100)",
        "self.l.sortBy(v, v) == [100]",
        "self.l.transformList(i, v, v * 2) == [100]",
        "dyn(self.x) == 'never'",
        "google.protobuf.Duration{seconds: 1} == duration('1s')",
        "self.x",
        "self.x.size() > ",
    ] {
        let cel = rules(spec_schema(properties.clone(), json!([{"rule": rule}])));
        let outcomes = cel.evaluate(&object(json!({"x": "a", "m": {"k": "v"}, "l": [1, 2]})));
        assert_unevaluable(&outcomes, rule);
    }
}

#[test]
fn optional_field_selection_is_evaluated() {
    let properties = json!({"x": {"type": "string"}, "y": {"type": "string"},
        "ref": {"type": "object", "properties": {"name": {"type": "string"}}}});
    let rule = "self.?x.orValue('') == self.?y.orValue('') && self.?ref.?name.orValue('n') == 'n'";
    let cel = rules(spec_schema(properties, json!([{"rule": rule}])));
    assert_eq!(cel.evaluate(&object(json!({"x": "a", "y": "a"}))), vec![]);
    assert_eq!(cel.evaluate(&object(json!({"x": "a", "y": "a", "ref": {}}))), vec![]);
    assert_eq!(cel.evaluate(&object(json!({"ref": {"name": "n"}}))), vec![]);
    let failed = vec![violated(".spec", rule, &format!("failed rule: {rule}"))];
    assert_eq!(cel.evaluate(&object(json!({"x": "a"}))), failed);
    assert_eq!(cel.evaluate(&object(json!({"ref": {"name": "m"}}))), failed);
}

#[test]
fn a_runtime_error_the_api_server_raises_too_is_a_violation() {
    let rule = "self.mode == 'fast' || self.replicas > 1";
    let cel = rules(spec_schema(
        json!({"mode": {"type": "string"}, "replicas": {"type": "integer"}}),
        json!([{"rule": rule, "message": "needs replicas"}]),
    ));
    let outcomes = cel.evaluate(&object(json!({"mode": "slow"})));
    assert_eq!(outcomes, vec![violated(".spec", rule, "no such key: replicas evaluating rule: needs replicas")]);
    assert_eq!(cel.evaluate(&object(json!({"mode": "fast"}))), vec![]);
}

#[test]
fn a_rule_that_is_not_a_bool_is_unevaluable() {
    let cel = rules(spec_schema(json!({"x": {"type": "string"}}), json!([{"rule": "self.x"}])));
    assert_unevaluable(&cel.evaluate(&object(json!({"x": "a"}))), "self.x");
}

#[test]
fn rules_run_for_every_list_item_and_map_value_with_concrete_paths() {
    let rule = "self.port > 0";
    let entry = json!({"type": "object", "properties": {"port": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": rule, "message": "port must be positive"}]});
    let cel = rules(spec_schema(
        json!({"ports": {"type": "array", "items": entry.clone()},
               "byName": {"type": "object", "additionalProperties": entry}}),
        json!([]),
    ));
    let outcomes = cel.evaluate(&object(json!({
        "ports": [{"port": 1}, {"port": 0}, {"port": -1}],
        "byName": {"web": {"port": 0}, "app.metrics": {"port": 8080}}
    })));
    let message = "port must be positive";
    assert_eq!(
        outcomes,
        vec![
            violated(".spec.byName.web", rule, message),
            violated(".spec.ports[1]", rule, message),
            violated(".spec.ports[2]", rule, message),
        ]
    );
}

#[test]
fn all_of_rules_run_and_any_of_rules_do_not() {
    let cel = rules(json!({
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "allOf": [{"x-kubernetes-validations": [{"rule": "self.a > 5", "message": "from allOf"}]},
                      {"properties": {"a": {"x-kubernetes-validations": [{"rule": "self > 7", "message": "nested allOf"}]}}}],
            "anyOf": [{"x-kubernetes-validations": [{"rule": "self.a > 100", "message": "from anyOf"}]}]
        }}
    }));
    let outcomes = cel.evaluate(&json!({"spec": {"a": 1}}));
    assert_eq!(
        outcomes,
        vec![violated(".spec", "self.a > 5", "from allOf"), violated(".spec.a", "self > 7", "nested allOf")]
    );
}

#[test]
fn property_names_are_escaped_and_root_metadata_is_limited() {
    let cel = rules(json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object"},
            "spec": {"type": "object", "properties": {
                "namespace": {"type": "string"}, "x-prop": {"type": "string"}, "foo_bar": {"type": "string"}
            }}
        },
        "x-kubernetes-validations": [
            {"rule": "self.spec.__namespace__ == self.spec.x__dash__prop && self.spec.foo_bar == 'c'"},
            {"rule": "self.metadata.name.startsWith('w') && self.kind == 'Widget'"},
            {"rule": "!has(self.metadata.__namespace__)"}
        ]
    }));
    let outcomes = cel.evaluate(&object(json!({"namespace": "a", "x-prop": "a", "foo_bar": "c"})));
    assert_eq!(outcomes, vec![]);
}

#[test]
fn null_values_are_not_validated() {
    let cel = rules(spec_schema(
        json!({"x": {"type": "string", "nullable": true, "x-kubernetes-validations": [{"rule": "self.size() > 3"}]}}),
        json!([]),
    ));
    assert_eq!(cel.evaluate(&object(json!({"x": null}))), vec![]);
    assert_eq!(cel.evaluate(&object(json!({"x": "ab"}))).len(), 1);
}

#[test]
fn formatted_strings_are_timestamps_and_durations() {
    let cel = rules(spec_schema(
        json!({"at": {"type": "string", "format": "date-time"}, "every": {"type": "string", "format": "duration"},
               "port": {"x-kubernetes-int-or-string": true}}),
        json!([
            {"rule": "self.at < timestamp('2030-01-01T00:00:00Z')"},
            {"rule": "self.every >= duration('1m')"},
            {"rule": "type(self.port) == int ? self.port > 0 : self.port.size() > 0"}
        ]),
    ));
    let outcomes = cel.evaluate(&object(json!({"at": "2024-05-01T10:00:00Z", "every": "90s", "port": 8080})));
    // Only the int-or-string rule, which needs type(), is left unevaluated.
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert!(matches!(&outcomes[0], CelOutcome::Unevaluable { rule, .. } if rule.starts_with("type(")));
}

#[test]
fn projection_does_not_change_results() {
    // `has()` and selection on a projected self behave as on the whole value.
    let rule = "!(has(self.imageCatalogRef) && has(self.imageName))";
    let cel = rules(spec_schema(
        json!({"imageName": {"type": "string"}, "imageCatalogRef": {"type": "object"}, "other": {"type": "string"}}),
        json!([{"rule": rule, "message": "mutually exclusive"}]),
    ));
    let spec_node = cel.root.as_ref().and_then(|root| root.properties.get("spec")).expect("spec node");
    assert!(spec_node.projection.is_some(), "the rule only selects fields of self");
    assert_eq!(cel.evaluate(&object(json!({"imageName": "pg", "other": "x"}))), vec![]);
    assert_eq!(
        cel.evaluate(&object(json!({"imageName": "pg", "imageCatalogRef": {}}))),
        vec![violated(".spec", rule, "mutually exclusive")]
    );
}

/// The CNPG v1.30.0 CRDs with their rules, or None (and a printed note) when the corpus is absent.
fn cloudnative_pg_rules() -> Option<BTreeMap<String, CelRules>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/crds/cloudnative-pg/v1.30.0/cnpg-1.30.0.yaml");
    if !path.exists() {
        println!("skipping: corpus not found at {}", path.display());
        return None;
    }
    let text = std::fs::read_to_string(&path).expect("corpus file reads");
    let mut rules = BTreeMap::new();
    for document in serde_norway::Deserializer::from_str(&text) {
        let Ok(value) = <Json as serde::Deserialize>::deserialize(document) else { continue };
        if value.get("kind").and_then(Json::as_str) != Some("CustomResourceDefinition") {
            continue;
        }
        let crd = crate::manifest::Crd::from_value(value).expect("CNPG CRD parses");
        let schema = crd.versions[0].schema.as_ref().expect("CNPG CRDs have schemas");
        rules.insert(crd.name.clone(), CelRules::compile(schema));
    }
    Some(rules)
}

#[test]
fn cloudnative_pg_rules_all_compile() {
    let Some(rules) = cloudnative_pg_rules() else { return };
    assert!(rules.len() >= 10, "expected the CNPG CRDs, got {}", rules.len());
    for (name, cel) in &rules {
        let errors = collect_compile_errors(cel.root.as_ref());
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

#[test]
fn cloudnative_pg_objects_pass_or_fail_as_the_api_server_decides() {
    let Some(rules) = cloudnative_pg_rules() else { return };
    let cluster = |spec: Json| {
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "pg", "namespace": "db"}, "spec": spec})
    };
    let clusters = &rules["clusters.postgresql.cnpg.io"];
    let valid = json!({
        "instances": 3, "imageName": "ghcr.io/cloudnative-pg/postgresql:17.5", "serviceAccountName": "pg",
        "bootstrap": {"initdb": {"database": "app", "owner": "app", "localeProvider": "icu", "icuLocale": "en-US"}},
        "postgresql": {"synchronous": {"method": "any", "number": 1, "dataDurability": "required"}},
        "storage": {"size": "1Gi"}
    });
    assert_eq!(clusters.evaluate(&cluster(valid.clone())), vec![]);

    let mut both_images = valid.clone();
    both_images["imageCatalogRef"] =
        json!({"apiGroup": "postgresql.cnpg.io", "kind": "ImageCatalog", "name": "pg", "major": 17});
    let mut wrong_locale = valid;
    wrong_locale["bootstrap"]["initdb"]["localeProvider"] = json!("libc");
    wrong_locale["postgresql"]["synchronous"]["number"] = json!(0);
    let messages = |spec: Json| -> Vec<(String, String)> {
        clusters
            .evaluate(&cluster(spec))
            .into_iter()
            .map(|outcome| match outcome {
                CelOutcome::Violated { path, message, transition: false, .. } => (path, message),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    };
    assert_eq!(
        messages(both_images),
        vec![(".spec".to_owned(), "imageName and imageCatalogRef are mutually exclusive".to_owned())]
    );
    assert_eq!(
        messages(wrong_locale),
        vec![
            (
                ".spec.bootstrap.initdb".to_owned(),
                "icuLocale is only available when localeProvider is set to `icu`".to_owned()
            ),
            (
                ".spec.postgresql.synchronous.number".to_owned(),
                "The number of synchronous replicas should be greater than zero".to_owned()
            ),
        ]
    );

    let database = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Database",
        "metadata": {"name": "app", "namespace": "db"},
        "spec": {"cluster": {"name": "pg"}, "name": "app", "owner": "app", "localeProvider": "icu", "icuLocale": "en",
                 "servers": [{"name": "s", "fdw": "postgres_fdw", "usage": [{"name": "app", "type": "grant"}]}]}});
    assert_eq!(rules["databases.postgresql.cnpg.io"].evaluate(&database), vec![]);
}

fn collect_compile_errors(node: Option<&RuleNode>) -> Vec<String> {
    let Some(node) = node else { return Vec::new() };
    let mut errors: Vec<String> =
        node.rules.iter().filter_map(|rule| rule.compile_error().map(|e| format!("{}: {e}", rule.text()))).collect();
    for child in node.properties.values() {
        errors.extend(collect_compile_errors(Some(child)));
    }
    errors.extend(collect_compile_errors(node.items.as_deref()));
    errors.extend(collect_compile_errors(node.map_values.as_deref()));
    errors
}

#[test]
fn string_size_counts_code_points() {
    let cel = rules(spec_schema(
        json!({"name": {"type": "string", "x-kubernetes-validations": [{"rule": "self.size() <= 5 && size(self) == 5"}]}}),
        json!([]),
    ));
    assert_eq!(cel.evaluate(&object(json!({"name": "héllo"}))), vec![]);
    assert_eq!(cel.evaluate(&object(json!({"name": "hélloo"}))).len(), 1);
}
