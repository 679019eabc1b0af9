//! A classic Prometheus histogram for the pipeline's metrics, encoded exactly as
//! prometheus-client's `Histogram` with the same buckets.
//!
//! prometheus-client's `Histogram` takes a lock for every observation and keeps the sum, the
//! buckets and native-histogram state in separate cache lines behind the lock, which shows on
//! replay's hot path (`benches/README.md`, "Fifth round"). Here the sum and the buckets sit in
//! one allocation, updated without a lock.
//!
//! Only one thread at a time observes: every histogram is reached through `&mut Metrics`, which
//! the pipeline owns (serve feeds lines from one task; replay's workers record in turns, under a
//! lock). So an observation is a load and a store, with no lost update. A scrape may run at the
//! same time; it reads each value whole, takes the count from the buckets (so `_count` always
//! equals the `+Inf` bucket) and may see a `_sum` one observation behind them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::{MetricType, TypedMetric};

#[derive(Debug, Clone)]
pub struct Histogram(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// The sum of all observations, as `f64` bits.
    sum: AtomicU64,
    /// Upper bounds (the last is `+Inf`) and the observations counted in each bucket alone (the
    /// encoder makes them cumulative).
    buckets: Box<[(f64, AtomicU64)]>,
    /// The least and the greatest value observed (as `f64` bits; `+Inf` and `-Inf` before the
    /// first): not exported, but the report's percentiles, estimated from the buckets, must
    /// stay within what was observed, and a single value is then known exactly.
    min: AtomicU64,
    max: AtomicU64,
}

impl Histogram {
    /// Buckets with these upper bounds, and `+Inf`. As in prometheus-client, bounds that are
    /// not finite are dropped (an explicit `+Inf` would make a second `+Inf` bucket).
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Histogram {
        let buckets = bounds
            .into_iter()
            .filter(|bound| bound.is_finite())
            .chain(std::iter::once(f64::INFINITY))
            .map(|bound| (bound, AtomicU64::new(0)))
            .collect();
        Histogram(Arc::new(Inner {
            sum: AtomicU64::new(0f64.to_bits()),
            buckets,
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
        }))
    }

    /// The least and the greatest value observed (NaN aside); `None` before any.
    pub fn extremes(&self) -> Option<(f64, f64)> {
        let min = f64::from_bits(self.0.min.load(Ordering::Relaxed));
        let max = f64::from_bits(self.0.max.load(Ordering::Relaxed));
        (min <= max).then_some((min, max))
    }

    /// Counts `v` in the first bucket whose bound is at least `v` (NaN: in `+Inf`, as
    /// prometheus-client does) and adds it to the sum. One thread at a time (see the module).
    pub fn observe(&self, v: f64) {
        let Inner {
            sum,
            buckets,
            min,
            max,
        } = &*self.0;
        let total = f64::from_bits(sum.load(Ordering::Relaxed)) + v;
        sum.store(total.to_bits(), Ordering::Relaxed);
        // NaN is neither: it moves no extreme.
        if v < f64::from_bits(min.load(Ordering::Relaxed)) {
            min.store(v.to_bits(), Ordering::Relaxed);
        }
        if v > f64::from_bits(max.load(Ordering::Relaxed)) {
            max.store(v.to_bits(), Ordering::Relaxed);
        }
        let last = buckets.len() - 1;
        let i = buckets[..last]
            .iter()
            .position(|(bound, _)| *bound >= v)
            .unwrap_or(last);
        let count = &buckets[i].1;
        count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .0
            .buckets
            .iter()
            .map(|(bound, count)| (*bound, count.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = f64::from_bits(self.0.sum.load(Ordering::Relaxed));
        encoder.encode_histogram(
            sum,
            count,
            &buckets,
            None::<&HashMap<usize, Exemplar<NoLabelSet, f64>>>,
        )
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Format, render};
    use prometheus_client::metrics::histogram::Histogram as Library;
    use prometheus_client::registry::Registry;
    use proptest::strategy::Strategy;

    fn exposition(register: impl FnOnce(&mut Registry)) -> (String, String) {
        let mut registry = Registry::default();
        register(&mut registry);
        (
            render(&registry, Format::Prometheus),
            render(&registry, Format::OpenMetrics),
        )
    }

    proptest::proptest! {
        /// The same observations give the same exposition, in both formats, as the library's
        /// histogram: values on, between, below and above the bounds, negative, and NaN.
        #[test]
        fn encodes_as_the_library_does(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    (-3i32..40).prop_map(|i| f64::from(i) * 0.25),
                    proptest::num::f64::NORMAL,
                    proptest::strategy::Just(f64::NAN),
                ],
                0..40,
            ),
        ) {
            let bounds = [0.5, 1.0, 2.5, 5.0, f64::INFINITY];
            let ours = Histogram::new(bounds);
            let theirs = Library::new(bounds);
            for v in &values {
                ours.observe(*v);
                theirs.observe(*v);
            }
            let extremes = ours.extremes();
            let a = exposition(|r| r.register("h", "a histogram", ours));
            let b = exposition(|r| r.register("h", "a histogram", theirs));
            proptest::prop_assert_eq!(a, b);
            // The extremes are those of the values, NaN aside.
            let numbers: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
            let expected = (!numbers.is_empty()).then(|| {
                (
                    numbers.iter().copied().fold(f64::INFINITY, f64::min),
                    numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                )
            });
            proptest::prop_assert_eq!(extremes, expected);
        }
    }
}
