//! Loading what releases actually ship: multi-document files, empty documents, `List` objects, non-CRD
//! kinds, Helm-chart-source CRDs, a bare `=` in a list, JSON, nested directories, and clear errors.

use operator_upgrade::manifest::{load_side, LoadError};
use std::path::Path;

const CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: NAME.example.com
  annotations:
    cert-manager.io/inject-ca-from-secret: '{{ template \"webhook.caRef\" . }}'
  labels:
    app: '{{ template \"cert-manager.name\" . }}'
    # Generated labels {{- include \"labels\" . | nindent 4 }}
spec:
  group: example.com
  names: {kind: Thing, plural: NAME}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            op:
              type: string
              enum:
                - =
                - '!='
";

fn crd(name: &str) -> String {
    CRD.replace("NAME", name)
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_release_directory_with_everything_real_releases_ship() {
    let dir = tempfile::tempdir().unwrap();
    let multi = format!(
        "---\n# leading comment\n{}---\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: op}}\n",
        crd("alphas")
    );
    write(dir.path(), "a/multi.yaml", &multi);
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {{name: op}}\n",
        serde_json::to_string(&serde_norway::from_str::<serde_json::Value>(&crd("betas")).unwrap()).unwrap()
    );
    write(dir.path(), "b/c/list.yml", &list);
    let json = serde_json::to_string(&serde_norway::from_str::<serde_json::Value>(&crd("gammas")).unwrap()).unwrap();
    write(dir.path(), "gamma.json", &json);
    write(dir.path(), "Chart.yaml", "name: chart\nversion: 1.0.0\n");
    write(dir.path(), "README.md", "not a manifest");

    let set = load_side(dir.path()).expect("loads");
    let names: Vec<&str> = set.crds.keys().map(String::as_str).collect();
    assert_eq!(names, ["alphas.example.com", "betas.example.com", "gammas.example.com"]);
    let kinds: Vec<&str> = set.objects.iter().filter_map(|o| o.value["kind"].as_str()).collect();
    assert_eq!(kinds, ["ServiceAccount", "Deployment"]);
    assert_eq!(set.ignored.len(), 1, "Chart.yaml is counted, not diffed");
    assert_eq!(set.files.len(), 4);

    let alpha = &set.crds["alphas.example.com"];
    let schema = alpha.crd.versions[0].schema.as_ref().unwrap();
    let values = schema.properties["op"].enum_.clone().unwrap();
    assert_eq!(values, vec![serde_json::json!("="), serde_json::json!("!=")], "a bare = is the string \"=\"");
    assert_eq!(alpha.source.document, 1);
    assert_eq!(alpha.source.line, 1, "the first document starts at the leading marker");
}

#[test]
fn document_indexes_and_lines_are_reported_for_syntax_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.yaml", "a: 1\n---\nb: 2\n---\nc: [1,\nd: }\n");
    let error = load_side(&dir.path().join("bad.yaml")).unwrap_err();
    let LoadError::Syntax { document, line, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*document, *line), (3, 6), "{error}");
    assert!(error.to_string().contains("bad.yaml: document 3, line 6"), "{error}");
}

#[test]
fn files_that_are_not_utf8_are_syntax_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bin.yaml"), b"a: 1\nb: \xff\xfe\n").unwrap();
    let error = load_side(dir.path()).unwrap_err();
    assert!(error.to_string().contains("line 2") && error.to_string().contains("UTF-8"), "{error}");
}

#[test]
fn a_crd_with_a_wrong_field_names_the_document_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = crd("things").replace("served: true", "served: [yes]");
    write(dir.path(), "x.yaml", &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: a}}\n---\n{bad}"));
    let error = load_side(dir.path()).unwrap_err().to_string();
    assert!(error.contains("x.yaml: document 2 (line 4)"), "{error}");
    assert!(error.contains("spec.versions[0].served"), "{error}");
}

/// A document that parses but is not a mapping (prometheus-operator's `prometheus-additional.yaml` is a scrape
/// config, a top-level sequence) is skipped, counted and named; what does not parse, or a malformed `List`,
/// stays an error.
#[test]
fn documents_that_are_not_mappings_are_skipped_and_named_bad_lists_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &crd("things"));
    write(dir.path(), "scrape.yaml", "- job_name: prometheus\n  static_configs:\n  - targets: [\"localhost:9090\"]\n");
    write(dir.path(), "s.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\njust a string\n");
    let set = load_side(dir.path()).unwrap();
    assert_eq!(set.crds.len(), 1);
    assert_eq!(set.ignored.len(), 2, "counted with the documents without apiVersion/kind");
    let named: Vec<String> = set.not_objects.iter().map(|s| format!("{} {} {}", s.document, s.line, s.found)).collect();
    assert_eq!(named, ["2 4 a string", "1 1 a sequence"]);
    assert!(set.not_objects[1].file.ends_with("scrape.yaml"));

    write(dir.path(), "s.yaml", "apiVersion: v1\nkind: List\nitems: 3\n");
    assert!(load_side(dir.path()).unwrap_err().to_string().contains("List items must be a sequence"));
    write(dir.path(), "s.yaml", "apiVersion: v1\nkind: List\nitems: [42]\n");
    assert!(load_side(dir.path()).unwrap_err().to_string().contains("found a number"));
    write(dir.path(), "s.yaml", "a: 1\n---\n- [unclosed\n");
    let error = load_side(dir.path()).unwrap_err().to_string();
    assert!(error.contains("s.yaml: document 2, line"), "{error}");
}

#[test]
fn the_same_crd_twice_names_both_places() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.yaml", &format!("{}---\n{}", crd("things"), crd("things")));
    let error = load_side(dir.path()).unwrap_err();
    let LoadError::DuplicateCrd { first, second, .. } = &error else { panic!("{error:?}") };
    assert_eq!((first.document, second.document), (1, 2));
    assert_eq!(second.line, 27);
}
