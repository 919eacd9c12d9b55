//! Every finding code, registered once: default severity, what breaks, and why.

use super::Severity;
use serde::Serialize;
use std::fmt;

/// Which part of the tool reports a code: each family has its own fixtures and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// A difference between the old and the new CRDs (`plan`).
    CrdDiff,
    /// An existing custom resource checked against the new CRDs (`validate`, `plan --objects`).
    ObjectValidation,
    /// A difference between the old and the new operator manifests (Deployments, RBAC, webhooks, ...).
    OperatorDiff,
    /// A production-readiness problem in the new release's operator manifests.
    Lint,
}

/// What one registry entry says about a finding code.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// The code this entry documents.
    pub code: FindingCode,
    /// Which part of the tool reports this code.
    pub family: Family,
    /// The severity a finding of this code gets unless a documented adjustment applies.
    pub severity: Severity,
    /// Who or what breaks when this change ships.
    pub breaks: &'static str,
    /// One sentence of why, for reports and SARIF rule help.
    pub why: &'static str,
}

macro_rules! finding_codes {
    ($( $variant:ident => $code:literal, $family:ident, $severity:ident, $breaks:literal, $why:literal; )+) => {
        /// A stable identifier for one kind of change. Spelled in kebab-case in every output.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FindingCode {
            $(
                #[doc = $why]
                $variant,
            )+
        }

        impl FindingCode {
            /// Every code, in registry order.
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$variant),+];

            /// The stable kebab-case spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(FindingCode::$variant => $code,)+
                }
            }

            /// The code for a kebab-case spelling, if it is registered.
            pub fn parse(code: &str) -> Option<FindingCode> {
                match code {
                    $($code => Some(FindingCode::$variant),)+
                    _ => None,
                }
            }
        }

        /// The registry: one entry per code, in the same order as [`FindingCode::ALL`].
        pub const REGISTRY: &[RuleInfo] = &[
            $(RuleInfo {
                code: FindingCode::$variant,
                family: Family::$family,
                severity: Severity::$severity,
                breaks: $breaks,
                why: $why,
            },)+
        ];
    };
}

finding_codes! {
    // CRD level
    CrdAdded => "crd-added", CrdDiff, Info, "nothing", "A new CRD adds a kind; nothing existing changes.";
    CrdRemoved => "crd-removed", CrdDiff, Breaking, "clients and the operator's management of every object of the kind", "The new release no longer ships the CRD, so its objects are left unmanaged (the tool never deletes a CRD).";
    ScopeChanged => "scope-changed", CrdDiff, Blocker, "the CRD update itself", "The API server rejects a scope change on an established CRD.";
    NamesChanged => "names-changed", CrdDiff, Blocker, "the CRD update itself, or clients addressing the kind", "Group and plural are immutable and kind is immutable once established; the API server rejects the update.";
    ShortNamesChanged => "short-names-changed", CrdDiff, Info, "kubectl shortcuts in scripts", "Short names only affect kubectl lookups.";
    CategoriesChanged => "categories-changed", CrdDiff, Info, "`kubectl get <category>` listings", "Categories only group kinds for kubectl.";
    PrinterColumnsChanged => "printer-columns-changed", CrdDiff, Info, "kubectl table output", "Printer columns only change what `kubectl get` shows.";
    SelectableFieldsChanged => "selectable-fields-changed", CrdDiff, Info, "field selectors on the kind", "A removed selectable field makes field-selector queries on it fail; an added one only adds a query.";
    SubresourceAdded => "subresource-added", CrdDiff, Info, "writers of status through the main endpoint", "With a status subresource, status written through the main endpoint is ignored and spec through /status is ignored.";
    SubresourceRemoved => "subresource-removed", CrdDiff, Breaking, "clients of the removed subresource", "Requests to a removed /status or /scale endpoint fail with 404.";
    ScaleSubresourceChanged => "scale-subresource-changed", CrdDiff, Warning, "HorizontalPodAutoscalers, kubectl scale and other clients of /scale", "The scale subresource maps replicas and the label selector to other fields of the object, so scaling through /scale reads and writes different fields from now on (only paths added is info).";
    PreserveUnknownFieldsRemoved => "preserve-unknown-fields-removed", CrdDiff, Breaking, "data in fields the schema does not declare", "Without x-kubernetes-preserve-unknown-fields, undeclared fields are pruned on the next write: silent data loss.";
    PreserveUnknownFieldsAdded => "preserve-unknown-fields-added", CrdDiff, Info, "nothing", "Unknown fields are kept from now on instead of pruned.";
    // versions
    VersionAdded => "version-added", CrdDiff, Info, "nothing", "A new served version adds an endpoint; existing ones are unchanged.";
    VersionRemoved => "version-removed", CrdDiff, Breaking, "clients of the version, and objects stored at it", "Requests at a removed version fail, and the API server rejects dropping a version still listed in status.storedVersions.";
    VersionUnserved => "version-unserved", CrdDiff, Breaking, "clients of the version", "Requests at a version no longer served fail with 404.";
    VersionServed => "version-served", CrdDiff, Info, "nothing", "A version that was not served is served again.";
    VersionDeprecated => "version-deprecated", CrdDiff, Info, "nothing yet; clients get warnings", "A deprecated version announces its removal in a later release.";
    StorageVersionChanged => "storage-version-changed", CrdDiff, Warning, "objects at rest, which stay at the old version until rewritten", "Objects are never converted at rest: a storage migration and a storedVersions trim must follow before the old version can go.";
    ConversionChanged => "conversion-changed", CrdDiff, Warning, "reads and writes across versions", "A changed conversion strategy or webhook changes how every object is converted between versions.";
    SchemaDivergedWithoutConversion => "schema-diverged-without-conversion", CrdDiff, Warning, "data written through one version", "With conversion None, data written through one version is pruned by the other version's different schema.";
    // schema
    FieldRemoved => "field-removed", CrdDiff, Breaking, "data in the field and clients that set it", "A field removed from the schema is pruned from each object on its next write: data loss, not just a client break.";
    FieldAdded => "field-added", CrdDiff, Info, "nothing", "A new optional field widens the schema.";
    TypeChanged => "type-changed", CrdDiff, Breaking, "every object with a value in the field", "Existing values of the old type fail validation and clients send the wrong type.";
    EnumAdded => "enum-added", CrdDiff, Warning, "objects whose value is not in the new enum", "An enum on an existing field restricts values that were accepted before.";
    EnumValueRemoved => "enum-value-removed", CrdDiff, Breaking, "objects and clients using the removed value", "A value that was accepted is now rejected.";
    EnumValueAdded => "enum-value-added", CrdDiff, Info, "readers of status that do not know the value", "A new accepted value widens spec; in status it can surprise readers.";
    RequiredAdded => "required-added", CrdDiff, Breaking, "every object without the field, on its next write", "Required is not ratcheted: any write of an object lacking the field is rejected.";
    RequiredRemoved => "required-removed", CrdDiff, Info, "readers that assumed the field is present", "A field that was required becomes optional.";
    PatternAdded => "pattern-added", CrdDiff, Warning, "objects whose value does not match", "A new pattern rejects values that were accepted before (ratcheted for unchanged values).";
    PatternChanged => "pattern-changed", CrdDiff, Warning, "objects whose value does not match the new pattern", "A changed pattern may reject values that were accepted before.";
    PatternRemoved => "pattern-removed", CrdDiff, Info, "nothing", "Removing a pattern accepts more values.";
    FormatAdded => "format-added", CrdDiff, Warning, "objects whose value does not have the format", "A new format rejects values that were accepted before where the API server enforces it.";
    FormatChanged => "format-changed", CrdDiff, Warning, "objects whose value does not have the new format", "A changed format may reject values that were accepted before.";
    MaxTightened => "max-tightened", CrdDiff, Warning, "objects above the new limit", "A lower or new maximum (value, length, items or properties) rejects values that were accepted before.";
    MinTightened => "min-tightened", CrdDiff, Warning, "objects below the new limit", "A higher or new minimum (value, length, items or properties) rejects values that were accepted before.";
    ConstraintRelaxed => "constraint-relaxed", CrdDiff, Info, "nothing", "A bound, format or restriction was loosened or removed.";
    NullableAdded => "nullable-added", CrdDiff, Info, "readers that assumed a value", "null becomes an accepted value.";
    NullableRemoved => "nullable-removed", CrdDiff, Warning, "objects holding null in the field", "null is no longer accepted; null values are pruned or rejected.";
    DefaultAdded => "default-added", CrdDiff, Warning, "every reader of objects without the field", "Defaults apply on read from the storage schema: every object without the field changes at once.";
    DefaultChanged => "default-changed", CrdDiff, Warning, "every reader of objects relying on the default", "Every object relying on the old default now reads the new one.";
    DefaultRemoved => "default-removed", CrdDiff, Warning, "readers that relied on the default", "Objects written from now on no longer get the value filled in.";
    ListTypeTightened => "list-type-tightened", CrdDiff, Warning, "new objects with duplicate entries (restores, copies)", "x-kubernetes-list-type set/map makes duplicate entries invalid: existing objects with duplicates can still be written (the API server skips the check while the stored object fails it), but creating one like them, as a restore from backup does, is rejected.";
    ListTypeChanged => "list-type-changed", CrdDiff, Info, "server-side apply merge behaviour", "The list's merge strategy changed without adding a uniqueness constraint.";
    UniqueItemsAdded => "unique-items-added", CrdDiff, Warning, "objects with duplicate entries", "Lists with duplicate entries are rejected.";
    AdditionalPropertiesRestricted => "additional-properties-restricted", CrdDiff, Warning, "map entries the schema no longer allows", "Keys or values that the map accepted before are now pruned or rejected.";
    CelRuleAdded => "cel-rule-added", CrdDiff, Warning, "objects that violate the rule", "A new validation rule rejects writes of objects that violate it.";
    CelRuleChanged => "cel-rule-changed", CrdDiff, Warning, "objects that violate the changed rule", "A changed rule may reject objects that passed before.";
    CelRuleRemoved => "cel-rule-removed", CrdDiff, Info, "nothing", "Removing a rule accepts more objects.";
    CelTransitionRuleAdded => "cel-transition-rule-added", CrdDiff, Warning, "updates that change the guarded value", "A rule using oldSelf is never ratcheted: updates it forbids fail from now on.";
    CelMessageChanged => "cel-message-changed", CrdDiff, Info, "clients matching on the error text", "Only the message of a rule changed.";
    DescriptionChanged => "description-changed", CrdDiff, Info, "nothing", "Documentation only.";
    SchemaChanged => "schema-changed", CrdDiff, Warning, "depends on the keyword", "A schema keyword no other rule covers changed; review it.";
    // ---- object validation (existing custom resources against the new CRDs) ----
    ObjectVersionNotServed => "object-version-not-served", ObjectValidation, Breaking, "every read and write of the object at its version", "The new CRD does not serve the object's version: requests at it fail, and the object must be migrated to a served version first.";
    ObjectKindUnknown => "object-kind-unknown", ObjectValidation, Warning, "the object, whose CRD the new release may have dropped", "No CRD in the new set defines the object's kind although the set defines other kinds of its group (or the old CRDs defined it), so its CRD may have been removed: the object cannot be checked and the new release may not manage it; a kind of another project's group is info.";
    DataPruned => "data-pruned", ObjectValidation, Breaking, "the data in the field, deleted on the object's next write", "The new schema does not declare the field and no x-kubernetes-preserve-unknown-fields covers it, so the API server prunes it on the next write: silent data loss. A mapping held where the schema declares an array or a scalar loses every key, on write and on read (it reads back as {}), so even an unchanged update loses it.";
    DefaultApplied => "default-applied", ObjectValidation, Warning, "readers of the object, who see the new default at once", "Defaults apply on read: a field the object lacks reads as the new schema's default as soon as the CRD is applied, and is written back on the next update; reported where the old CRDs did not default it or defaulted it to another value (info without the old CRDs).";
    ValueInvalid => "value-invalid", ObjectValidation, Warning, "the object's next write that changes the value; every write where not ratcheted", "The value violates the new schema; ratcheting lets an unchanged value through, except under allOf/anyOf/oneOf/not, in embedded resources and in status the operator writes.";
    RequiredMissing => "required-missing", ObjectValidation, Breaking, "every write of the object", "Required is not ratcheted: the API server rejects any write of an object lacking a required field.";
    DuplicateListKey => "duplicate-list-key", ObjectValidation, Warning, "re-creating the object (a restore, a copy in another cluster)", "The object has duplicate entries in a list of type set or map: the API server lets its writes through while the stored object has them (list-type ratcheting), but a new object like it, such as a restore from backup, is rejected.";
    PatternUnevaluable => "pattern-unevaluable", ObjectValidation, Warning, "nothing known: the check could not run", "The schema's pattern uses RE2 syntax the regex crate lacks, so the value was not checked: never a pass, never a failure.";
    CelRuleViolated => "cel-rule-violated", ObjectValidation, Warning, "the object's next write; every write for transition rules and status", "The object fails an x-kubernetes-validations rule of the new schema (or raises the runtime error the API server rejects with); ratcheting lets an unchanged object through, except for rules using oldSelf.";
    CelUnevaluable => "cel-unevaluable", ObjectValidation, Warning, "nothing known: the rule could not run", "The rule uses CEL the client-side interpreter lacks (type(), cel.bind, two-variable comprehensions, sortBy, ...) or failed in it, so it was not checked: never a pass, never a failure.";
    // ---- end of object validation ----
    // ---- operator manifest diff ----
    ObjectAdded => "object-added", OperatorDiff, Info, "nothing existing", "A new object ships with the release; nothing that exists changes.";
    ObjectRemoved => "object-removed", OperatorDiff, Warning, "whatever used the object", "The new release no longer ships the object: it stays in the cluster until removed, and whatever relied on it must not any more.";
    ObjectChanged => "object-changed", OperatorDiff, Info, "depends on the field", "A field no specific rule covers changed; the unified diff shows it for review.";
    ContainerAdded => "container-added", OperatorDiff, Info, "nothing existing", "A new container (often a sidecar) runs beside the operator.";
    ContainerRemoved => "container-removed", OperatorDiff, Warning, "whatever the container served (metrics proxy, webhook, sidecar)", "Endpoints and work of the removed container disappear, such as a kube-rbac-proxy in front of the metrics.";
    ImageChanged => "image-changed", OperatorDiff, Info, "the operator's behaviour: new code runs", "The workload runs a newer or differently tagged image: this is the upgrade itself.";
    ImageDowngraded => "image-downgraded", OperatorDiff, Warning, "objects and status written by the newer version", "An older image may not understand fields or status values that the newer one wrote.";
    ArgsChanged => "args-changed", OperatorDiff, Warning, "the operator's behaviour: flags select features, scope and leader election", "Flags change what the operator watches and does, and the canary rescopes the operator through them.";
    EnvChanged => "env-changed", OperatorDiff, Info, "settings read from the environment", "Environment variables configure the operator; a removed one falls back to its default (a warning then).";
    ResourcesChanged => "resources-changed", OperatorDiff, Info, "scheduling, and the pods when a limit is lowered", "Raised requests can leave pods unschedulable; a lowered request or limit, or a removed request, risks OOM kills, throttling or eviction (a warning then).";
    SelectorChanged => "selector-changed", OperatorDiff, Breaking, "the apply of the workload", "spec.selector of a Deployment, StatefulSet or DaemonSet is immutable: the API server rejects the update, so the workload must be deleted and recreated.";
    ReplicasChanged => "replicas-changed", OperatorDiff, Info, "availability of the operator and its webhooks", "The number of operator pods changes; with leader election only one reconciles at a time.";
    ProbesChanged => "probes-changed", OperatorDiff, Info, "when pods count as ready and when they are restarted", "Probes ship with the image that serves them, but a stricter one can restart or hold back pods that were healthy.";
    SecurityContextChanged => "security-context-changed", OperatorDiff, Warning, "pod admission and the operator's file and process access", "A stricter context can be rejected by Pod Security admission or break writes at runtime; a looser one widens what a compromise can do.";
    ServiceAccountChanged => "service-account-changed", OperatorDiff, Warning, "every permission of the operator", "The pods run as another identity, whose account and bindings must exist before they start.";
    VolumesChanged => "volumes-changed", OperatorDiff, Info, "files the operator reads or writes (certificates, configuration, scratch space)", "Mounted certificates, configuration or scratch space move or change; the new image expects the new layout.";
    RbacPermissionAdded => "rbac-permission-added", OperatorDiff, Info, "nothing existing", "The role grants more; permissions are additive, so nothing that worked stops working.";
    RbacPermissionRemoved => "rbac-permission-removed", OperatorDiff, Warning, "anything still using the permission (the old operator during a canary, other tooling)", "Requests that relied on the permission are denied from the moment the role is updated.";
    RbacClusterWideAccessAdded => "rbac-cluster-wide-access-added", OperatorDiff, Warning, "the blast radius of the operator's account", "A permission granted through a ClusterRoleBinding applies in every namespace, present and future.";
    RbacEscalationAdded => "rbac-escalation-added", OperatorDiff, Warning, "the cluster's privilege boundaries", "escalate, bind and impersonate let the account grant itself or act with permissions it does not hold; nothing breaks on upgrade, so a warning that needs a reviewer, not a breaking change.";
    RbacAggregationChanged => "rbac-aggregation-changed", OperatorDiff, Warning, "the permissions of the aggregated role", "The role's permissions become those of whatever roles its new selectors match, which the manifests do not show.";
    RbacBindingAdded => "rbac-binding-added", OperatorDiff, Info, "nothing existing", "A new binding grants an existing or new role to its subjects.";
    RbacBindingRemoved => "rbac-binding-removed", OperatorDiff, Warning, "the subjects of the binding", "The subjects lose the role's permissions once the binding is removed from the cluster.";
    RbacBindingSubjectsChanged => "rbac-binding-subjects-changed", OperatorDiff, Warning, "subjects added to or removed from the binding", "A removed subject loses the role's permissions; when subjects are only added, this is info.";
    RbacBindingRoleChanged => "rbac-binding-role-changed", OperatorDiff, Breaking, "the apply of the binding", "roleRef is immutable: the API server rejects the update, so the binding must be deleted and recreated, and its subjects lose access in between.";
    WebhookAdded => "webhook-added", OperatorDiff, Warning, "writes to the matched resources", "A new admission webhook can block writes to the resources it matches while its service is not ready.";
    WebhookRemoved => "webhook-removed", OperatorDiff, Info, "the checks or defaults the webhook applied", "Writes are no longer validated or mutated by the webhook; the new release moved or dropped that logic.";
    WebhookClientChanged => "webhook-client-changed", OperatorDiff, Warning, "admission of writes while old and new pods serve the webhook", "The API server calls another service, path or URL; pods of the old version behind it may not serve the new path.";
    WebhookFailurePolicyChanged => "webhook-failure-policy-changed", OperatorDiff, Warning, "writes while the webhook is unavailable", "With Fail, writes to matched resources are rejected whenever the webhook is down (a change to Ignore is info).";
    WebhookRulesChanged => "webhook-rules-changed", OperatorDiff, Warning, "writes that newly go through the webhook", "Writes to more resources or operations depend on the webhook being up (only narrowed rules are info).";
    WebhookSelectorChanged => "webhook-selector-changed", OperatorDiff, Warning, "which namespaces and objects the webhook sees", "Namespace and object selectors, match conditions and match policy decide which writes depend on the webhook.";
    WebhookSettingsChanged => "webhook-settings-changed", OperatorDiff, Info, "how the API server calls the webhook", "Timeout, side effects, review versions or reinvocation changed; writes may wait longer or be called again.";
    // ---- end of operator manifest diff ----
    // ---- production-readiness lint ----
    LintRbacWildcard => "lint-rbac-wildcard", Lint, Warning, "least privilege", "A `*` verb or resource grants everything, including resources and verbs added to the cluster later.";
    LintRbacClusterSecretRead => "lint-rbac-cluster-secret-read", Lint, Warning, "the confidentiality of every Secret in the cluster", "Reading Secrets cluster-wide exposes every credential in every namespace if the operator's token leaks.";
    LintRbacEscalation => "lint-rbac-escalation", Lint, Warning, "the cluster's privilege boundaries", "escalate, bind and impersonate let a leaked operator token gain permissions it was never granted.";
    LintMissingResourceRequests => "lint-missing-resource-requests", Lint, Warning, "scheduling and eviction of the operator", "Without CPU and memory requests the pods are BestEffort or Burstable and the first evicted under node pressure.";
    LintMissingResourceLimits => "lint-missing-resource-limits", Lint, Warning, "the node the operator runs on", "Without CPU and memory limits a leaking or looping operator can starve the other pods of its node.";
    LintSingleReplica => "lint-single-replica", Lint, Warning, "reconciliation and webhook serving during node drains and crashes", "With one replica a drain or crash stops reconciliation and, for webhooks that fail closed, blocks writes.";
    LintNoLeaderElection => "lint-no-leader-election", Lint, Warning, "objects reconciled by two operator pods at once", "Without leader election, extra replicas or the overlap of a rolling update run two controllers that fight over the same objects.";
    LintNoMetricsEndpoint => "lint-no-metrics-endpoint", Lint, Warning, "monitoring and canary analysis", "Without a metrics endpoint nobody sees reconcile errors, and a canary has nothing to judge by.";
    LintMissingLivenessProbe => "lint-missing-liveness-probe", Lint, Warning, "recovery from a hung operator", "Without a liveness probe a deadlocked operator is never restarted and silently stops reconciling.";
    LintMissingReadinessProbe => "lint-missing-readiness-probe", Lint, Warning, "rollouts and webhook traffic", "Without a readiness probe a rollout proceeds and webhook calls arrive before the new pod can serve.";
    LintRunAsRoot => "lint-run-as-root", Lint, Warning, "container isolation", "Without runAsNonRoot the container may run as root, so a compromise or bug gets root on the container's filesystem and kernel interfaces.";
    LintWritableRootFilesystem => "lint-writable-root-filesystem", Lint, Warning, "container integrity", "A writable root filesystem lets an attacker or a bug change the operator's binaries and configuration at runtime.";
    LintPrivilegeEscalation => "lint-privilege-escalation-allowed", Lint, Warning, "container isolation", "Unless allowPrivilegeEscalation is false (and the container is not privileged), a process can gain more privileges than it started with.";
    LintNoPodDisruptionBudget => "lint-no-pod-disruption-budget", Lint, Warning, "availability during node maintenance", "Without a PodDisruptionBudget a node drain may evict every operator pod at once.";
    // ---- end of production-readiness lint ----
}

impl FindingCode {
    /// The registry entry for this code.
    pub fn info(self) -> &'static RuleInfo {
        // REGISTRY is generated in the same order as the enum, so the discriminant is the index.
        &REGISTRY[self as usize]
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for FindingCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        FindingCode::parse(&code).ok_or_else(|| serde::de::Error::custom(format!("unknown finding code `{code}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_registered_once_in_enum_order() {
        assert_eq!(REGISTRY.len(), FindingCode::ALL.len());
        for (index, entry) in REGISTRY.iter().enumerate() {
            assert_eq!(entry.code as usize, index, "{} out of order", entry.code);
            assert_eq!(entry.code.info().code, entry.code);
        }
        let spellings: HashSet<_> = REGISTRY.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(spellings.len(), REGISTRY.len(), "a spelling is used twice");
    }

    #[test]
    fn every_code_is_documented_and_round_trips() {
        for entry in REGISTRY {
            assert!(!entry.why.is_empty() && entry.why.ends_with('.'), "{}: why", entry.code);
            assert!(!entry.breaks.is_empty(), "{}: breaks", entry.code);
            assert_eq!(FindingCode::parse(entry.code.as_str()), Some(entry.code));
            let spelled = entry.code.as_str();
            assert!(spelled.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{spelled} is not kebab-case");
        }
    }
}
