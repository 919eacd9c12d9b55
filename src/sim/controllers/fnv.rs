//! 64-bit FNV-1a over JSON values: tiny and stable across Rust versions and platforms (std's hashers
//! promise neither), for names and seeded draws that must not change between builds.

use serde_json::Value;

/// A running FNV-1a hash.
pub(super) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Feeds raw bytes.
    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Feeds a string, length-prefixed so `["ab"]` and `["a", "b"]` differ.
    pub(super) fn text(&mut self, text: &str) {
        self.bytes(&(text.len() as u64).to_le_bytes());
        self.bytes(text.as_bytes());
    }

    /// Feeds a JSON value canonically (object keys sorted), so equal values hash equally however their
    /// keys were ordered when written.
    pub(super) fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.bytes(b"n"),
            Value::Bool(b) => self.bytes(if *b { b"t" } else { b"f" }),
            Value::Number(n) => {
                self.bytes(b"#");
                self.text(&n.to_string());
            }
            Value::String(s) => {
                self.bytes(b"s");
                self.text(s);
            }
            Value::Array(items) => {
                self.bytes(b"[");
                items.iter().for_each(|item| self.value(item));
                self.bytes(b"]");
            }
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by_key(|(key, _)| *key);
                self.bytes(b"{");
                for (key, value) in entries {
                    self.text(key);
                    self.value(value);
                }
                self.bytes(b"}");
            }
        }
    }

    /// The hash as is.
    pub(super) fn finish(&self) -> u64 {
        self.0
    }

    /// A uniform draw in [0, 1): FNV's high bits are poorly mixed for short inputs, so the splitmix64
    /// finaliser spreads them first.
    pub(super) fn unit_draw(&self) -> f64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // 53 bits fit an f64's mantissa exactly.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_the_published_test_vectors() {
        assert_eq!(Fnv1a::default().finish(), 0xcbf2_9ce4_8422_2325);
        let mut hash = Fnv1a::default();
        hash.bytes(b"a");
        assert_eq!(hash.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn draws_are_in_range_and_spread() {
        let draws: Vec<f64> = (0..1000)
            .map(|i| {
                let mut hash = Fnv1a::default();
                hash.value(&json!(i));
                hash.unit_draw()
            })
            .collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let below_tenth = draws.iter().filter(|d| **d < 0.1).count();
        assert!((60..140).contains(&below_tenth), "{below_tenth}");
    }
}
