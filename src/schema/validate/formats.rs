//! String formats the API server enforces for CRDs (kube-openapi's format registry as apiextensions-apiserver
//! filters it), with the same acceptance rules.
//!
//! Format names are normalised as go-openapi does (dashes removed: `date-time` is `datetime`). Formats outside
//! the registry (and every format on a non-string type) are not enforced by the API server, so they are not
//! checked here either. A few checks approximate Go's parsers (`email` follows `net/mail` loosely, `uri` checks
//! what `url.ParseRequestURI` rejects in practice); the README lists them.

use regex::Regex;
use std::net::IpAddr;
use std::sync::LazyLock;

/// A string format the API server validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `date-time`: RFC 3339 as go-openapi reads it.
    DateTime,
    /// `date`: `2006-01-02`.
    Date,
    /// `duration`: Go's `time.ParseDuration`, or go-openapi's looser `5 days` form.
    Duration,
    /// `byte`: standard base64.
    Byte,
    /// `ipv4`.
    Ipv4,
    /// `ipv6`.
    Ipv6,
    /// `cidr`.
    Cidr,
    /// `mac`.
    Mac,
    /// `uuid`, `uuid3`, `uuid4`, `uuid5`.
    Uuid(UuidVersion),
    /// `hostname` (RFC 1034 with go-openapi's extensions).
    Hostname,
    /// `email`.
    Email,
    /// `uri`: an absolute URI or an absolute path.
    Uri,
    /// `bsonobjectid`: 24 hexadecimal digits.
    BsonObjectId,
    /// `hexcolor`.
    HexColor,
    /// `rgbcolor`.
    RgbColor,
    /// `ssn`.
    Ssn,
    /// `isbn`: ISBN-10 or ISBN-13.
    Isbn,
    /// `isbn10`.
    Isbn10,
    /// `isbn13`.
    Isbn13,
    /// `creditcard`.
    CreditCard,
    /// `quantity`: a Kubernetes resource quantity (`10Gi`, `500m`).
    Quantity,
    /// `password`: any string.
    Password,
}

/// Which UUID version a `uuid*` format requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UuidVersion {
    /// Any version.
    Any,
    /// Version 3.
    V3,
    /// Version 4.
    V4,
    /// Version 5.
    V5,
}

impl Format {
    /// The enforced format of a string node, if the API server enforces this name.
    pub fn for_string(name: &str) -> Option<Format> {
        Some(match name.replace('-', "").as_str() {
            "datetime" => Format::DateTime,
            "date" => Format::Date,
            "duration" => Format::Duration,
            "byte" => Format::Byte,
            "ipv4" => Format::Ipv4,
            "ipv6" => Format::Ipv6,
            "cidr" => Format::Cidr,
            "mac" => Format::Mac,
            "uuid" => Format::Uuid(UuidVersion::Any),
            "uuid3" => Format::Uuid(UuidVersion::V3),
            "uuid4" => Format::Uuid(UuidVersion::V4),
            "uuid5" => Format::Uuid(UuidVersion::V5),
            "hostname" => Format::Hostname,
            "email" => Format::Email,
            "uri" => Format::Uri,
            "bsonobjectid" => Format::BsonObjectId,
            "hexcolor" => Format::HexColor,
            "rgbcolor" => Format::RgbColor,
            "ssn" => Format::Ssn,
            "isbn" => Format::Isbn,
            "isbn10" => Format::Isbn10,
            "isbn13" => Format::Isbn13,
            "creditcard" => Format::CreditCard,
            "quantity" => Format::Quantity,
            "password" => Format::Password,
            _ => return None,
        })
    }

    /// Whether `value` has this format.
    pub fn accepts(self, value: &str) -> bool {
        match self {
            Format::DateTime => is_date_time(value),
            Format::Date => is_date(value),
            Format::Duration => is_duration(value),
            Format::Byte => matches(&BASE64, value),
            Format::Ipv4 => value.contains('.') && value.parse::<IpAddr>().is_ok(),
            Format::Ipv6 => value.contains(':') && value.parse::<IpAddr>().is_ok(),
            Format::Cidr => is_cidr(value),
            Format::Mac => is_mac(value),
            Format::Uuid(version) => is_uuid(value, version),
            Format::Hostname => is_hostname(value),
            Format::Email => is_email(value),
            Format::Uri => is_request_uri(value),
            Format::BsonObjectId => value.len() == 24 && value.bytes().all(|b| b.is_ascii_hexdigit()),
            Format::HexColor => matches(&HEX_COLOR, value),
            Format::RgbColor => matches(&RGB_COLOR, value),
            Format::Ssn => value.len() == 11 && matches(&SSN, value),
            Format::Isbn => is_isbn10(value) || is_isbn13(value),
            Format::Isbn10 => is_isbn10(value),
            Format::Isbn13 => is_isbn13(value),
            Format::CreditCard => is_credit_card(value),
            Format::Quantity => matches(&QUANTITY, value),
            Format::Password => true,
        }
    }

    /// The format's name as schemas spell it, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::DateTime => "date-time",
            Format::Date => "date",
            Format::Duration => "duration",
            Format::Byte => "byte",
            Format::Ipv4 => "ipv4",
            Format::Ipv6 => "ipv6",
            Format::Cidr => "cidr",
            Format::Mac => "mac",
            Format::Uuid(UuidVersion::Any) => "uuid",
            Format::Uuid(UuidVersion::V3) => "uuid3",
            Format::Uuid(UuidVersion::V4) => "uuid4",
            Format::Uuid(UuidVersion::V5) => "uuid5",
            Format::Hostname => "hostname",
            Format::Email => "email",
            Format::Uri => "uri",
            Format::BsonObjectId => "bsonobjectid",
            Format::HexColor => "hexcolor",
            Format::RgbColor => "rgbcolor",
            Format::Ssn => "ssn",
            Format::Isbn => "isbn",
            Format::Isbn10 => "isbn10",
            Format::Isbn13 => "isbn13",
            Format::CreditCard => "creditcard",
            Format::Quantity => "quantity",
            Format::Password => "password",
        }
    }
}

fn regex(pattern: &str) -> Regex {
    // The patterns below are constants exercised by the unit tests; a typo fails every test run, not user input.
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in format pattern {pattern} is invalid: {e}"))
}

fn matches(regex: &LazyLock<Regex>, value: &str) -> bool {
    regex.is_match(value)
}

static TIME_OF_DAY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$"));
static BASE64: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"));
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z0-9\p{S}\p{L}])(-?[a-zA-Z0-9\p{S}\p{L}]){1,62})$",
    )
});
static UUID: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"));
static UUID3: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$"));
static UUID4: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"));
static UUID5: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"));
static HEX_COLOR: LazyLock<Regex> = LazyLock::new(|| regex(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGB_COLOR: LazyLock<Regex> = LazyLock::new(|| {
    let byte = r"(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])";
    regex(&format!(r"^rgb\(\s*{byte}\s*,\s*{byte}\s*,\s*{byte}\s*\)$"))
});
static SSN: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$"));
static QUANTITY: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
});
static CREDIT_CARD: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11}|6[27][0-9]{14})$",
    )
});
static EMAIL_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    let atom = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x{80}-\x{10FFFF}-]+";
    let quoted = r#""(?:[^"\\]|\\.)*""#;
    regex(&format!(r"^(?:{atom}(?:\.{atom})*|{quoted})@(?:{atom}(?:\.{atom})*|\[[^\[\]\\]*\])$"))
});

/// `2006-01-02`, as Go's `time.Parse` reads it: four-digit year, a real month and a day that exists in it.
fn is_date(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = value.get(range)?;
        digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else { return false };
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        _ => 31,
    }
}

/// go-openapi's `IsDateTime`: a date, a `t`, and a time of day with a zone (`z` or `±hh:mm`), compared in
/// lowercase.
fn is_date_time(value: &str) -> bool {
    if value.len() < 4 {
        return false;
    }
    let lower = value.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else { return false };
    if !is_date(date) {
        return false;
    }
    let Some(captures) = TIME_OF_DAY.captures(time) else { return false };
    let field = |i: usize| captures.get(i).map_or("", |m| m.as_str());
    field(1) <= "23" && field(2) <= "59" && field(3) <= "59"
}

/// Go's `time.ParseDuration` grammar, or go-openapi's fallback: any `<digits> <unit>` with a known unit.
fn is_duration(value: &str) -> bool {
    is_go_duration(value) || has_loose_duration_part(value)
}

fn is_go_duration(value: &str) -> bool {
    let rest = value.strip_prefix(['-', '+']).unwrap_or(value);
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        let mut digits = 0;
        while chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
            digits += 1;
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
                digits += 1;
            }
        }
        if digits == 0 {
            return false;
        }
        let mut unit = String::new();
        while let Some(&c) = chars.peek() {
            if c == '.' || c.is_ascii_digit() {
                break;
            }
            unit.push(c);
            chars.next();
        }
        if !matches!(unit.as_str(), "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
    }
    true
}

static LOOSE_DURATION: LazyLock<Regex> = LazyLock::new(|| regex(r"([0-9]+)\s*([A-Za-zµ]+)"));

fn has_loose_duration_part(value: &str) -> bool {
    const UNITS: [&[&str]; 8] = [
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    LOOSE_DURATION.captures_iter(value).any(|captures| {
        let unit = captures.get(2).map_or("", |m| m.as_str()).to_lowercase();
        UNITS.iter().any(|variants| {
            let last = variants.len() - 1;
            variants.iter().enumerate().any(|(i, v)| unit.eq_ignore_ascii_case(v) || (i == last && unit.starts_with(v)))
        })
    })
}

fn is_cidr(value: &str) -> bool {
    let Some((address, prefix)) = value.split_once('/') else { return false };
    let Ok(address) = address.parse::<IpAddr>() else { return false };
    let max = if address.is_ipv4() { 32 } else { 128 };
    !prefix.is_empty()
        && prefix.len() <= 3
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && prefix.parse::<u32>().is_ok_and(|p| p <= max)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx`, `xx-xx` or `xxxx.xxxx`.
fn is_mac(value: &str) -> bool {
    let valid_group_count = |n: usize| matches!(n, 6 | 8 | 20);
    let hex_groups = |separator: char, width: usize| {
        value.split(separator).all(|g| g.len() == width && g.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if value.contains(':') || value.contains('-') {
        let separator = if value.contains(':') { ':' } else { '-' };
        valid_group_count(value.split(separator).count()) && hex_groups(separator, 2)
    } else if value.contains('.') {
        let groups = value.split('.').count();
        matches!(groups, 3 | 4 | 10) && hex_groups('.', 4)
    } else {
        false
    }
}

fn is_uuid(value: &str, version: UuidVersion) -> bool {
    let regex = match version {
        UuidVersion::Any => &UUID,
        UuidVersion::V3 => &UUID3,
        UuidVersion::V4 => &UUID4,
        UuidVersion::V5 => &UUID5,
    };
    regex.is_match(value)
}

fn is_hostname(value: &str) -> bool {
    HOSTNAME.is_match(value) && value.len() <= 255 && value.split('.').all(|label| label.len() <= 63)
}

/// `net/mail.ParseAddress`, loosely: an address, optionally as `Name <address>`.
fn is_email(value: &str) -> bool {
    let address = match (value.rfind('<'), value.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => value.trim(),
    };
    EMAIL_ADDRESS.is_match(address)
}

/// `url.ParseRequestURI`: an absolute URI (`scheme:...`) or an absolute path, without control characters or
/// broken percent-escapes, and with a host free of spaces.
fn is_request_uri(value: &str) -> bool {
    if value.chars().any(|c| c.is_ascii_control()) || !percent_escapes_are_valid(value) {
        return false;
    }
    if value.starts_with('/') {
        return true;
    }
    let Some((scheme, rest)) = value.split_once(':') else { return false };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host_ok = match rest.strip_prefix("//") {
        Some(authority) => !authority.split(['/', '?', '#']).next().unwrap_or_default().contains(' '),
        None => true,
    };
    scheme_ok && host_ok
}

fn percent_escapes_are_valid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.iter().enumerate().filter(|(_, &b)| b == b'%').all(|(i, _)| {
        bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    })
}

fn isbn_digits(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace() && *c != '-').collect()
}

fn is_isbn10(value: &str) -> bool {
    let digits = isbn_digits(value);
    let bytes = digits.as_bytes();
    if bytes.len() != 10 || !bytes[..9].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let check = match bytes[9] {
        b'X' => 10,
        b if b.is_ascii_digit() => u32::from(b - b'0'),
        _ => return false,
    };
    let sum: u32 =
        bytes[..9].iter().enumerate().map(|(i, b)| (i as u32 + 1) * u32::from(b - b'0')).sum::<u32>() + 10 * check;
    sum.is_multiple_of(11)
}

fn is_isbn13(value: &str) -> bool {
    let digits = isbn_digits(value);
    let bytes = digits.as_bytes();
    if bytes.len() != 13 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 =
        bytes[..12].iter().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 }).sum();
    (10 - sum % 10) % 10 == u32::from(bytes[12] - b'0')
}

/// govalidator's `IsCreditCard`: non-digits stripped, a known issuer's pattern, and a valid Luhn checksum.
fn is_credit_card(value: &str) -> bool {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if !CREDIT_CARD.is_match(&digits) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2 == 1, d * 2) {
                (true, doubled) if doubled > 9 => doubled - 9,
                (true, doubled) => doubled,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(format: &str, good: &[&str], bad: &[&str]) {
        let Some(format) = Format::for_string(format) else { panic!("{format} is not an enforced format") };
        for value in good {
            assert!(format.accepts(value), "{} should accept {value:?}", format.name());
        }
        for value in bad {
            assert!(!format.accepts(value), "{} should reject {value:?}", format.name());
        }
    }

    #[test]
    fn date_time_and_date() {
        check(
            "date-time",
            &["2024-02-29T10:00:00Z", "2024-01-01t23:59:59.123+02:00", "2024-01-01T00:00:00.5z"],
            &["2024-01-01", "2023-02-29T10:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T10:00:00", "x"],
        );
        check("date", &["2024-02-29", "1999-12-31"], &["2023-02-29", "2024-13-01", "24-01-01", "2024-1-01"]);
    }

    #[test]
    fn duration_accepts_go_and_go_openapi_forms() {
        check("duration", &["1h30m", "-1.5s", "0", "300ms", "5 days", "2 weeks"], &["", "5", "1x", "h"]);
    }

    #[test]
    fn byte_is_padded_standard_base64() {
        check("byte", &["aGVsbG8=", "aGk=", "YWJj"], &["", "aGVsbG8", "not base64!", "aGk"]);
    }

    #[test]
    fn network_formats() {
        check("ipv4", &["10.0.0.1", "::ffff:1.2.3.4"], &["10.0.0", "256.1.1.1", "::1", "01.2.3.4"]);
        check("ipv6", &["::1", "fe80::1", "2001:db8::8a2e:370:7334"], &["10.0.0.1", ":::", "fe80::1%eth0"]);
        check("cidr", &["10.0.0.0/8", "2001:db8::/32"], &["10.0.0.0", "10.0.0.0/33", "x/8", "10.0.0.0/"]);
        check(
            "mac",
            &["00:00:5e:00:53:01", "00-00-5E-00-53-01", "0000.5e00.5301"],
            &["00:00:5e:00:53", "zz:00:5e:00:53:01"],
        );
        check(
            "hostname",
            &["example.com", "a", "my-host.example.org"],
            &["-bad.example.com", "a..b", "under_score.com"],
        );
    }

    #[test]
    fn identifiers_and_colours() {
        check("uuid", &["123e4567-e89b-12d3-a456-426614174000"], &["123e4567-e89b-12d3-a456"]);
        check("uuid4", &["123e4567-e89b-42d3-a456-426614174000"], &["123e4567-e89b-12d3-a456-426614174000"]);
        check("bsonobjectid", &["507f1f77bcf86cd799439011"], &["507f1f77bcf86cd79943901"]);
        check("hexcolor", &["#fff", "A0B1C2"], &["#ffff", "red"]);
        check("rgbcolor", &["rgb(0, 128,255)"], &["rgb(256,0,0)", "rgb(1,2)"]);
        check("ssn", &["123-45-6789", "123 45 6789"], &["123456789", "12-345-6789"]);
        check("isbn10", &["0-306-40615-2", "043942089X"], &["0-306-40615-3"]);
        check("isbn13", &["978-0-306-40615-7"], &["978-0-306-40615-8"]);
        check("isbn", &["0306406152", "9780306406157"], &["123"]);
        check("creditcard", &["4111 1111 1111 1111", "5500-0000-0000-0004"], &["4111 1111 1111 1112", "1234"]);
    }

    #[test]
    fn quantity_email_uri_password() {
        check("quantity", &["10Gi", "500m", "1.5", "1e3", "+2E-2", ".5k", "1E"], &["", "10GB", "abc", "1.2.3"]);
        check(
            "email",
            &["a@example.com", "Jane <jane.doe+x@example.co.uk>", "\"odd name\"@x.y"],
            &["a", "a@", "@b", "a b@c"],
        );
        check(
            "uri",
            &["https://example.com/a?b#c", "/absolute/path", "urn:isbn:123"],
            &["relative/path", "http://a b/", "%zz", "1http://x"],
        );
        check("password", &["", "anything"], &[]);
    }

    #[test]
    fn only_registered_string_formats_are_enforced() {
        for name in ["int32", "int64", "float", "double", "k8s-short-name", "unknown", "uuid6"] {
            assert!(Format::for_string(name).is_none(), "{name}");
        }
        assert_eq!(Format::for_string("date-time"), Format::for_string("datetime"));
    }
}
