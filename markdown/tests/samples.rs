//! Every sample of what models write, and every pathological case at 1 KB,
//! keeps the invariants the fuzzer checks (`support/invariants.rs`).

#[path = "support/invariants.rs"]
mod invariants;
#[path = "support/pathological.rs"]
#[allow(dead_code)] // The expected shapes are the linearity test's.
mod pathological;
#[path = "support/played_view.rs"]
#[allow(dead_code)] // `viewed` is the growth tests'.
mod played_view;
#[path = "support/samples.rs"]
mod samples;

#[test]
fn every_sample_keeps_the_invariants() {
    for sample in samples::SAMPLES {
        invariants::check(sample);
    }
}

#[test]
fn every_pathological_case_keeps_the_invariants() {
    for case in pathological::CASES {
        for bytes in [100, 1024, 40 * 1024] {
            invariants::check(&(case.build)(bytes));
        }
    }
}
