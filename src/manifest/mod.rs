//! Reading release manifests: files and directories of multi-document YAML or JSON, classified into CRDs
//! (normalised to `apiextensions.k8s.io/v1`) and every other object, kept for the operator diff. Also the
//! strict reading shared by the tool's own YAML files (the plan file, the simulator's scenario): located
//! parse errors, key paths and their lines, "did you mean".

mod crd;
pub mod input;
mod key_path;
mod load;
mod locate;
mod normalise;
mod selector;
mod strict;
mod suggest;

pub use crd::{
    AdditionalProperties, ClientConfig, Conversion, ConversionStrategy, Crd, CrdNames, CrdVersion, DefaultsAt,
    DefaultsIndex, Schema, Scope, ServiceReference, Subresources, ValidationRule, WebhookConversion,
};
pub use key_path::KeyPath;
pub(crate) use load::json_kind;
pub use load::{
    load_objects, load_objects_text, load_side, load_side_text, DocumentRef, LoadError, LoadedCrd, ManifestSet, Object,
    SkippedDocument,
};
pub use locate::line_of_schema_path;
pub use selector::{LabelSelector, Requirement, SelectorError, SelectorOperator};
pub use strict::{located, parse_strict, problems_text, ParseFailure, Problem};
pub(crate) use suggest::closest;
