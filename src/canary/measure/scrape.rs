//! Reading counters out of a Prometheus text exposition: a series name with optional equality matchers,
//! summed over every sample that matches.

use std::collections::BTreeMap;

/// A series as the plan names it: `controller_runtime_reconcile_total{result="error"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesMatcher {
    /// The metric name.
    pub name: String,
    /// Labels that must have these values.
    pub labels: BTreeMap<String, String>,
}

impl SeriesMatcher {
    /// Parses `name` or `name{k="v",...}`; Err names what is wrong.
    pub fn parse(text: &str) -> Result<SeriesMatcher, String> {
        let text = text.trim();
        let (name, rest) = match text.find('{') {
            Some(open) => (&text[..open], &text[open..]),
            None => (text, ""),
        };
        let mut labels = BTreeMap::new();
        if !rest.is_empty() {
            let inner = rest
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .ok_or_else(|| format!("`{text}`: label matchers must be closed by `}}`"))?;
            for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (key, value) = part
                    .split_once('=')
                    .ok_or_else(|| format!("`{text}`: `{part}` is not a `label=\"value\"` matcher"))?;
                let value = value.trim().trim_matches('"');
                labels.insert(key.trim().to_owned(), value.to_owned());
            }
        }
        if name.is_empty() {
            return Err(format!("`{text}` has no metric name"));
        }
        Ok(SeriesMatcher { name: name.to_owned(), labels })
    }
}

/// The sum of every sample of the exposition `text` that `matcher` selects (0 when none does: a counter
/// that was never incremented is often not exported at all).
pub fn counter_sum(text: &str, matcher: &SeriesMatcher) -> Result<f64, String> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).map_err(|e| format!("the metrics do not parse: {e}"))?;
    let mut sum = 0.0;
    for sample in scrape.samples.iter().filter(|s| s.metric == matcher.name) {
        if matcher.labels.iter().all(|(k, v)| sample.labels.get(k) == Some(v.as_str())) {
            sum += match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            };
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE controller_runtime_reconcile_total counter\n\
        controller_runtime_reconcile_total{controller=\"widget\",result=\"success\"} 40\n\
        controller_runtime_reconcile_total{controller=\"widget\",result=\"error\"} 3\n\
        controller_runtime_reconcile_total{controller=\"other\",result=\"error\"} 2\n";

    #[test]
    fn matching_samples_are_summed() {
        let all = SeriesMatcher::parse("controller_runtime_reconcile_total").unwrap();
        assert_eq!(counter_sum(TEXT, &all).unwrap(), 45.0);
        let errors = SeriesMatcher::parse("controller_runtime_reconcile_total{result=\"error\"}").unwrap();
        assert_eq!(counter_sum(TEXT, &errors).unwrap(), 5.0);
        let widget_errors =
            SeriesMatcher::parse("controller_runtime_reconcile_total{result=\"error\", controller=\"widget\"}")
                .unwrap();
        assert_eq!(counter_sum(TEXT, &widget_errors).unwrap(), 3.0);
        assert_eq!(counter_sum(TEXT, &SeriesMatcher::parse("absent_total").unwrap()).unwrap(), 0.0);
    }

    /// Argo Rollouts counts reconciles only in a histogram (`rollout_reconcile`): its `_count` series is the
    /// counter a plan names.
    #[test]
    fn a_histograms_count_series_is_a_counter() {
        let text = "# TYPE rollout_reconcile histogram\n\
            rollout_reconcile_bucket{name=\"a\",namespace=\"n\",le=\"0.01\"} 3\n\
            rollout_reconcile_bucket{name=\"a\",namespace=\"n\",le=\"+Inf\"} 4\n\
            rollout_reconcile_sum{name=\"a\",namespace=\"n\"} 0.2\n\
            rollout_reconcile_count{name=\"a\",namespace=\"n\"} 4\n\
            rollout_reconcile_count{name=\"b\",namespace=\"n\"} 6\n";
        assert_eq!(counter_sum(text, &SeriesMatcher::parse("rollout_reconcile_count").unwrap()).unwrap(), 10.0);
        let one = SeriesMatcher::parse("rollout_reconcile_count{name=\"b\"}").unwrap();
        assert_eq!(counter_sum(text, &one).unwrap(), 6.0);
    }

    #[test]
    fn a_broken_matcher_is_an_error_naming_it() {
        assert!(SeriesMatcher::parse("x{result=\"error\"").unwrap_err().contains("closed"));
        assert!(SeriesMatcher::parse("x{result}").unwrap_err().contains("result"));
        assert!(SeriesMatcher::parse("{a=\"b\"}").is_err());
    }
}
