//! Every example runs to completion, so CI keeps them working.

#[test]
fn every_example_runs() {
    for (title, run) in examples::ALL {
        if let Err(e) = run() {
            panic!("{title} failed: {e:#}");
        }
    }
}
