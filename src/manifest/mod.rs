//! Reading release manifests: files and directories of multi-document YAML or JSON, classified into CRDs
//! (normalised to `apiextensions.k8s.io/v1`) and every other object, kept for the operator diff.

mod crd;
pub mod input;
mod load;
mod locate;
mod normalise;
mod selector;

pub use crd::{
    AdditionalProperties, ClientConfig, Conversion, ConversionStrategy, Crd, CrdNames, CrdVersion, Schema, Scope,
    ServiceReference, Subresources, ValidationRule, WebhookConversion,
};
pub(crate) use load::json_kind;
pub use load::{load_objects, load_side, DocumentRef, LoadError, LoadedCrd, ManifestSet, Object, SkippedDocument};
pub use locate::line_of_schema_path;
pub use selector::{LabelSelector, Requirement, SelectorError, SelectorOperator};
