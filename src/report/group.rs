//! Compacting what people read: the same change repeated across an embedded structure (a list type tightened on
//! `env`, `volumeMounts` and `ports` of `containers`, `initContainers` and `ephemeralContainers`, in several CRDs)
//! becomes one group with the code, the message's shape and the paths it covers, and info findings become one
//! line per code per CRD. Grouping only changes how findings are shown: every finding is in exactly one group.

use crate::findings::{Finding, FindingCode, Severity};
use std::collections::{BTreeMap, BTreeSet};

/// What stands for the path in a group's message.
pub(super) const PATH_PLACEHOLDER: &str = "<path>";

/// Findings that differ only in where they are: same code, severity and message once the path is taken out.
#[derive(Debug)]
pub(super) struct Repeated<'a> {
    /// The code every member has.
    pub(super) code: FindingCode,
    /// The severity every member has.
    pub(super) severity: Severity,
    /// The members' message with their path replaced by [`PATH_PLACEHOLDER`].
    pub(super) shape: String,
    /// The members, in report order.
    pub(super) members: Vec<&'a Finding>,
}

impl Repeated<'_> {
    /// Where the change is, one line per set of CRD versions sharing the same paths: the paths compacted
    /// (`.spec.{containers,initContainers}[*].env`) and the CRD versions they are in.
    pub(super) fn places(&self) -> Vec<String> {
        let mut by_crd: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for finding in &self.members {
            let crd = match &finding.version {
                Some(version) => format!("{} {version}", finding.crd),
                None => finding.crd.clone(),
            };
            by_crd.entry(crd).or_default().extend(finding.path.as_deref());
        }
        let mut by_paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (crd, paths) in by_crd {
            by_paths.entry(compress_paths(&paths).join(", ")).or_default().push(crd);
        }
        by_paths
            .into_iter()
            .map(|(paths, crds)| match paths.is_empty() {
                true => format!("in {}", crd_list(&crds)),
                false => format!("{paths} in {}", crd_list(&crds)),
            })
            .collect()
    }

    /// How many CRDs the members are in.
    pub(super) fn crd_count(&self) -> usize {
        self.members.iter().map(|f| f.crd.as_str()).collect::<BTreeSet<_>>().len()
    }
}

/// CRD names (each with its version) as a list, the domain they share said once: `certificates v1, orders.acme
/// v1 (names end in .cert-manager.io)`.
fn crd_list(crds: &[String]) -> String {
    let names: Vec<&str> = crds.iter().map(|c| c.split(' ').next().unwrap_or(c)).collect();
    let suffix = shared_domain(&names);
    match (crds.len(), suffix) {
        (2.., Some(suffix)) => {
            let short: Vec<String> = crds.iter().map(|c| c.replacen(suffix, "", 1)).collect();
            format!("{} (names end in {suffix})", short.join(", "))
        }
        _ => crds.join(", "),
    }
}

/// The longest `.`-separated tail every name has after its first label (`.cert-manager.io`), if any.
fn shared_domain<'a>(names: &[&'a str]) -> Option<&'a str> {
    let first = *names.first()?;
    let mut candidate = first.find('.').map(|dot| &first[dot..])?;
    loop {
        if names.iter().all(|name| name.ends_with(candidate) && name.len() > candidate.len()) {
            return Some(candidate);
        }
        let next = candidate[1..].find('.')?;
        candidate = &candidate[1 + next..];
    }
}

/// The shape of a finding's message: the message with its path replaced by [`PATH_PLACEHOLDER`].
fn shape_of(finding: &Finding) -> String {
    match finding.path.as_deref() {
        Some(path) if path != "." && !path.is_empty() => finding.message.replace(path, PATH_PLACEHOLDER),
        _ => finding.message.clone(),
    }
}

/// Splits findings into groups of repeated changes (two or more members; the worst first) and the findings that
/// stand alone (in report order).
pub(super) fn repeated<'a>(findings: &[&'a Finding]) -> (Vec<Repeated<'a>>, Vec<&'a Finding>) {
    let mut groups: Vec<Repeated<'a>> = Vec::new();
    let mut index: BTreeMap<(FindingCode, Severity, String), usize> = BTreeMap::new();
    for finding in findings {
        let key = (finding.code, finding.severity, shape_of(finding));
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Repeated { code: key.0, severity: key.1, shape: key.2, members: Vec::new() });
            groups.len() - 1
        });
        groups[slot].members.push(finding);
    }
    let (mut repeated, single): (Vec<_>, Vec<_>) = groups.into_iter().partition(|g| g.members.len() > 1);
    // The worst first; then by code and shape, so the order does not depend on where each change first appears.
    repeated.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)).then_with(|| a.shape.cmp(&b.shape)));
    let mut alone: Vec<&Finding> = single.into_iter().flat_map(|g| g.members).collect();
    // Back into report order (CRD, version, path, code), which grouping by shape lost.
    alone.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    (repeated, alone)
}

/// Info findings of one CRD with one code: how many, and one example.
#[derive(Debug)]
pub(super) struct CodeSummary<'a> {
    /// The code.
    pub(super) code: FindingCode,
    /// How many findings.
    pub(super) count: usize,
    /// The first of them.
    pub(super) example: &'a Finding,
}

/// One [`CodeSummary`] per code, in code order, for the findings of one CRD.
pub(super) fn per_code<'a>(findings: &[&'a Finding]) -> Vec<CodeSummary<'a>> {
    let mut summaries: BTreeMap<FindingCode, CodeSummary<'a>> = BTreeMap::new();
    for finding in findings {
        summaries
            .entry(finding.code)
            .or_insert(CodeSummary { code: finding.code, count: 0, example: finding })
            .count += 1;
    }
    summaries.into_values().collect()
}

/// Compacts paths that differ in single segments into brace alternatives: `.spec.containers[*].env` and
/// `.spec.initContainers[*].env` become `.spec.{containers,initContainers}[*].env`. Paths are only merged
/// where the result stands for exactly the paths given.
pub(super) fn compress_paths(paths: &[&str]) -> Vec<String> {
    let mut rows: Vec<Vec<BTreeSet<String>>> = paths
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|path| segments(path).into_iter().map(|s| BTreeSet::from([s])).collect())
        .collect();
    while let Some(merged) = merge_once(&rows) {
        rows = merged;
    }
    let mut out: Vec<String> = rows.iter().map(|row| render(row)).collect();
    out.sort();
    out
}

/// One merge step: two or more rows equal except at one position become one row with the union there.
fn merge_once(rows: &[Vec<BTreeSet<String>>]) -> Option<Vec<Vec<BTreeSet<String>>>> {
    let longest = rows.iter().map(Vec::len).max().unwrap_or(0);
    for position in 0..longest {
        let mut by_rest: BTreeMap<Vec<&BTreeSet<String>>, Vec<usize>> = BTreeMap::new();
        for (index, row) in rows.iter().enumerate().filter(|(_, row)| row.len() > position) {
            // Rows of other lengths have rests of other lengths, so they never meet.
            let rest: Vec<&BTreeSet<String>> =
                row.iter().enumerate().filter(|(i, _)| *i != position).map(|(_, s)| s).collect();
            by_rest.entry(rest).or_default().push(index);
        }
        if let Some(members) = by_rest.into_values().find(|members| members.len() > 1) {
            let mut merged = rows[members[0]].clone();
            for &index in &members[1..] {
                merged[position].extend(rows[index][position].iter().cloned());
            }
            let mut next: Vec<Vec<BTreeSet<String>>> =
                rows.iter().enumerate().filter(|(i, _)| !members.contains(i)).map(|(_, r)| r.clone()).collect();
            next.push(merged);
            return Some(next);
        }
    }
    None
}

/// The segments of a path (`.spec.list[*]["a.b"].x` -> `spec`, `list[*]["a.b"]`, `x`); dots inside brackets and
/// quotes do not split.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in path.strip_prefix('.').unwrap_or(path).chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth = depth.saturating_sub(1),
            '.' if depth == 0 && !quoted => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out
}

/// A row of alternatives as a path: `{a,b}` where a segment has several, a shared `[...]` suffix kept outside.
fn render(row: &[BTreeSet<String>]) -> String {
    let mut out = String::new();
    for alternatives in row {
        out.push('.');
        if alternatives.len() == 1 {
            out.push_str(alternatives.iter().next().map(String::as_str).unwrap_or_default());
            continue;
        }
        let suffix = shared_bracket_suffix(alternatives);
        let names: Vec<&str> = alternatives.iter().map(|a| &a[..a.len() - suffix.len()]).collect();
        out.push_str(&format!("{{{}}}{suffix}", names.join(",")));
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// The `[...]` tail every alternative ends with (`[*]`), when there is one.
fn shared_bracket_suffix(alternatives: &BTreeSet<String>) -> String {
    let first = alternatives.iter().next().map(String::as_str).unwrap_or_default();
    let Some(start) = first.find('[') else { return String::new() };
    let suffix = &first[start..];
    let shared = alternatives.iter().all(|a| a.ends_with(suffix) && a.len() > suffix.len());
    if shared {
        suffix.to_owned()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_differ_in_one_segment_at_a_time_are_compacted() {
        let paths = [
            ".spec.containers[*].env",
            ".spec.initContainers[*].env",
            ".spec.containers[*].ports",
            ".spec.initContainers[*].ports",
        ];
        assert_eq!(compress_paths(&paths), [".spec.{containers,initContainers}[*].{env,ports}"]);
        // Not a full product: only what stands for exactly these paths is merged.
        let partial = [".spec.a.x", ".spec.b.x", ".spec.a.y"];
        let compacted = compress_paths(&partial);
        assert_eq!(compacted.len(), 2, "{compacted:?}");
        assert!(compacted.contains(&".spec.a.y".to_owned()) || compacted.contains(&".spec.a.{x,y}".to_owned()));
    }

    #[test]
    fn crd_lists_name_their_shared_domain_once() {
        let crds = ["certificates.cert-manager.io v1".to_owned(), "orders.acme.cert-manager.io v1".to_owned()];
        assert_eq!(crd_list(&crds), "certificates v1, orders.acme v1 (names end in .cert-manager.io)");
        assert_eq!(crd_list(&crds[..1]), "certificates.cert-manager.io v1");
        let unrelated = ["a.example.com v1".to_owned(), "b.other.org v1".to_owned()];
        assert_eq!(crd_list(&unrelated), "a.example.com v1, b.other.org v1");
    }

    #[test]
    fn quoted_names_and_the_root_are_kept_whole() {
        assert_eq!(
            segments(".metadata.labels[\"app.kubernetes.io/name\"]"),
            ["metadata", "labels[\"app.kubernetes.io/name\"]"]
        );
        assert_eq!(compress_paths(&["."]), ["."]);
        assert_eq!(compress_paths(&[".spec.a", ".spec.a"]), [".spec.a"]);
        assert_eq!(compress_paths(&[".spec.items[*]", ".spec.other"]), [".spec.{items[*],other}"]);
    }
}
