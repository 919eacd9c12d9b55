//! Who reconciled what, from prometheus-operator's own logs: each Pod's output (kept by the test bed under
//! `$CONTROLPLANE_DIR/logs/pods/<namespace>_<pod>_<uid>.log`) says `msg="sync prometheus"` or `msg="sync
//! alertmanager"` with `key=<namespace>/<name>` and a timestamp to the millisecond at each reconcile.

use std::collections::BTreeMap;

/// One reconcile an operator Pod logged: when, of which object, by which Deployment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sync {
    pub at: jiff::Timestamp,
    pub object: String,
    pub deployment: String,
}

/// The value of `field=` in a logfmt line (quoted or not).
fn field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let start = line
        .find(&format!(" {field}="))
        .map(|i| i + field.len() + 2)
        .or_else(|| line.starts_with(&format!("{field}=")).then_some(field.len() + 1))?;
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split(' ').next(),
    }
}

/// The reconciles of one Pod's log (slog's `time=` or go-kit's `ts=`).
pub fn syncs_of(log: &str, deployment: &str) -> Vec<Sync> {
    log.lines()
        .filter(|l| matches!(field(l, "msg"), Some("sync prometheus" | "sync alertmanager")))
        .filter_map(|l| {
            let at = field(l, "time").or_else(|| field(l, "ts"))?.parse().ok()?;
            let object = field(l, "key")?.to_owned();
            Some(Sync { at, object, deployment: deployment.to_owned() })
        })
        .collect()
}

/// Every reconcile the operator Pods of `namespace` whose names start with `operator` logged.
pub fn syncs_in(logs_dir: &std::path::Path, namespace: &str, operator: &str) -> Vec<Sync> {
    let mut syncs = Vec::new();
    let Ok(entries) = std::fs::read_dir(logs_dir) else { return syncs };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pod) = file.strip_prefix(&format!("{namespace}_")).and_then(|rest| rest.split('_').next()) else {
            continue;
        };
        if !pod.starts_with(operator) {
            continue;
        }
        let deployment = deployment_of(pod);
        let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
        syncs.extend(syncs_of(&log, &deployment));
    }
    syncs
}

/// The Deployment a Pod belongs to: its name without the ReplicaSet's and the Pod's suffixes.
pub fn deployment_of(pod: &str) -> String {
    let mut parts: Vec<&str> = pod.rsplitn(3, '-').collect();
    parts.pop().unwrap_or(pod).to_owned()
}

/// Objects whose reconciles, in time order, went back and forth between Deployments: each object may be
/// reconciled by the stable Deployment, then by one copy, then by the stable Deployment again (the canary's
/// two handovers), never in any other order. With the Deployments it went through, in order.
pub fn interleaved(syncs: &[Sync], stable: &str) -> BTreeMap<String, Vec<String>> {
    let mut by_object: BTreeMap<&str, Vec<&Sync>> = BTreeMap::new();
    for sync in syncs {
        by_object.entry(sync.object.as_str()).or_default().push(sync);
    }
    let mut bad = BTreeMap::new();
    for (object, mut list) in by_object {
        list.sort();
        let mut runs: Vec<String> = Vec::new();
        for sync in list {
            if runs.last() != Some(&sync.deployment) {
                runs.push(sync.deployment.clone());
            }
        }
        let copies: Vec<&String> = runs.iter().filter(|d| *d != stable).collect();
        let allowed = copies.len() <= 1 && runs.len() <= 3 && (runs.len() < 3 || runs[0] == stable);
        if !allowed {
            bad.insert(object.to_owned(), runs);
        }
    }
    bad
}

#[test]
fn reconciles_handed_over_once_each_way_are_fine_and_back_and_forth_is_not() {
    let slog = "time=2026-12-07T22:40:01.123Z level=INFO source=operator.go:808 msg=\"sync prometheus\" component=prometheus-controller key=ns/p0\n\
        time=2026-12-07T22:40:01.200Z level=INFO msg=\"other\" key=ns/p0\n";
    let gokit = "level=info ts=2026-12-07T22:40:02.5Z caller=operator.go:590 component=alertmanageroperator key=ns/a0 msg=\"sync alertmanager\"\n";
    let stable = syncs_of(slog, "prometheus-operator");
    assert_eq!(stable.len(), 1);
    assert_eq!((stable[0].object.as_str(), stable[0].at.to_string().as_str()), ("ns/p0", "2026-12-07T22:40:01.123Z"));
    assert_eq!(syncs_of(gokit, "prometheus-operator-canary")[0].object, "ns/a0");
    assert_eq!(deployment_of("prometheus-operator-canary-7c6b5-fghij"), "prometheus-operator-canary");
    let at = |s: u32, deployment: &str| Sync {
        at: format!("2026-12-07T22:40:{s:02}Z").parse().unwrap(),
        object: "ns/p0".into(),
        deployment: deployment.into(),
    };
    let (s, c) = ("prometheus-operator", "prometheus-operator-canary");
    let handed_over = [at(1, s), at(2, s), at(3, c), at(4, c), at(5, s)];
    assert!(interleaved(&handed_over, s).is_empty());
    let back_and_forth = [at(1, s), at(2, c), at(3, s), at(4, c)];
    assert_eq!(interleaved(&back_and_forth, s)["ns/p0"], [s, c, s, c]);
    let two_copies = [at(1, c), at(2, "prometheus-operator-baseline")];
    assert_eq!(interleaved(&two_copies, s).len(), 1);
}
