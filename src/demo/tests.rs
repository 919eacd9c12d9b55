use super::story::{epilogue, judge_acts, DemoVerdict};
use crate::engine::Outcome;
use std::time::Duration;

#[test]
fn both_acts_as_they_should_is_the_expected_demo() {
    let verdict = judge_acts(&Outcome::RolledBack("analysis failed".into()), &Outcome::Done("finalized".into()));
    assert_eq!(verdict, DemoVerdict::AsExpected);
    assert_eq!(super::exit_code(&verdict), 0);
}

#[test]
fn a_bad_release_that_was_promoted_is_named() {
    let verdict = judge_acts(&Outcome::Done("promoted".into()), &Outcome::Done("finalized".into()));
    let DemoVerdict::Unexpected(why) = &verdict else { panic!("a promoted bad release passed: {verdict:?}") };
    assert!(why.contains("act 1") && why.contains("done: promoted"), "{why}");
    assert!(!why.contains("act 2"), "{why}");
    assert_eq!(super::exit_code(&verdict), 1);
}

#[test]
fn a_good_release_that_did_not_finish_is_named() {
    for second in [
        Outcome::RolledBack("regression".into()),
        Outcome::Paused("inconclusive".into()),
        Outcome::refused(crate::engine::Refusal::NotConfirmed),
        Outcome::NeedsAttention("rollback failed".into()),
    ] {
        let verdict = judge_acts(&Outcome::RolledBack("analysis failed".into()), &second);
        let DemoVerdict::Unexpected(why) = verdict else { panic!("{second} passed") };
        assert!(why.starts_with("act 2") && why.contains(&second.to_string()), "{why}");
    }
}

#[test]
fn the_epilogue_gives_the_time_in_minutes_and_seconds() {
    let text = epilogue(&DemoVerdict::AsExpected, Duration::from_secs(125));
    assert!(text.contains("Done in 2m 05s"), "{text}");
    let text = epilogue(&DemoVerdict::Unexpected("act 1 ...".into()), Duration::from_secs(7));
    assert!(text.contains("did not go as it should") && text.contains("act 1 ..."), "{text}");
}
