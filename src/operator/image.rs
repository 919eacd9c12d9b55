//! Container image references and the direction of a tag change.

use semver::Version;

/// A parsed image reference: `registry/path/name[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub fn parse(image: &'a str) -> ImageRef<'a> {
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (image, None),
        };
        // A colon after the last slash separates the tag; one before it is a registry port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        match name[last_slash..].rfind(':') {
            Some(colon) => {
                let colon = last_slash + colon;
                ImageRef { repository: &name[..colon], tag: Some(&name[colon + 1..]), digest }
            }
            None => ImageRef { repository: name, tag: None, digest },
        }
    }
}

/// Which way an image change goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Both tags are versions and the new one is higher.
    Upgrade,
    /// Both tags are versions and the new one is lower.
    Downgrade,
    /// A digest, a non-version tag, a different repository or the same version spelt differently.
    Unknown,
}

impl Direction {
    pub fn describe(self) -> &'static str {
        match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
            Direction::Unknown => "direction unknown",
        }
    }
}

/// The direction of a change from `old` to `new`; only version tags of the same repository compare.
pub(crate) fn direction(old: &str, new: &str) -> Direction {
    let (old, new) = (ImageRef::parse(old), ImageRef::parse(new));
    if old.repository != new.repository {
        return Direction::Unknown;
    }
    match (old.tag.and_then(tag_version), new.tag.and_then(tag_version)) {
        (Some(before), Some(after)) if after > before => Direction::Upgrade,
        (Some(before), Some(after)) if after < before => Direction::Downgrade,
        _ => Direction::Unknown,
    }
}

/// The semantic version of a tag, tolerating a leading `v` and a missing minor or patch (`1.30`).
fn tag_version(tag: &str) -> Option<Version> {
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(version) = Version::parse(tag) {
        return Some(version);
    }
    let dots = tag.bytes().filter(|&b| b == b'.').count();
    let padded = match dots {
        0 => format!("{tag}.0.0"),
        1 => format!("{tag}.0"),
        _ => return None,
    };
    Version::parse(&padded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_ports_tags_and_digests() {
        let image = ImageRef::parse("registry:5000/team/op:v1.2.3@sha256:abc");
        assert_eq!(
            image,
            ImageRef { repository: "registry:5000/team/op", tag: Some("v1.2.3"), digest: Some("sha256:abc") }
        );
        assert_eq!(ImageRef::parse("registry:5000/op").tag, None);
    }

    #[test]
    fn directions() {
        assert_eq!(direction("r/op:v1.9.0", "r/op:1.10.0"), Direction::Upgrade);
        assert_eq!(direction("r/op:1.30", "r/op:1.29.2"), Direction::Downgrade);
        assert_eq!(direction("r/op:latest", "r/op:1.0.0"), Direction::Unknown);
        assert_eq!(direction("r/op@sha256:a", "r/op@sha256:b"), Direction::Unknown);
        assert_eq!(direction("r/op:1.0.0", "other/op:2.0.0"), Direction::Unknown);
        assert_eq!(direction("r/op:v1.0.0-rc.1", "r/op:v1.0.0"), Direction::Upgrade);
    }
}
