//! `cargo bench --bench cel`: CEL rule evaluation on CloudNativePG Clusters, printed as µs/object on one
//! thread and objects/s on every core (target of the object validator: >= 20,000 objects/s on 2 cores).
//!
//! The rules are the real ones of `clusters.postgresql.cnpg.io` v1.30.0; the objects are realistic Clusters
//! (image or image catalog, initdb locales, synchronous replication, backups, roles, parameters) varied per
//! index, a few of them violating a rule. Needs `../shared/corpus` (or `OPERATOR_UPGRADE_CORPUS`); without
//! it, says so and exits 0.

use operator_upgrade::manifest::{AdditionalProperties, Crd, Schema};
use operator_upgrade::schema::validate::cel::{CelOutcome, CelRules};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

// The allocator of the operator-upgrade binary, so the numbers are the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OBJECTS: usize = 100_000;
const RUNS: usize = 3;

fn corpus() -> Option<PathBuf> {
    let path = std::env::var_os("OPERATOR_UPGRADE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    path.join("crds").is_dir().then_some(path)
}

/// The Cluster CRD, typed and as its raw document (for the kube-cel comparison).
fn cluster_crd(corpus: &Path) -> (Crd, Value) {
    let file = corpus.join("crds/cloudnative-pg/v1.30.0/cnpg-1.30.0.yaml");
    let text = std::fs::read_to_string(&file).expect("readable CNPG release");
    let document = serde_norway::Deserializer::from_str(&text)
        .filter_map(|document| serde::Deserialize::deserialize(document).ok())
        .find(|value: &Value| {
            value.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
                && value.pointer("/metadata/name").and_then(Value::as_str) == Some("clusters.postgresql.cnpg.io")
        });
    let document = document.expect("the Cluster CRD is in the release");
    (Crd::from_value(document.clone()).expect("the Cluster CRD parses"), document)
}

fn rule_count(schema: &Schema) -> usize {
    schema.validations.len()
        + schema.properties.values().map(|property| rule_count(property)).sum::<usize>()
        + schema.items.as_deref().map_or(0, rule_count)
        + match &schema.additional_properties {
            Some(AdditionalProperties::Schema(values)) => rule_count(values),
            _ => 0,
        }
        + schema.all_of.iter().map(rule_count).sum::<usize>()
}

/// A Cluster as users write them, varied by `i`; every 1,000th has both imageName and imageCatalogRef.
fn cluster(i: usize) -> Value {
    let name = format!("pg-{i}");
    let mut spec = json!({
        "description": format!("database of team {}", i % 97),
        "instances": 1 + i % 5,
        "startDelay": 300,
        "stopDelay": 300,
        "primaryUpdateStrategy": "unsupervised",
        "primaryUpdateMethod": "restart",
        "enableSuperuserAccess": i.is_multiple_of(2),
        "superuserSecret": {"name": format!("{name}-superuser")},
        "postgresql": {
            "parameters": {
                "shared_buffers": format!("{}MB", 128 << (i % 4)),
                "max_connections": "200",
                "pg_stat_statements.max": "10000",
                "pg_stat_statements.track": "all",
                "auto_explain.log_min_duration": "10s",
                "work_mem": "16MB"
            },
            "pg_hba": ["host all all 10.244.0.0/16 scram-sha-256"],
            "synchronous": {"method": if i.is_multiple_of(2) { "any" } else { "first" }, "number": 1 + i % 2,
                            "dataDurability": if i.is_multiple_of(3) { "preferred" } else { "required" }}
        },
        "bootstrap": {"initdb": if i.is_multiple_of(3) {
            json!({"database": "app", "owner": "app", "secret": {"name": format!("{name}-app")},
                   "localeProvider": "builtin", "builtinLocale": "C.UTF-8"})
        } else {
            json!({"database": "app", "owner": "app", "secret": {"name": format!("{name}-app")},
                   "localeProvider": "icu", "icuLocale": "en-US", "encoding": "UTF8"})
        }},
        "storage": {"storageClass": "standard", "size": format!("{}Gi", 1 + i % 50)},
        "walStorage": {"storageClass": "standard", "size": "2Gi"},
        "resources": {"requests": {"memory": "512Mi", "cpu": "1"}, "limits": {"memory": "1Gi", "cpu": "2"}},
        "affinity": {"enablePodAntiAffinity": true, "topologyKey": "topology.kubernetes.io/zone",
                     "nodeSelector": {"workload": "postgres"}},
        "monitoring": {"enablePodMonitor": i.is_multiple_of(4)},
        "nodeMaintenanceWindow": {"inProgress": false, "reusePVC": true},
        "serviceAccountName": format!("{name}-sa"),
        "backup": {
            "barmanObjectStore": {
                "destinationPath": format!("s3://backups/{name}/"),
                "endpointURL": "https://s3.example.com",
                "s3Credentials": {
                    "accessKeyId": {"name": "backup-creds", "key": "ACCESS_KEY_ID"},
                    "secretAccessKey": {"name": "backup-creds", "key": "ACCESS_SECRET_KEY"}
                },
                "wal": {"compression": "gzip", "maxParallel": 4},
                "data": {"compression": "gzip", "jobs": 2}
            },
            "retentionPolicy": "30d",
            "target": "prefer-standby"
        },
        "managed": {"roles": [
            {"name": "reader", "ensure": "present", "login": true, "inRoles": ["pg_read_all_data"],
             "passwordSecret": {"name": format!("{name}-reader")}},
            {"name": "writer", "ensure": "present", "login": true, "inRoles": ["pg_write_all_data"]}
        ]}
    });
    if i.is_multiple_of(4) {
        spec["imageCatalogRef"] =
            json!({"apiGroup": "postgresql.cnpg.io", "kind": "ClusterImageCatalog", "name": "postgresql", "major": 17});
    } else {
        spec["imageName"] = json!(format!("ghcr.io/cloudnative-pg/postgresql:17.{}", i % 6));
    }
    if i % 1000 == 999 {
        spec["imageName"] = json!("ghcr.io/cloudnative-pg/postgresql:17.5");
        spec["imageCatalogRef"] =
            json!({"apiGroup": "postgresql.cnpg.io", "kind": "ImageCatalog", "name": "postgresql", "major": 17});
    }
    json!({
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": format!("team-{}", i % 97),
                     "labels": {"app.kubernetes.io/name": "postgres", "team": format!("t{}", i % 97)}},
        "spec": spec
    })
}

fn main() {
    let Some(corpus) = corpus() else {
        println!("cel bench: skipped, no corpus at ../shared/corpus (set OPERATOR_UPGRADE_CORPUS)");
        return;
    };
    let (crd, document) = cluster_crd(&corpus);
    let schema = crd.versions[0].schema.as_ref().expect("the Cluster CRD has a schema");
    let rules = CelRules::compile(schema);
    let objects: Vec<Value> = (0..OBJECTS).map(cluster).collect();

    let (mut violated, mut unevaluable) = (0, 0);
    for outcome in objects.iter().flat_map(|object| rules.evaluate(object)) {
        match outcome {
            CelOutcome::Violated { .. } => violated += 1,
            CelOutcome::Unevaluable { .. } => unevaluable += 1,
        }
    }
    println!(
        "cel bench: {} rules of clusters.postgresql.cnpg.io v1.30.0, {OBJECTS} Clusters: {violated} violations, \
         {unevaluable} unevaluable",
        rule_count(schema)
    );

    let single = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let outcomes: usize = objects.iter().map(|object| rules.evaluate(object).len()).sum();
            std::hint::black_box(outcomes);
            start.elapsed()
        })
        .min()
        .expect("at least one run");
    println!("  one thread:  {:.2} µs/object", single.as_secs_f64() * 1e6 / OBJECTS as f64);

    let parallel = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let outcomes: usize = objects.par_iter().map(|object| rules.evaluate(object).len()).sum();
            std::hint::black_box(outcomes);
            start.elapsed()
        })
        .min()
        .expect("at least one run");
    println!(
        "  {} threads:   {:.0} objects/s (target >= 20,000 on 2 cores)",
        rayon::current_num_threads(),
        OBJECTS as f64 / parallel.as_secs_f64()
    );

    // For comparison: kube-cel's own validator, which converts the whole subtree at every schema node.
    let raw_schema = &document["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let compiled = kube::core::cel::compile_schema(raw_schema);
    let validator = kube::core::cel::Validator::new();
    let sample = &objects[..OBJECTS / 10];
    let start = Instant::now();
    for object in sample {
        std::hint::black_box(validator.validate_compiled(&compiled, object, Some(object)).is_ok());
    }
    let kube_cel = start.elapsed();
    println!(
        "  kube-cel Validator::validate_compiled, one thread: {:.2} µs/object (for comparison)",
        kube_cel.as_secs_f64() * 1e6 / sample.len() as f64
    );
}
