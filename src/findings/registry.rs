//! Every finding code, registered once: default severity, what breaks, and why.

use super::Severity;
use serde::Serialize;
use std::fmt;

/// What one registry entry says about a finding code.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// The code this entry documents.
    pub code: FindingCode,
    /// The severity a finding of this code gets unless a documented adjustment applies.
    pub severity: Severity,
    /// Who or what breaks when this change ships.
    pub breaks: &'static str,
    /// One sentence of why, for reports and SARIF rule help.
    pub why: &'static str,
}

macro_rules! finding_codes {
    ($( $variant:ident => $code:literal, $severity:ident, $breaks:literal, $why:literal; )+) => {
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
                severity: Severity::$severity,
                breaks: $breaks,
                why: $why,
            },)+
        ];
    };
}

finding_codes! {
    // CRD level
    CrdAdded => "crd-added", Info, "nothing", "A new CRD adds a kind; nothing existing changes.";
    CrdRemoved => "crd-removed", Breaking, "clients and the operator's management of every object of the kind", "The new release no longer ships the CRD, so its objects are left unmanaged (the tool never deletes a CRD).";
    ScopeChanged => "scope-changed", Blocker, "the CRD update itself", "The API server rejects a scope change on an established CRD.";
    NamesChanged => "names-changed", Blocker, "the CRD update itself, or clients addressing the kind", "Group and plural are immutable and kind is immutable once established; the API server rejects the update.";
    ShortNamesChanged => "short-names-changed", Info, "kubectl shortcuts in scripts", "Short names only affect kubectl lookups.";
    CategoriesChanged => "categories-changed", Info, "`kubectl get <category>` listings", "Categories only group kinds for kubectl.";
    PrinterColumnsChanged => "printer-columns-changed", Info, "kubectl table output", "Printer columns only change what `kubectl get` shows.";
    SelectableFieldsChanged => "selectable-fields-changed", Info, "field selectors on the kind", "A removed selectable field makes field-selector queries on it fail; an added one only adds a query.";
    SubresourceAdded => "subresource-added", Info, "writers of status through the main endpoint", "With a status subresource, status written through the main endpoint is ignored and spec through /status is ignored.";
    SubresourceRemoved => "subresource-removed", Breaking, "clients of the removed subresource", "Requests to a removed /status or /scale endpoint fail with 404.";
    PreserveUnknownFieldsRemoved => "preserve-unknown-fields-removed", Breaking, "data in fields the schema does not declare", "Without x-kubernetes-preserve-unknown-fields, undeclared fields are pruned on the next write: silent data loss.";
    PreserveUnknownFieldsAdded => "preserve-unknown-fields-added", Info, "nothing", "Unknown fields are kept from now on instead of pruned.";
    // versions
    VersionAdded => "version-added", Info, "nothing", "A new served version adds an endpoint; existing ones are unchanged.";
    VersionRemoved => "version-removed", Breaking, "clients of the version, and objects stored at it", "Requests at a removed version fail, and the API server rejects dropping a version still listed in status.storedVersions.";
    VersionUnserved => "version-unserved", Breaking, "clients of the version", "Requests at a version no longer served fail with 404.";
    VersionServed => "version-served", Info, "nothing", "A version that was not served is served again.";
    VersionDeprecated => "version-deprecated", Info, "nothing yet; clients get warnings", "A deprecated version announces its removal in a later release.";
    StorageVersionChanged => "storage-version-changed", Warning, "objects at rest, which stay at the old version until rewritten", "Objects are never converted at rest: a storage migration and a storedVersions trim must follow before the old version can go.";
    ConversionChanged => "conversion-changed", Warning, "reads and writes across versions", "A changed conversion strategy or webhook changes how every object is converted between versions.";
    SchemaDivergedWithoutConversion => "schema-diverged-without-conversion", Warning, "data written through one version", "With conversion None, data written through one version is pruned by the other version's different schema.";
    // schema
    FieldRemoved => "field-removed", Breaking, "data in the field and clients that set it", "A field removed from the schema is pruned from each object on its next write: data loss, not just a client break.";
    FieldAdded => "field-added", Info, "nothing", "A new optional field widens the schema.";
    TypeChanged => "type-changed", Breaking, "every object with a value in the field", "Existing values of the old type fail validation and clients send the wrong type.";
    EnumAdded => "enum-added", Warning, "objects whose value is not in the new enum", "An enum on an existing field restricts values that were accepted before.";
    EnumValueRemoved => "enum-value-removed", Breaking, "objects and clients using the removed value", "A value that was accepted is now rejected.";
    EnumValueAdded => "enum-value-added", Info, "readers of status that do not know the value", "A new accepted value widens spec; in status it can surprise readers.";
    RequiredAdded => "required-added", Breaking, "every object without the field, on its next write", "Required is not ratcheted: any write of an object lacking the field is rejected.";
    RequiredRemoved => "required-removed", Info, "readers that assumed the field is present", "A field that was required becomes optional.";
    PatternAdded => "pattern-added", Warning, "objects whose value does not match", "A new pattern rejects values that were accepted before (ratcheted for unchanged values).";
    PatternChanged => "pattern-changed", Warning, "objects whose value does not match the new pattern", "A changed pattern may reject values that were accepted before.";
    PatternRemoved => "pattern-removed", Info, "nothing", "Removing a pattern accepts more values.";
    FormatAdded => "format-added", Warning, "objects whose value does not have the format", "A new format rejects values that were accepted before where the API server enforces it.";
    FormatChanged => "format-changed", Warning, "objects whose value does not have the new format", "A changed format may reject values that were accepted before.";
    MaxTightened => "max-tightened", Warning, "objects above the new limit", "A lower or new maximum (value, length, items or properties) rejects values that were accepted before.";
    MinTightened => "min-tightened", Warning, "objects below the new limit", "A higher or new minimum (value, length, items or properties) rejects values that were accepted before.";
    ConstraintRelaxed => "constraint-relaxed", Info, "nothing", "A bound, format or restriction was loosened or removed.";
    NullableAdded => "nullable-added", Info, "readers that assumed a value", "null becomes an accepted value.";
    NullableRemoved => "nullable-removed", Warning, "objects holding null in the field", "null is no longer accepted; null values are pruned or rejected.";
    DefaultAdded => "default-added", Warning, "every reader of objects without the field", "Defaults apply on read from the storage schema: every object without the field changes at once.";
    DefaultChanged => "default-changed", Warning, "every reader of objects relying on the default", "Every object relying on the old default now reads the new one.";
    DefaultRemoved => "default-removed", Warning, "readers that relied on the default", "Objects written from now on no longer get the value filled in.";
    ListTypeTightened => "list-type-tightened", Warning, "objects with duplicate entries, on their next write", "x-kubernetes-list-type set/map is not ratcheted: an object with duplicates fails its next write.";
    ListTypeChanged => "list-type-changed", Info, "server-side apply merge behaviour", "The list's merge strategy changed without adding a uniqueness constraint.";
    UniqueItemsAdded => "unique-items-added", Warning, "objects with duplicate entries", "Lists with duplicate entries are rejected.";
    AdditionalPropertiesRestricted => "additional-properties-restricted", Warning, "map entries the schema no longer allows", "Keys or values that the map accepted before are now pruned or rejected.";
    CelRuleAdded => "cel-rule-added", Warning, "objects that violate the rule", "A new validation rule rejects writes of objects that violate it.";
    CelRuleChanged => "cel-rule-changed", Warning, "objects that violate the changed rule", "A changed rule may reject objects that passed before.";
    CelRuleRemoved => "cel-rule-removed", Info, "nothing", "Removing a rule accepts more objects.";
    CelTransitionRuleAdded => "cel-transition-rule-added", Warning, "updates that change the guarded value", "A rule using oldSelf is never ratcheted: updates it forbids fail from now on.";
    CelMessageChanged => "cel-message-changed", Info, "clients matching on the error text", "Only the message of a rule changed.";
    DescriptionChanged => "description-changed", Info, "nothing", "Documentation only.";
    SchemaChanged => "schema-changed", Warning, "depends on the keyword", "A schema keyword no other rule covers changed; review it.";
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
