//! What every metrics module builds on: label sets of `&'static str`, families with a cache
//! of their series' handles, the shared bucket layouts, and registration with label caps.

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::FixedState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::registry::{Metric, Registry};

use super::histogram::Histogram;
use super::labels::LabelCap;

/// Latency buckets in human time units.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0, 7200.0, 21600.0, 86400.0,
];

pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

/// A family of counters, cached.
pub type Counters<L> = Cached<L, Counter>;
/// A family of histograms, cached, each made by a constructor of its buckets.
pub type Histograms<L> = Cached<L, Histogram, fn() -> Histogram>;

/// A family together with a cache of its series' handles, keyed by the *identity* of the
/// label values (address and length of each `&'static str`) rather than their text.
///
/// `Family::get_or_create` takes the family's lock and hashes the text of every label on
/// every call. The label values passed here are all `&'static str` literals or values interned
/// by a [`LabelCap`] (one address per distinct value), so their addresses identify the label
/// set, the cache holds at most as many entries as there are series (bounded by the label
/// caps), and hashing a few addresses is cheap. Equal text at two addresses (a literal
/// duplicated by the compiler) only means two cache entries for the same series. A handle is
/// an `Arc` onto the series the registry encodes, so updating it updates the family.
pub struct Cached<L: LabelIds, M, C = fn() -> M> {
    family: Family<L, M, C>,
    /// The handle of each label set (and the label set, for [`Cached::each`]).
    handles: HashMap<L::Ids, (L, M), FixedState>,
}

impl<L, M, C> Cached<L, M, C>
where
    L: LabelIds + Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    M: Clone + prometheus_client::metrics::TypedMetric,
    Family<L, M, C>: Metric + Clone,
    C: MetricConstructor<M>,
{
    /// Registers `family` as `name` in `registry`.
    pub fn register(
        registry: &mut Registry,
        name: &str,
        help: &str,
        family: Family<L, M, C>,
    ) -> Self {
        registry.register(name, help, family.clone());
        Cached {
            family,
            handles: HashMap::with_hasher(FixedState::default()),
        }
    }

    /// The metric of `labels`, created in the family on first use.
    pub fn get(&mut self, labels: L) -> &M {
        let family = &self.family;
        &self
            .handles
            .entry(labels.ids())
            .or_insert_with(|| (labels.clone(), family.get_or_create_owned(&labels)))
            .1
    }

    /// Every series used so far, with its labels (a series may come twice, under two
    /// identities of equal text).
    pub fn each(&self, mut f: impl FnMut(&L, &M)) {
        for (labels, metric) in self.handles.values() {
            f(labels, metric);
        }
    }
}

/// The identity of a label set whose values are `&'static str`: each value's address and length.
pub trait LabelIds {
    type Ids: Hash + Eq;
    fn ids(&self) -> Self::Ids;
}

/// Addresses and lengths of `N` label values; equal when all are, hashed by the addresses only
/// (one multiply each with foldhash, instead of hashing the whole array as bytes).
#[derive(PartialEq, Eq)]
pub struct Ids<const N: usize>(pub [(usize, usize); N]);

impl<const N: usize> Hash for Ids<N> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for (address, _) in &self.0 {
            state.write_usize(*address);
        }
    }
}

/// A label set of `&'static str` values: the struct, its encoding, and its [`LabelIds`].
macro_rules! label_set {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($field:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
        $vis struct $name {
            $(pub $field: &'static str),+
        }

        impl $crate::metrics::family::LabelIds for $name {
            type Ids = $crate::metrics::family::Ids<{ [$(stringify!($field)),+].len() }>;
            fn ids(&self) -> Self::Ids {
                $crate::metrics::family::Ids([$((self.$field.as_ptr() as usize, self.$field.len())),+])
            }
        }
    };
}
pub(crate) use label_set;

label_set! {
    /// The labels most Postfix families carry.
    pub struct InstanceService { postfix_instance, service }
}
label_set! {
    pub struct Instance { postfix_instance }
}
label_set! {
    pub struct OverflowLabels { metric, label }
}
label_set! {
    pub struct MetricLabel { metric }
}

/// A family of latency histograms whose negative values are counted in
/// `pflog_negative_durations_total{metric}`, never observed: a duration is negative only when a
/// clock went back (the log's own, or a time zone read wrongly), and observed it would drag
/// `_sum` down and land in the lowest bucket as if it were fast.
pub struct Durations<L: LabelIds> {
    histograms: Histograms<L>,
    negative: Counter,
}

impl<L> Durations<L>
where
    L: LabelIds + Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    pub fn observe(&mut self, labels: L, seconds: f64) {
        if seconds < 0.0 {
            self.negative.inc();
        } else {
            self.histograms.get(labels).observe(seconds);
        }
    }

    /// Every series used so far, with its labels.
    pub fn each(&self, f: impl FnMut(&L, &Histogram)) {
        self.histograms.each(f);
    }
}

/// One latency histogram without labels, negative values counted as in [`Durations`].
pub struct Duration {
    histogram: Histogram,
    negative: Counter,
}

impl Duration {
    pub fn observe(&self, seconds: f64) {
        if seconds < 0.0 {
            self.negative.inc();
        } else {
            self.histogram.observe(seconds);
        }
    }

    pub fn extremes(&self) -> Option<(f64, f64)> {
        self.histogram.extremes()
    }
}

/// Registration of a module's families: the registry, and the label caps (each with its
/// series of `pflog_label_overflow_total`, created at 0 so that alerts work from the start).
pub struct Registrar<'r> {
    pub registry: &'r mut Registry,
    label_cap: usize,
    overflow: Family<OverflowLabels, Counter>,
    negative: Family<MetricLabel, Counter>,
}

impl<'r> Registrar<'r> {
    pub fn new(registry: &'r mut Registry, label_cap: usize) -> Registrar<'r> {
        Registrar {
            registry,
            label_cap,
            overflow: Family::default(),
            negative: Family::default(),
        }
    }

    /// Registers `name` as a family of latency histograms ([`Durations`]).
    pub fn durations<L>(&mut self, name: &'static str, help: &str) -> Durations<L>
    where
        L: LabelIds + Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    {
        Durations {
            histograms: self.histograms(name, help, latency_histogram),
            negative: self.negative_durations(name),
        }
    }

    /// Registers `name` as one latency histogram without labels ([`Duration`]).
    pub fn duration(&mut self, name: &'static str, help: &str) -> Duration {
        let histogram = latency_histogram();
        self.metric(name, help, histogram.clone());
        Duration {
            histogram,
            negative: self.negative_durations(name),
        }
    }

    /// The series of `pflog_negative_durations_total` for the histogram family `metric`,
    /// created at 0.
    fn negative_durations(&mut self, metric: &'static str) -> Counter {
        self.negative.get_or_create_owned(&MetricLabel { metric })
    }

    pub fn counters<L>(&mut self, name: &str, help: &str) -> Counters<L>
    where
        L: LabelIds + Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    {
        Cached::register(self.registry, name, help, Family::default())
    }

    pub fn histograms<L>(
        &mut self,
        name: &str,
        help: &str,
        buckets: fn() -> Histogram,
    ) -> Histograms<L>
    where
        L: LabelIds + Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    {
        Cached::register(
            self.registry,
            name,
            help,
            Family::new_with_constructor(buckets),
        )
    }

    /// Registers a metric that has no labels (or manages its own family).
    pub fn metric(&mut self, name: &str, help: &str, metric: impl Metric + Clone) {
        self.registry.register(name, help, metric);
    }

    /// The cap of a label whose values come from the log (`metric` and `label` name it in
    /// `pflog_label_overflow_total`).
    pub fn cap(&mut self, metric: &'static str, label: &'static str) -> Capped {
        let overflow = self
            .overflow
            .get_or_create_owned(&OverflowLabels { metric, label });
        Capped {
            values: LabelCap::new(self.label_cap),
            overflow,
        }
    }

    /// Registers `pflog_label_overflow_total`, with a series for every cap made so far, and
    /// `pflog_negative_durations_total`, with a series for every latency histogram.
    pub fn finish(self) {
        self.registry.register(
            "pflog_label_overflow",
            "Label values reported as other because the label reached its cap",
            self.overflow,
        );
        self.registry.register(
            "pflog_negative_durations",
            "Durations that came out negative (a clock went back), counted here instead of being observed in the histogram named by metric",
            self.negative,
        );
    }
}

/// A label whose values come from the log: at most `--label-cap` distinct values; more are
/// reported as `other` and counted in `pflog_label_overflow_total`.
#[derive(Debug)]
pub struct Capped {
    values: LabelCap,
    overflow: Counter,
}

impl Capped {
    /// The label value of `value`: itself, interned, or `other` past the cap.
    pub fn get(&mut self, value: &str) -> &'static str {
        self.within(value).unwrap_or("other")
    }

    /// [`Capped::get`], but `None` (overflow counted) instead of `other` past the cap.
    pub fn within(&mut self, value: &str) -> Option<&'static str> {
        let v = self.values.intern(value);
        if v.is_none() {
            self.overflow.inc();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_reports_other_and_counts() {
        let mut registry = Registry::default();
        let mut r = Registrar::new(&mut registry, 2);
        let mut cipher = r.cap("postfix_tls_connections_total", "cipher");
        let overflow = r.overflow.clone();
        r.finish();
        assert_eq!(cipher.get("A"), "A");
        assert_eq!(cipher.get("B"), "B");
        assert_eq!(cipher.get("C"), "other");
        assert_eq!(cipher.within("D"), None);
        assert_eq!(cipher.get("A"), "A");
        let n = overflow
            .get_or_create(&OverflowLabels {
                metric: "postfix_tls_connections_total",
                label: "cipher",
            })
            .get();
        assert_eq!(n, 2);
    }
}
