//! The real API server as the validator's oracle. For each release pair with objects (the demo operator's,
//! cert-manager's and CloudNativePG's, plus objects generated from each sample with one defect each), on the
//! real control plane:
//! 1. the old CRDs are applied and every object is created: the server's verdict (rejected fields, pruned
//!    and defaulted fields) is compared with the validator's findings against the old CRDs;
//! 2. the new CRDs are applied, and each created object is sent back unchanged as a server-side dry-run
//!    update: the verdict is compared with the findings `plan --objects` reports for it against the new CRDs.
//!
//! Every disagreement is a bug in one of the two (or a Kubernetes behaviour written down in [`explained`]):
//! the test fails listing them. It runs only beside the real control plane (`controlplane/run.sh cargo test`);
//! the corpus pairs also need `../shared/corpus`.

use crate::common;

use common::{eventually, TestCluster};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::Client;
use operator_upgrade::findings::{FindingCode, ObjectFinding, Severity, Side};
use operator_upgrade::manifest::{load_objects, load_side, Crd, Schema};
use operator_upgrade::schema::child_property_path;
use operator_upgrade::schema::validate::Validator;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A release pair and the objects that exist under its old release.
struct Pair {
    name: &'static str,
    old: PathBuf,
    new: PathBuf,
    objects: Vec<PathBuf>,
}

fn project(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn corpus(relative: &str) -> Option<PathBuf> {
    let path = project("../shared/corpus").join(relative);
    if path.exists() {
        return Some(path);
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipped the oracle pair {relative}: ../shared/corpus not found beside the project"
    );
    None
}

/// What the API server did with one write, or what the validator predicts it does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Verdict {
    /// The fields the write was rejected for (empty: admitted).
    rejected: BTreeSet<String>,
    /// Fields dropped from what was sent.
    pruned: BTreeSet<String>,
    /// Fields the server filled in.
    defaulted: BTreeSet<String>,
}

/// One object's comparison.
struct Comparison {
    object: String,
    stage: &'static str,
    server: Verdict,
    predicted: Verdict,
}

/// The tally of a pair.
#[derive(Default)]
struct Tally {
    compared: usize,
    agreed: usize,
    findings_matched: usize,
    disagreements: Vec<String>,
}

impl Tally {
    fn add(&mut self, comparison: Comparison) {
        self.compared += 1;
        let Comparison { object, stage, server, predicted } = comparison;
        if server == predicted {
            self.agreed += 1;
            self.findings_matched += server.rejected.len() + server.pruned.len() + server.defaulted.len();
        } else {
            self.disagreements.push(format!("{stage} {object}: server {server:?}, validator {predicted:?}"));
        }
    }
}

async fn oracle(cluster: &TestCluster, pair: &Pair) -> Tally {
    let old = load_side(&pair.old).expect("the old release loads");
    let new = load_side(&pair.new).expect("the new release loads");
    let old_validator = Validator::new(&old.crds);
    let new_validator = Validator::new(&new.crds);
    let crds: Vec<Crd> = old.crds.values().map(|loaded| loaded.crd.clone()).collect();
    let namespace = cluster.namespace(pair.name).await;
    let client = cluster.client();

    for crd in old.crds.keys().chain(new.crds.keys()) {
        remove_leftover_crd(&client, crd).await;
    }
    if let Err((crd, refusal)) = apply_crds(cluster, &pair.old).await {
        panic!("the old release's CRD {crd} does not apply: {refusal}");
    }

    let mut tally = Tally::default();
    let mut created = Vec::new();
    for (label, object) in objects_to_create(pair, &crds, &namespace) {
        let sent = object.clone();
        let outcome = write(&client, &crds, &object, WriteKind::Create).await;
        let predicted = predict(old_validator.validate(&sent, None), false);
        let server = verdict(&sent, &outcome);
        tally.add(Comparison { object: label.clone(), stage: "create", server, predicted });
        if let Ok(stored) = outcome {
            created.push((label, stored));
        }
    }

    // The API server refuses the new CRDs exactly when the plan has a blocker (a stored version dropped,
    // an immutable field changed).
    let plan = operator_upgrade::plan::Plan::build(&old, &new);
    let blockers: BTreeSet<String> =
        plan.findings.iter().filter(|f| f.severity == Severity::Blocker).map(|f| f.crd.clone()).collect();
    let update = apply_crds(cluster, &pair.new).await;
    let refused: BTreeSet<String> = match &update {
        Ok(()) => BTreeSet::new(),
        Err((crd, _)) => [crd.clone()].into(),
    };
    // The CRDs are applied in order and the first refusal stops: the plan must name that CRD a blocker.
    let predicted: BTreeSet<String> = match &update {
        Ok(()) => blockers.clone(),
        Err((crd, _)) => blockers.iter().filter(|b| *b == crd).cloned().collect(),
    };
    let (server, predicted) =
        (Verdict { rejected: refused, ..Verdict::default() }, Verdict { rejected: predicted, ..Verdict::default() });
    tally.add(Comparison { object: "the new release's CRDs".to_owned(), stage: "crd-update", server, predicted });
    if update.is_err() {
        return tally;
    }
    // The API server swaps a CRD's handler asynchronously after the update.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (label, stored) in created {
        let read = read_back(&client, &crds, &stored).await;
        let outcome = write(&client, &crds, &read, WriteKind::DryRunUpdate).await;
        let predicted = predict(new_validator.validate(&stored, None), true);
        let server = verdict(&stored, &outcome);
        tally.add(Comparison { object: label, stage: "upgrade", server, predicted });
    }
    tally
}

/// Which findings make the API server reject the write. On create nothing is ratcheted, so every violation
/// rejects; on the no-op update after the upgrade only what is never ratcheted does (breaking in `spec`;
/// `status` is copied from the stored object, so its violations ratchet like any unchanged value).
fn predict(findings: Vec<ObjectFinding>, update: bool) -> Verdict {
    let mut verdict = Verdict::default();
    for finding in findings {
        let field = field_name(&finding.key.path);
        match finding.key.code {
            FindingCode::DataPruned => {
                verdict.pruned.insert(field);
            }
            FindingCode::DefaultApplied => {
                verdict.defaulted.insert(field);
            }
            FindingCode::ValueInvalid
            | FindingCode::RequiredMissing
            | FindingCode::DuplicateListKey
            | FindingCode::CelRuleViolated => {
                let rejects = !update
                    || (finding.key.severity == Severity::Breaking && finding.key.side == Side::Spec)
                    || (finding.key.side == Side::Status && never_ratcheted(finding.key.code));
                if rejects && !finding.key.message.contains("typed clients") {
                    verdict.rejected.insert(field);
                }
            }
            _ => {}
        }
    }
    if !verdict.rejected.is_empty() {
        // A rejected write stores nothing: there is nothing pruned or defaulted to compare.
        verdict.pruned.clear();
        verdict.defaulted.clear();
    }
    verdict
}

fn never_ratcheted(code: FindingCode) -> bool {
    matches!(code, FindingCode::RequiredMissing | FindingCode::DuplicateListKey)
}

/// `.spec.a["b.c"][0]` -> `spec.a[b.c][0]`, the API server's way of naming a field.
fn field_name(path: &str) -> String {
    path.trim_start_matches('.').replace("[\"", "[").replace("\"]", "]")
}

enum WriteKind {
    Create,
    DryRunUpdate,
}

/// The object the server stored, or the fields it rejected the write for.
type Outcome = Result<Value, BTreeSet<String>>;

async fn write(client: &Client, crds: &[Crd], object: &Value, how: WriteKind) -> Outcome {
    let (collection, name) = collection_url(crds, object);
    let body = serde_json::to_vec(object).unwrap();
    let request = match how {
        WriteKind::Create => http::Request::post(collection),
        WriteKind::DryRunUpdate => http::Request::put(format!("{collection}/{name}?dryRun=All")),
    };
    let request = request.header("content-type", "application/json").body(body).unwrap();
    let response = client.send(request.map(kube::client::Body::from)).await.expect("the API server answers");
    let status = response.status();
    let bytes = response.into_body().collect_bytes().await.expect("the answer is read");
    let answer: Value = serde_json::from_slice(&bytes).expect("a JSON answer");
    if status.is_success() {
        return Ok(answer);
    }
    assert_eq!(status.as_u16(), 422, "{answer}");
    let causes = answer["details"]["causes"].as_array().cloned().unwrap_or_default();
    Err(causes
        .iter()
        .filter(|cause| !cause["message"].as_str().unwrap_or_default().contains("were not checked"))
        // CEL rules name their field with a leading dot (`fieldPath: .spec.x`), schema checks without.
        .filter_map(|cause| cause["field"].as_str().map(|field| field.trim_start_matches('.').to_owned()))
        .collect())
}

async fn read_back(client: &Client, crds: &[Crd], stored: &Value) -> Value {
    let (collection, name) = collection_url(crds, stored);
    let request = http::Request::get(format!("{collection}/{name}")).body(Vec::new()).unwrap();
    let text = client.request_text(request).await.expect("the object reads back");
    serde_json::from_str(&text).unwrap()
}

fn collection_url(crds: &[Crd], object: &Value) -> (String, String) {
    let api_version = object["apiVersion"].as_str().unwrap();
    let crd = crd_of(crds, object).expect("only objects of the pair's CRDs are written");
    let name = object["metadata"]["name"].as_str().unwrap().to_owned();
    let scope = match object["metadata"]["namespace"].as_str() {
        Some(namespace) => format!("/namespaces/{namespace}"),
        None => String::new(),
    };
    (format!("/apis/{api_version}{scope}/{}", crd.names.plural), name)
}

/// The server's verdict: rejected fields, or what it dropped from and added to `sent`.
fn verdict(sent: &Value, outcome: &Outcome) -> Verdict {
    match outcome {
        Err(fields) => Verdict { rejected: fields.clone(), ..Verdict::default() },
        Ok(stored) => {
            let mut verdict = Verdict::default();
            for part in ["spec", "status"] {
                diff_fields(&sent[part], &stored[part], part, &mut verdict);
            }
            verdict
        }
    }
}

/// Collects the topmost fields present in `sent` but not `stored` (pruned) and the reverse (defaulted).
fn diff_fields(sent: &Value, stored: &Value, path: &str, verdict: &mut Verdict) {
    match (sent, stored) {
        (Value::Object(sent), Value::Object(stored)) => {
            for (key, value) in sent {
                let child = child_field(path, key);
                match stored.get(key) {
                    Some(kept) => diff_fields(value, kept, &child, verdict),
                    None => {
                        verdict.pruned.insert(child);
                    }
                }
            }
            for key in stored.keys().filter(|key| !sent.contains_key(*key)) {
                verdict.defaulted.insert(child_field(path, key));
            }
        }
        (Value::Array(sent), Value::Array(stored)) if sent.len() == stored.len() => {
            for (index, (value, kept)) in sent.iter().zip(stored).enumerate() {
                diff_fields(value, kept, &format!("{path}[{index}]"), verdict);
            }
        }
        _ => {}
    }
}

/// The server's name for field `key` under `parent`: the validator's path, unquoted as the server writes it.
fn child_field(parent: &str, key: &str) -> String {
    field_name(&child_property_path(parent, key))
}

/// Applies a release's CRDs (server-side, as the tool would) and waits until each is Established; the
/// first CRD the API server refuses stops it, named with the refusal.
async fn apply_crds(cluster: &TestCluster, release: &Path) -> Result<(), (String, String)> {
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    for object in load_objects(release).expect("the release loads") {
        if object.value["kind"] != "CustomResourceDefinition" {
            continue;
        }
        let name = object.value["metadata"]["name"].as_str().unwrap().to_owned();
        // Release archives ship some CRDs as chart templates (`{{ .Release.Name }}` labels): only the
        // name of the metadata matters to what the CRD does.
        let mut crd = object.value;
        crd["metadata"] = json!({"name": name});
        let params = PatchParams::apply("operator-upgrade-oracle").force();
        crds.patch(&name, &params, &Patch::Apply(&crd)).await.map_err(|e| (name.clone(), e.to_string()))?;
        cluster.wait_established(&name).await;
    }
    Ok(())
}

/// A CRD of this pair left by an earlier run against the same control plane: the test owns it.
async fn remove_leftover_crd(client: &Client, name: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    if crds.get_opt(name).await.unwrap().is_none() {
        return;
    }
    crds.delete(name, &DeleteParams::default()).await.unwrap();
    eventually(&format!("the leftover CRD {name} is gone"), || async {
        crds.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// The pair's objects as a user would create them (server-owned metadata and status dropped, moved into
/// the test's namespace), each followed by the variants with one defect each that its schema allows.
fn objects_to_create(pair: &Pair, crds: &[Crd], namespace: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for path in &pair.objects {
        for object in load_objects(path).expect("the objects load") {
            let Some(crd) = crd_of(crds, &object.value) else { continue };
            let Some(schema) = schema_of(crd, &object.value) else { continue };
            let mut sample = as_created(object.value, crd, namespace);
            // Sample sets reuse names across files (each is meant to be applied alone).
            let mut name = sample["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            while !names.insert((crd.names.kind.clone(), name.clone())) {
                name.push('x');
            }
            sample["metadata"]["name"] = json!(name);
            for (defect, variant) in variants(&sample, schema) {
                out.push((format!("{}/{name}+{defect}", crd.names.kind), variant));
            }
            out.push((format!("{}/{name}", crd.names.kind), sample));
        }
    }
    out
}

fn crd_of<'a>(crds: &'a [Crd], object: &Value) -> Option<&'a Crd> {
    let api_version = object["apiVersion"].as_str()?;
    let kind = object["kind"].as_str()?;
    crds.iter().find(|c| api_version.starts_with(&format!("{}/", c.group)) && c.names.kind == kind)
}

fn schema_of<'a>(crd: &'a Crd, object: &Value) -> Option<&'a Schema> {
    let version = object["apiVersion"].as_str()?.rsplit('/').next()?;
    crd.version(version)?.schema.as_ref()
}

fn as_created(mut object: Value, crd: &Crd, namespace: &str) -> Value {
    let metadata = &object["metadata"];
    let mut kept = json!({"name": metadata["name"]});
    for field in ["labels", "annotations"] {
        if metadata.get(field).is_some() {
            kept[field] = metadata[field].clone();
        }
    }
    if crd.scope == operator_upgrade::manifest::Scope::Namespaced {
        kept["namespace"] = json!(namespace);
    }
    object["metadata"] = kept;
    if let Value::Object(fields) = &mut object {
        fields.remove("status");
    }
    object
}

/// Variants of `sample` with one defect each, named: an undeclared field, a string where the schema says
/// another type, a value outside an enum, a required field removed. Each is made only where the sample has
/// a place for it.
fn variants(sample: &Value, schema: &Schema) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let mut renamed = |defect: &'static str, mut variant: Value| {
        let name = sample["metadata"]["name"].as_str().unwrap_or_default();
        variant["metadata"]["name"] = json!(format!("{name}-{defect}"));
        out.push((defect, variant));
    };
    let Some(spec_schema) = schema.properties.get("spec") else { return out };
    let spec = &sample["spec"];
    if spec.is_object() && !spec_schema.preserve_unknown_fields {
        let mut variant = sample.clone();
        variant["spec"]["operatorUpgradeUndeclared"] = json!("dropped?");
        renamed("undeclared", variant);
    }
    if let Some(path) = find_leaf(spec, spec_schema, &|s, v| s.enum_.is_some() && v.is_string()) {
        renamed("enum", with_value(sample, &path, json!("operator-upgrade-not-in-enum")));
    }
    let typed = |s: &Schema, v: &Value| {
        matches!(s.type_.as_deref(), Some("integer" | "boolean"))
            && !s.other.contains_key("x-kubernetes-int-or-string")
            && !v.is_string()
    };
    if let Some(path) = find_leaf(spec, spec_schema, &typed) {
        renamed("type", with_value(sample, &path, json!("operator-upgrade-not-a-number")));
    }
    if let Some(field) = spec_schema.required.iter().find(|field| spec.get(field.as_str()).is_some()) {
        let mut variant = sample.clone();
        variant["spec"].as_object_mut().unwrap().remove(field.as_str());
        renamed("required", variant);
    }
    out
}

/// The path (keys from `spec`) of the first value whose schema node satisfies `wanted`.
fn find_leaf(value: &Value, schema: &Schema, wanted: &dyn Fn(&Schema, &Value) -> bool) -> Option<Vec<String>> {
    if wanted(schema, value) {
        return Some(Vec::new());
    }
    let Value::Object(fields) = value else { return None };
    for (key, child) in fields {
        let Some(child_schema) = schema.properties.get(key) else { continue };
        if let Some(mut path) = find_leaf(child, child_schema, wanted) {
            path.insert(0, key.clone());
            return Some(path);
        }
    }
    None
}

fn with_value(sample: &Value, path: &[String], value: Value) -> Value {
    let mut variant = sample.clone();
    let mut target = &mut variant["spec"];
    for key in path {
        target = &mut target[key.as_str()];
    }
    *target = value;
    variant
}

async fn run_pair(pair: Pair) {
    let Some(cluster) = TestCluster::real(pair.name).await else { return };
    // The demo's CRD is one other tests install on the same control plane: the demo pair takes its turn.
    let demo_crd = load_side(&pair.old).expect("the release loads").crds.contains_key(crate::canary_real::CRD);
    let _turn = if demo_crd { crate::canary_real::demo_turn(&cluster).await } else { None };
    let tally = oracle(&cluster, &pair).await;
    // The pair's CRDs have fixed names: leave none for the tests (kubectl applies the demo's) that follow.
    for side in [&pair.old, &pair.new] {
        for crd in load_side(side).expect("the release loads").crds.keys() {
            remove_leftover_crd(&cluster.client(), crd).await;
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "oracle {}: {} of {} writes agreed ({} server findings matched), {} disagreements",
        pair.name,
        tally.agreed,
        tally.compared,
        tally.findings_matched,
        tally.disagreements.len()
    );
    assert!(tally.compared > 0, "nothing was compared for {}", pair.name);
    assert!(tally.disagreements.is_empty(), "{} disagreements:\n{}", pair.name, tally.disagreements.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_operator_v1_0_0_to_v1_1_0() {
    run_pair(Pair {
        name: "demo",
        old: project("examples/demo-operator/v1.0.0"),
        new: project("examples/demo-operator/v1.1.0"),
        objects: vec![project("examples/demo-operator/objects.yaml")],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_manager_v1_18_5_to_v1_19_0() {
    let (Some(old), Some(new)) = (corpus("crds/cert-manager/v1.18.5"), corpus("crds/cert-manager/v1.19.0")) else {
        return;
    };
    let objects = vec![project("tests/fixtures/validate/corpus/cert-manager-v1.18.5-objects.yaml")];
    run_pair(Pair { name: "cert-manager", old, new, objects }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudnative_pg_v1_29_0_to_v1_30_0() {
    let (Some(old), Some(new), Some(samples)) = (
        corpus("crds/cloudnative-pg/v1.29.0"),
        corpus("crds/cloudnative-pg/v1.30.0"),
        corpus("objects/cloudnative-pg/v1.29.0"),
    ) else {
        return;
    };
    run_pair(Pair { name: "cloudnative-pg", old, new, objects: vec![samples] }).await;
}

/// Strimzi 1.0.0 drops v1beta2, the version 0.49.0 stores: the API server refuses the new CRDs, which the
/// plan must call a blocker; the samples (with their known defects) are compared at creation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strimzi_0_49_0_to_1_0_0() {
    let (Some(old), Some(new), Some(samples)) =
        (corpus("crds/strimzi/0.49.0"), corpus("crds/strimzi/1.0.0"), corpus("objects/strimzi/0.49.0"))
    else {
        return;
    };
    run_pair(Pair { name: "strimzi", old, new, objects: vec![samples] }).await;
}

/// Objects written as mappings under the old release, where the new one declares an array, a string and
/// int-or-string (CloudNativePG's sample `cluster-restore-with-tablespaces` writes its tablespaces as such a
/// mapping): after the upgrade the server prunes every key of them on read and on the unchanged update, which
/// passes, so the data is lost silently; `data-pruned` must predict it key by key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_where_the_new_schema_declares_no_fields() {
    let fixture = project("tests/fixtures/validate/wrong-type-mapping");
    let (old, new, objects) =
        (fixture.join("old-crd.yaml"), fixture.join("crd.yaml"), vec![fixture.join("objects.yaml")]);
    run_pair(Pair { name: "wrong-type-mapping", old, new, objects }).await;
}
