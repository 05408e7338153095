//! Runs the sides of one workload interleaved, run by run (A B B A A B ..., the first
//! side drawn at random), so the drift of a shared machine spreads over every side
//! instead of favouring whichever side ran first or last.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(first_seed());
}

/// A seed that differs from one run of the harness to the next (time and pid).
fn first_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)) | 1
}

/// The next draw of a xorshift generator: good enough to pick who goes first.
fn draw() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// The order of the sides in each of `rounds` rounds: the first round starts at a
/// random side, and every round runs the previous one's order backwards.
pub fn orders(sides: usize, rounds: usize) -> Vec<Vec<usize>> {
    let start = (draw() % sides as u64) as usize;
    let forward: Vec<usize> = (0..sides).map(|i| (start + i) % sides).collect();
    (0..rounds)
        .map(|r| {
            let mut order = forward.clone();
            if r % 2 == 1 {
                order.reverse();
            }
            order
        })
        .collect()
}

/// One side of a workload: its name, and a function that makes one measured run.
pub type Side<'a, T> = (&'a str, Box<dyn FnMut() -> Result<T, String> + 'a>);

/// `rounds` samples of every side, interleaved, after one unmeasured warm-up run of
/// each when `warm_up`; the first failed run ends the whole measurement with its error.
/// Returns the samples by side, in round order, so sample `i` of two sides were taken
/// next to each other.
pub fn run<T>(
    rounds: usize,
    warm_up: bool,
    sides: &mut [Side<'_, T>],
) -> Result<Vec<Vec<T>>, String> {
    if warm_up {
        for (name, side) in sides.iter_mut() {
            side().map_err(|e| format!("{name} (warm-up): {e}"))?;
        }
    }
    let mut samples: Vec<Vec<T>> = sides.iter().map(|_| Vec::new()).collect();
    for order in orders(sides.len(), rounds) {
        for i in order {
            let (name, side) = &mut sides[i];
            samples[i].push(side().map_err(|e| format!("{name}: {e}"))?);
        }
    }
    Ok(samples)
}

/// A median with the smallest and largest sample beside it.
#[derive(Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `samples` (an even count's median is the mean of the middle two).
    pub fn of(samples: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = samples.into_iter().collect();
        assert!(!v.is_empty(), "a spread of no samples");
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    /// `median (min-max)`, with `digits` after the point.
    pub fn show(&self, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}-{:.d$})",
            self.median,
            self.min,
            self.max,
            d = digits
        )
    }
}

/// The spread of the per-round ratios `a[i] / b[i]` of two sides' samples, each pair
/// taken next to each other.
pub fn ratio(a: &[f64], b: &[f64]) -> Spread {
    Spread::of(a.iter().zip(b).map(|(a, b)| a / b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sides_alternate_a_b_b_a() {
        let o = orders(2, 4);
        assert_eq!(o[0], [o[1][1], o[1][0]]);
        assert_eq!(o[2], o[0]);
        assert_eq!(o[3], o[1]);
    }

    #[test]
    fn every_round_runs_every_side_once() {
        for order in orders(3, 5) {
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2]);
        }
    }

    #[test]
    fn an_even_count_has_the_mean_of_the_middle_two_as_median() {
        let s = Spread::of([4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
    }

    #[test]
    fn a_failed_run_ends_the_measurement_with_the_side_named() {
        let mut calls = 0;
        let mut sides: Vec<Side<'_, u32>> = vec![
            ("good", Box::new(|| Ok(1))),
            (
                "bad",
                Box::new(|| {
                    calls += 1;
                    Err("refused".to_string())
                }),
            ),
        ];
        let e = run(3, false, &mut sides).err().unwrap();
        drop(sides);
        assert_eq!(e, "bad: refused");
        assert_eq!(calls, 1);
    }
}
