//! Structural schemas: pruning and defaulting objects ([`prune`], [`apply_defaults`]), and diffing CRDs: the CRD-level and version rules ([`diff_crds`]) and the walk over two structural schemas
//! ([`diff_schemas`]) that classifies every keyword change into a registered finding.

mod crd_diff;
mod node_diff;
mod path;
pub mod validate;
mod values;

pub use crd_diff::{diff_crd_sets, diff_crds};
pub use node_diff::diff_schemas;
pub(crate) use path::unset_at;
pub use path::{child_property_path, value_at};
pub use values::{
    apply_defaults, apply_defaults_collecting, prune, prune_collecting, prune_non_nullable_nulls, AppliedDefault,
    PrunedField,
};
pub(crate) use values::{LazyPath, SortedLookup};
