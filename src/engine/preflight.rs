//! The live plan: what the cluster actually holds, read and never written. `plan --context` prints it and
//! `apply` runs it first (the same code), refusing on what [`LivePlan::refusals`] lists.

use super::managers::foreign_managers;
use super::permissions::{known_resource_names, needed_permissions, Permission, ResourceName};
use super::upgrade::{unaccepted, Acceptance, Upgrade};
use super::{EngineError, Refusal};
use crate::cluster::{cluster_identity, ClusterError, ObjectKey, Objects};
use crate::findings::{FindingCode, Severity};
use crate::manifest::{Crd, ManifestSet};
use crate::plan::Plan;
use crate::schema::diff_crds;
use crate::schema::validate::{FindingSpool, ReportBuilder, ValidationReport, Validator};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use kube::api::{Api, PostParams};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the live cluster says about the plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LivePlan {
    /// The UID of `kube-system`.
    pub identity: String,
    /// The identity the plan pins, when it does and it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_mismatch: Option<String>,
    /// Differences between the live CRDs and the `from` release's, one line each.
    pub drift: Vec<String>,
    /// Blockers of the offline plan that the live storedVersions make moot, with why.
    pub downgraded: Vec<String>,
    /// Blockers the live cluster confirms or adds.
    pub blockers: Vec<String>,
    /// The existing custom resources, validated against the new CRDs.
    #[serde(skip)]
    pub objects: ValidationReport,
    /// The operator Deployment: problems found (missing, wrong image, not Available).
    pub operator: Vec<String>,
    /// Other tools that manage the operator and would fight the run, with what to do.
    pub managers: Vec<OtherManager>,
    /// Permissions the run needs and does not have.
    pub missing_permissions: Vec<String>,
    /// What this live plan did not check, in one line (without a plan file: the operator and the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
}

/// Another tool that manages the operator and would fight the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherManager {
    /// Which tool, in words.
    pub who: String,
    /// What to do about it before the run.
    pub resolution: String,
}

impl LivePlan {
    /// Everything that stops `apply`: a wrong cluster, blockers, operator problems, other managers, missing
    /// permissions, and findings at or above `fail_on` not accepted.
    pub fn refusals(&self, upgrade: &Upgrade, fail_on: Option<Severity>, accepted: &[Acceptance]) -> Vec<Refusal> {
        self.refusals_of(&upgrade.plan, fail_on, accepted)
    }

    /// [`LivePlan::refusals`] of the offline `plan` (what a live plan without a plan file counts).
    pub fn refusals_of(&self, plan: &Plan, fail_on: Option<Severity>, accepted: &[Acceptance]) -> Vec<Refusal> {
        let mut refusals = Vec::new();
        if let Some(pinned) = &self.identity_mismatch {
            refusals.push(Refusal::WrongCluster { pinned: pinned.clone(), actual: self.identity.clone() });
        }
        refusals.extend(self.blockers.iter().cloned().map(Refusal::Blocker));
        refusals.extend(self.operator.iter().cloned().map(Refusal::Operator));
        refusals.extend(
            self.managers
                .iter()
                .map(|m| Refusal::OtherManager { who: m.who.clone(), resolution: m.resolution.clone() }),
        );
        if !self.missing_permissions.is_empty() {
            refusals.push(Refusal::MissingPermissions(self.missing_permissions.clone()));
        }
        let moot: BTreeSet<(FindingCode, String, Option<String>)> =
            self.downgraded_findings(plan).into_iter().collect();
        let crd_findings = plan
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Blocker)
            .filter(|f| !moot.contains(&(f.code, f.crd.clone(), f.version.clone())))
            .map(|f| (f.code, f.severity, f.path.clone(), format!("{} {}", f.crd, f.message)));
        let operator_findings =
            plan.operator_findings.iter().map(|f| (f.code, f.severity, f.field.clone(), f.message.clone()));
        // One refusal per group of identical findings: 100,000 objects with the same problem are one reason.
        let object_findings = self.objects.groups.iter().map(|g| {
            let kind = g.objects.first().map(|o| o.object.kind.as_str()).unwrap_or_default();
            (
                g.key.code,
                g.key.severity,
                Some(g.key.path.clone()),
                format!("{kind} {}: {}", g.objects_line(), g.key.message),
            )
        });
        refusals.extend(unaccepted(crd_findings.chain(operator_findings).chain(object_findings), fail_on, accepted));
        refusals
    }

    fn downgraded_findings(&self, plan: &Plan) -> Vec<(FindingCode, String, Option<String>)> {
        plan.findings
            .iter()
            .filter(|f| f.code == FindingCode::VersionRemoved)
            .filter(|f| {
                self.downgraded
                    .iter()
                    .any(|d| d.starts_with(&format!("{} {}", f.crd, f.version.as_deref().unwrap_or(""))))
            })
            .map(|f| (f.code, f.crd.clone(), f.version.clone()))
            .collect()
    }

    /// The live plan as text, one section per concern, only the sections with something to say.
    pub fn render(&self) -> String {
        let mut out = format!("live cluster: kube-system UID {}\n", self.identity);
        let mut section = |title: &str, lines: &[String]| {
            if !lines.is_empty() {
                out.push_str(&format!("{title}:\n"));
                for line in lines {
                    out.push_str(&format!("  - {line}\n"));
                }
            }
        };
        section("drift from the `from` release", &self.drift);
        section("blockers", &self.blockers);
        section("offline blockers that are moot here", &self.downgraded);
        section("operator", &self.operator);
        let managers: Vec<String> = self.managers.iter().map(|m| format!("{}: {}", m.who, m.resolution)).collect();
        section("other managers", &managers);
        section("missing permissions", &self.missing_permissions);
        let summary = &self.objects.summary;
        let groups = &self.objects.groups;
        out.push_str(&format!(
            "existing objects: {} checked against the new CRDs, {} findings in {} group(s) of identical findings\n",
            summary.objects,
            self.objects.total(),
            groups.len()
        ));
        for group in groups.iter().take(GROUPS_SHOWN) {
            let kind = group.objects.first().map(|o| o.object.kind.as_str()).unwrap_or_default();
            out.push_str(&format!(
                "  - {} {} {}: {} ({} {})\n",
                group.key.severity,
                group.key.code.as_str(),
                group.key.path,
                group.key.message,
                kind,
                group.objects_line()
            ));
        }
        if groups.len() > GROUPS_SHOWN {
            out.push_str(&format!(
                "  ... and {} more group(s): `validate --context` lists them all\n",
                groups.len() - GROUPS_SHOWN
            ));
        }
        if let Some(not_checked) = &self.not_checked {
            out.push_str(&format!("{not_checked}\n"));
        }
        out
    }
}

/// How many groups of object findings the live plan's text shows.
const GROUPS_SHOWN: usize = 20;

/// Reads everything the live plan needs. Read only: the only requests that are not GET/LIST are
/// SelfSubjectAccessReviews, which change nothing.
pub async fn observe(objects: &Objects, upgrade: &Upgrade) -> Result<LivePlan, EngineError> {
    let mut live = LivePlan { identity: cluster_identity(objects.client()).await?, ..LivePlan::default() };
    if let Some(pinned) = upgrade.loaded.pinned_cluster_uid() {
        if pinned != live.identity {
            live.identity_mismatch = Some(pinned.to_owned());
            return Ok(live);
        }
    }
    // Without a permission the reads below would stop at the first 403: the whole list says more.
    live.missing_permissions = missing_permissions(objects, upgrade).await?;
    if !live.missing_permissions.is_empty() {
        return Ok(live);
    }
    let own_expand = |name: &str, crd: &Crd| is_expanded_by_this_plan(upgrade, name, crd);
    let releases = Releases { old: &upgrade.old_set, new: &upgrade.new_set, plan: &upgrade.plan };
    check_crds(objects, releases, &own_expand, &mut live).await?;
    live.objects = validate_objects(objects, upgrade).await?;
    check_operator(objects, upgrade, &mut live).await?;
    Ok(live)
}

/// What the live plan without a plan file leaves out, in one line.
pub const NOT_CHECKED_WITHOUT_PLAN_FILE: &str = "not checked without a plan file (-f): the operator Deployment, \
     other managers, gates, the tool's permissions, the steps";

/// The live plan of `plan --from A --to B --context C` without a plan file: what needs no operator. Drift of
/// the live CRDs from A, `status.storedVersions` blockers (and the offline blockers they make moot), and
/// every live object of the CRDs both releases define validated against B's; `not_checked` says the rest.
pub async fn observe_releases(
    objects: &Objects,
    old: &ManifestSet,
    new: &ManifestSet,
    plan: &Plan,
) -> Result<LivePlan, EngineError> {
    let mut live = LivePlan { identity: cluster_identity(objects.client()).await?, ..LivePlan::default() };
    check_crds(objects, Releases { old, new, plan }, &|_, _| false, &mut live).await?;
    let validator = Validator::new(&new.crds).compared_with(&old.crds);
    let shared = old.crds.keys().filter(|name| new.crds.contains_key(*name)).map(String::as_str);
    let kinds = live_kinds(objects, shared).await?;
    live.objects = validate_listed(objects, &validator, &kinds, false).await?;
    live.not_checked = Some(NOT_CHECKED_WITHOUT_PLAN_FILE.to_owned());
    Ok(live)
}

/// Both releases as the diff reads them, and the offline plan between them.
#[derive(Clone, Copy)]
struct Releases<'a> {
    old: &'a ManifestSet,
    new: &'a ManifestSet,
    plan: &'a Plan,
}

/// Whether the live CRD is what this plan's `crd-expand` writes (a resumed or promoted run finds its own
/// expand, which is not drift from the `from` release).
fn is_expanded_by_this_plan(upgrade: &Upgrade, name: &str, live: &Crd) -> bool {
    let Some(new) = upgrade.new.crds.get(name) else { return false };
    let expanded = super::desired::expand_crd(upgrade.old.crds.get(name), new);
    comparable_crd(&expanded).is_some_and(|expanded| diff_crds(Some(&expanded), Some(live)).is_empty())
}

/// The live CRD as the diff reads it: the typed model leaves out what other controllers inject (a
/// conversion webhook's `caBundle`) and what the API server defaults.
fn comparable_crd(live: &Value) -> Option<Crd> {
    Crd::from_value(live.clone()).ok()
}

/// Drift of each live CRD of the new release from the old release's (a CRD `own_expand` says the run wrote
/// excepted), and its `status.storedVersions`: a version the new release drops is a blocker for that CRD; an
/// offline version-removed blocker whose version nothing is stored at is moot.
async fn check_crds(
    objects: &Objects,
    releases: Releases<'_>,
    own_expand: &dyn Fn(&str, &Crd) -> bool,
    live: &mut LivePlan,
) -> Result<(), ClusterError> {
    for (name, new) in &releases.new.crds {
        let Some(found) = objects.get(&ObjectKey::crd(name)).await? else { continue };
        let live_crd = comparable_crd(&found).filter(|crd| !own_expand(name, crd));
        if let (Some(from), Some(live_crd)) = (releases.old.crds.get(name), live_crd) {
            for finding in diff_crds(Some(&from.crd), Some(&live_crd)) {
                let at = finding.path.as_deref().map(|p| format!(" {p}")).unwrap_or_default();
                live.drift.push(format!("{name}{at}: {} ({})", finding.message, finding.code.as_str()));
            }
        }
        let stored: Vec<String> = found["status"]["storedVersions"]
            .as_array()
            .map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let (blockers, moot) = judge_stored_versions(name, &stored, &new.crd, releases.plan);
        live.blockers.extend(blockers);
        live.downgraded.extend(moot);
    }
    Ok(())
}

/// What a live CRD's `status.storedVersions` means for the upgrade to `new`, for that CRD only: a blocker for
/// each stored version the new release drops (the API server rejects the new CRD), and each offline
/// version-removed blocker of this CRD that is moot because nothing is stored at that version.
fn judge_stored_versions(name: &str, stored: &[String], new: &Crd, plan: &Plan) -> (Vec<String>, Vec<String>) {
    let blockers = stored
        .iter()
        .filter(|v| new.version(v).is_none())
        .map(|version| format!(
            "{name}: status.storedVersions lists {version}, which the new release drops: the API server rejects the new CRD until every object is migrated off {version} and storedVersions is trimmed"
        ))
        .collect();
    let moot = plan
        .findings
        .iter()
        .filter(|f| f.crd == name && f.code == FindingCode::VersionRemoved && f.severity == Severity::Blocker)
        .filter_map(|finding| {
            let version = finding.version.as_deref().unwrap_or_default();
            (!stored.iter().any(|s| s == version)).then(|| format!(
                "{name} {version}: removed by the new release, but status.storedVersions is {stored:?}: no object is stored at {version}"
            ))
        })
        .collect();
    (blockers, moot)
}

/// Every existing custom resource of the release's kinds, listed in pages and validated as `--objects` does.
pub async fn validate_objects(objects: &Objects, upgrade: &Upgrade) -> Result<ValidationReport, ClusterError> {
    let validator = Validator::new(&upgrade.new_set.crds).compared_with(&upgrade.old_set.crds);
    validate_listed(objects, &validator, &upgrade.old_custom_resource_kinds(), false).await
}

/// Lists every object of `kinds` (`(apiVersion, kind)`) in pages of 500 and validates each, the findings
/// grouped as they come (and kept one by one in a temporary file with `each`); a kind the cluster does not
/// serve (its CRD not installed yet) has nothing to check.
pub async fn validate_listed(
    objects: &Objects,
    validator: &Validator,
    kinds: &[(String, String)],
    each: bool,
) -> Result<ValidationReport, ClusterError> {
    let spool = each.then(FindingSpool::new).transpose().map_err(ClusterError::Spool)?.map(Arc::new);
    let mut report = ReportBuilder::keeping_each(spool);
    let mut page = 0;
    for (api_version, kind) in kinds {
        let mut token: Option<String> = None;
        loop {
            let (items, next) = match objects.list_page(api_version, kind, None, 500, token.as_deref()).await {
                Ok(page) => page,
                Err(e) if e.status_code() == Some(404) => break,
                Err(e) => return Err(e),
            };
            for item in items {
                report.add(validator.check(item, None));
            }
            report.end_batch(page).map_err(ClusterError::Spool)?;
            page += 1;
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    Ok(report.finish(0, validator.crd_count(), validator.knows_old_crds()))
}

/// The kinds of the named CRDs that are installed, each at its live storage version (the version the
/// objects are read at most faithfully); CRDs the cluster does not have are left out.
pub async fn live_kinds<'a>(
    objects: &Objects,
    crd_names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, ClusterError> {
    let mut kinds = Vec::new();
    for name in crd_names {
        if let Some(crd) = objects.get(&ObjectKey::crd(name)).await? {
            kinds.extend(super::desired::kind_at_storage_version(&crd));
        }
    }
    Ok(kinds)
}

/// The image the `from` release runs in the operator's container.
fn expected_image(upgrade: &Upgrade) -> Option<String> {
    if let Some(image) = &upgrade.loaded.plan.spec.from.image {
        return Some(image.clone());
    }
    let target = upgrade.loaded.operator();
    let deployment = upgrade.old.objects.iter().find(|o| {
        o["kind"] == "Deployment"
            && o["metadata"]["name"] == target.deployment.as_str()
            && o["metadata"]["namespace"] == target.namespace.as_str()
    })?;
    container_image(deployment, &target.container)
}

fn container_image(deployment: &Value, container: &str) -> Option<String> {
    deployment["spec"]["template"]["spec"]["containers"].as_array()?.iter().find(|c| c["name"] == container)?["image"]
        .as_str()
        .map(str::to_owned)
}

async fn check_operator(objects: &Objects, upgrade: &Upgrade, live: &mut LivePlan) -> Result<(), ClusterError> {
    let target = upgrade.loaded.operator();
    let key = ObjectKey {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: target.namespace.clone(),
        name: target.deployment.clone(),
    };
    let Some(deployment) = objects.get(&key).await? else {
        live.operator
            .push(format!("the operator Deployment {}/{} does not exist", target.namespace, target.deployment));
        return Ok(());
    };
    let running = container_image(&deployment, &target.container);
    let expected = expected_image(upgrade);
    let new_image = container_image_of_release(upgrade);
    // A resumed run finds the new image already rolled out: that is the run's own doing, not drift.
    if running != expected && running != new_image {
        live.operator.push(format!(
            "the operator's container {} runs {}, not the `from` release's {}",
            target.container,
            running.as_deref().unwrap_or("nothing"),
            expected.as_deref().unwrap_or("(unknown)")
        ));
    }
    let available = deployment["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Available" && c["status"] == "True"));
    if !available {
        live.operator
            .push(format!("the operator Deployment {}/{} is not Available", target.namespace, target.deployment));
    }
    let plan_release = crate::helm::side::release_of(&upgrade.loaded);
    live.managers = foreign_managers(&deployment, &upgrade.loaded.plan.spec.take_ownership_from, plan_release);
    Ok(())
}

fn container_image_of_release(upgrade: &Upgrade) -> Option<String> {
    let target = upgrade.loaded.operator();
    let deployment = upgrade
        .new
        .objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == target.deployment.as_str())?;
    container_image(deployment, &target.container)
}

/// The permissions the run needs ([`super::permissions`]), kinds the releases do not name resolved through
/// discovery (a kind the cluster does not serve is left out: there is nothing of it to touch).
async fn permissions_with_discovery(objects: &Objects, upgrade: &Upgrade) -> BTreeSet<Permission> {
    let mut names = known_resource_names(upgrade);
    let (mut needed, unnamed) = needed_permissions(upgrade, &names);
    if !unnamed.is_empty() {
        for kind in unnamed {
            let Some(api_version) = kind.api_version.as_deref() else { continue };
            if let Ok((resource, namespaced)) = objects.resource(api_version, &kind.kind).await {
                names.insert((kind.group, kind.kind), ResourceName { plural: resource.plural, namespaced });
            }
        }
        needed = needed_permissions(upgrade, &names).0;
    }
    needed
}

/// Asks the API server, with a SelfSubjectAccessReview each, for every permission the run needs.
async fn missing_permissions(objects: &Objects, upgrade: &Upgrade) -> Result<Vec<String>, ClusterError> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(objects.client().clone());
    let mut missing = Vec::new();
    for permission in permissions_with_discovery(objects, upgrade).await {
        let (resource, subresource) = match permission.resource.split_once('/') {
            Some((resource, sub)) => (resource.to_owned(), Some(sub.to_owned())),
            None => (permission.resource.clone(), None),
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(permission.verb.to_owned()),
                    group: Some(permission.group.clone()),
                    resource: Some(resource),
                    subresource,
                    namespace: Some(permission.namespace.clone()).filter(|n| !n.is_empty()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let params = PostParams::default();
        let answer = crate::cluster::retry::with_race_retries(|| reviews.create(&params, &review))
            .await
            .map_err(|e| ClusterError::api("cannot ask for an access review (SelfSubjectAccessReview)", e))?;
        if !answer.status.is_some_and(|s| s.allowed) {
            missing.push(permission.describe());
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(name: &str, versions: &[&str]) -> Crd {
        let (plural, group) = name.split_once('.').unwrap();
        let versions: Vec<Value> = versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({"name": v, "served": true, "storage": i == 0,
                "schema": {"openAPIV3Schema": {"type": "object"}}})
            })
            .collect();
        Crd::from_value(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name}, "spec": {"group": group, "scope": "Namespaced",
            "names": {"kind": "X", "plural": plural}, "versions": versions}}))
        .unwrap()
    }

    fn set(crds: &[Crd]) -> ManifestSet {
        let mut set = ManifestSet::default();
        for crd in crds {
            let source = crate::manifest::DocumentRef { file: "t.yaml".into(), document: 1, line: 1 };
            let loaded = crate::manifest::LoadedCrd {
                crd: crd.clone(),
                source,
                original_api_version: "apiextensions.k8s.io/v1".into(),
            };
            set.crds.insert(crd.name.clone(), loaded);
        }
        set
    }

    #[test]
    fn a_stored_version_the_new_release_drops_blocks_that_crd_only_and_an_unstored_one_is_moot() {
        let (old_a, new_a) = (crd("as.example.com", &["v1", "v2"]), crd("as.example.com", &["v2"]));
        let (old_b, new_b) = (crd("bs.example.com", &["v1", "v2"]), crd("bs.example.com", &["v2"]));
        let plan = Plan::build(&set(&[old_a, old_b]), &set(&[new_a.clone(), new_b.clone()]));
        let stored = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        let (blockers, moot) = judge_stored_versions("as.example.com", &stored(&["v1", "v2"]), &new_a, &plan);
        assert_eq!(blockers.len(), 1, "{blockers:?}");
        assert!(blockers[0].starts_with("as.example.com: status.storedVersions lists v1"), "{blockers:?}");
        assert!(moot.is_empty(), "{moot:?}");

        let (blockers, moot) = judge_stored_versions("bs.example.com", &stored(&["v2"]), &new_b, &plan);
        assert!(blockers.is_empty(), "{blockers:?}");
        assert_eq!(moot.len(), 1, "the offline blocker of bs only: {moot:?}");
        assert!(moot[0].starts_with("bs.example.com v1: removed by the new release"), "{moot:?}");
    }

    #[test]
    fn the_live_plan_without_a_plan_file_says_in_one_line_what_it_did_not_check() {
        let live = LivePlan { not_checked: Some(NOT_CHECKED_WITHOUT_PLAN_FILE.to_owned()), ..LivePlan::default() };
        let text = live.render();
        assert_eq!(text.lines().filter(|l| l.starts_with("not checked")).count(), 1, "{text}");
        assert!(text.contains("operator Deployment") && text.contains("permissions"), "{text}");
    }

    #[test]
    fn a_caller_injected_ca_bundle_is_not_drift() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "xs.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "X", "plural": "xs"},
                "conversion": {"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"],
                    "clientConfig": {"caBundle": "Zm9v", "service": {"name": "w", "namespace": "n"}}}},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
        let mut without = crd.clone();
        without["spec"]["conversion"]["webhook"]["clientConfig"].as_object_mut().unwrap().remove("caBundle");
        let (live, shipped) = (comparable_crd(&crd).unwrap(), comparable_crd(&without).unwrap());
        assert!(diff_crds(Some(&shipped), Some(&live)).is_empty());
    }
}
