//! Greylisted triplets waiting for their `pass`, in about 14 bytes each (estimated, not
//! measured: a `u64` and a control byte in a hash set between 7/16 and 7/8 full).
//!
//! A busy MX greylists tens of thousands of triplets a day and most spam never comes back, so
//! this table holds up to a whole `--greylist-window` of them. It was an LRU map of 70+ bytes
//! per entry (a heap node per triplet plus its slot), which made the memory of a replay follow
//! the length of the log for the first day. Here a triplet is one `u64` in a hash set: the top
//! 48 bits of its (seeded) hash, and 16 bits of its first-greylist time, relative to the start of
//! its *generation* (a slice of `window / GENERATIONS` of log time). A generation is dropped
//! whole once all of its triplets have passed or been abandoned; a set that has lost most of its
//! entries to passes is shrunk. The oldest generation is put in time order (lazily) for what
//! needs the oldest first: abandonment when the window ends, and eviction at capacity.
//!
//! Times are kept to `generation span / 65535` (41 ms for a 24 h window), rounded up, so a
//! triplet is declared abandoned at most that much later than the exact window, never earlier.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use crate::envelope::Micros;

/// Generations per window (a lookup may try a few more: those not yet expired).
const GENERATIONS: i64 = 32;

/// A triplet: the top 48 bits of its hash (identity) and a 16-bit time offset (payload).
#[derive(Clone, Copy, Debug)]
struct Packed(u64);

impl Packed {
    fn new(hash: u64, offset: u16) -> Packed {
        Packed(hash & !0xffff | u64::from(offset))
    }

    fn offset(self) -> u16 {
        self.0 as u16
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Packed) -> bool {
        self.0 >> 16 == other.0 >> 16
    }
}

impl Eq for Packed {}

impl Hash for Packed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0 >> 16).hash(state);
    }
}

type Set = HashSet<Packed, foldhash::fast::FixedState>;

struct Generation {
    start: Micros,
    set: Set,
    /// Members (and stale copies of passed ones), newest first, so `pop` gives the oldest.
    /// Built only for the oldest generation, when it comes due or the table is full.
    order: Vec<Packed>,
}

pub struct Triplets {
    window: Micros,
    span: Micros,
    /// Micros per unit of a time offset.
    unit: Micros,
    capacity: usize,
    len: usize,
    /// Oldest first.
    generations: VecDeque<Generation>,
}

impl Triplets {
    pub fn new(window: Micros, capacity: usize) -> Triplets {
        let window = window.max(0);
        let span = (window / GENERATIONS).max(1_000_000);
        Triplets {
            window,
            span,
            // Rounded up so that the last offset of a generation, `(span - 1) / unit` rounded
            // up, still fits in 16 bits.
            unit: (span + 65_534) / 65_535,
            capacity: capacity.max(1),
            len: 0,
            generations: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// A triplet greylisted at `now`: remembered unless it already is (only the first
    /// greylisting starts its window). Whether the oldest triplet was dropped to make room.
    pub fn greylisted(&mut self, hash: u64, now: Micros) -> bool {
        let key = Packed::new(hash, 0);
        if self.generations.iter().any(|g| g.set.contains(&key)) {
            return false;
        }
        let evicted = self.len >= self.capacity && self.drop_oldest();
        // Log time only moves forward here (the correlator's clock); were it to step back,
        // the triplet joins the newest generation, which keeps generations in time order.
        let now = self.generations.back().map_or(now, |g| now.max(g.start));
        if !matches!(self.generations.back(), Some(g) if now < g.start + self.span) {
            self.generations.push_back(Generation {
                start: now,
                set: Set::default(),
                order: Vec::new(),
            });
        }
        let g = self.generations.back_mut().expect("pushed above");
        // At most 65,535 by the choice of `unit` (the clamp never binds).
        let offset = ((now - g.start + self.unit - 1) / self.unit).clamp(0, 65_535) as u16;
        g.set.insert(Packed::new(hash, offset));
        self.len += 1;
        evicted
    }

    /// A triplet passed: forgotten. Whether it was waiting.
    pub fn passed(&mut self, hash: u64) -> bool {
        let key = Packed::new(hash, 0);
        let Some(i) = (0..self.generations.len())
            .rev()
            .find(|&i| self.generations[i].set.contains(&key))
        else {
            return false;
        };
        let g = &mut self.generations[i];
        g.set.remove(&key);
        self.len -= 1;
        if g.set.is_empty() && g.order.is_empty() {
            if i == 0 || i + 1 != self.generations.len() {
                self.generations.remove(i);
            }
        } else if g.set.len() * 4 < g.set.capacity() && g.set.capacity() > 64 {
            g.set.shrink_to_fit();
        }
        true
    }

    /// Drops every triplet greylisted more than the window before `now`; returns how many.
    pub fn expire(&mut self, now: Micros) -> usize {
        let mut abandoned = 0;
        while let Some(g) = self.generations.front_mut() {
            if now - g.start <= self.window {
                break;
            }
            if g.order.is_empty() {
                sort_oldest_last(g);
            }
            while let Some(&p) = g.order.last() {
                let first = g.start + i64::from(p.offset()) * self.unit;
                if now - first <= self.window {
                    break;
                }
                g.order.pop();
                if take_exact(&mut g.set, p) {
                    abandoned += 1;
                }
            }
            if !g.set.is_empty() {
                if g.order.is_empty() {
                    // Members were added after the order was made; look again.
                    continue;
                }
                break;
            }
            self.generations.pop_front();
        }
        self.len -= abandoned;
        abandoned
    }

    /// Drops the triplet greylisted first. Whether there was one.
    fn drop_oldest(&mut self) -> bool {
        while let Some(g) = self.generations.front_mut() {
            if g.order.is_empty() {
                sort_oldest_last(g);
            }
            while let Some(p) = g.order.pop() {
                if take_exact(&mut g.set, p) {
                    self.len -= 1;
                    if g.set.is_empty() {
                        self.generations.pop_front();
                    }
                    return true;
                }
            }
            if g.set.is_empty() {
                self.generations.pop_front();
            }
        }
        false
    }
}

/// Fills `order` from the set, oldest last.
fn sort_oldest_last(g: &mut Generation) {
    g.order.extend(g.set.iter().copied());
    g.order
        .sort_unstable_by_key(|p| std::cmp::Reverse(p.offset()));
}

/// Removes `p` if the set holds this very entry (same triplet, same time): a triplet that
/// passed and was greylisted again in the same generation is a new entry.
fn take_exact(set: &mut Set, p: Packed) -> bool {
    if set.get(&p).is_some_and(|q| q.0 == p.0) {
        set.remove(&p);
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;
    const H: i64 = 3_600 * S;

    /// Distinct, well-spread hashes.
    fn h(i: u64) -> u64 {
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1 << 63
    }

    #[test]
    fn abandoned_exactly_after_the_window_and_passed_ones_never() {
        let mut t = Triplets::new(24 * H, 1_000);
        t.greylisted(h(1), 0);
        t.greylisted(h(2), 10 * S);
        t.greylisted(h(1), 20 * S); // again: the window still starts at 0
        t.greylisted(h(3), 5 * H);
        assert!(t.passed(h(2)));
        assert!(!t.passed(h(9)));
        assert_eq!(t.len(), 2);
        assert_eq!(t.expire(24 * H), 0);
        assert_eq!(t.expire(24 * H + S / 10), 1, "h(1), first greylisted at 0");
        assert_eq!(t.expire(29 * H), 0);
        assert_eq!(t.expire(29 * H + S / 10), 1, "h(3)");
        assert_eq!((t.len(), t.generations.len()), (0, 0));
    }

    /// A triplet greylisted in the last microsecond of a generation is abandoned after its
    /// window, not before, and at most one time unit (41 ms for 24 h) after.
    #[test]
    fn the_end_of_a_generation_is_not_abandoned_early() {
        let window = 24 * H;
        let mut t = Triplets::new(window, 1_000);
        let span = t.span;
        t.greylisted(h(1), 0);
        t.greylisted(h(2), span - 1);
        assert_eq!(t.generations.len(), 1);
        assert_eq!(t.expire(window + span - 1), 1, "h(1) only");
        assert_eq!(t.expire(window + span - 1 + t.unit), 1, "h(2)");
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn greylisted_again_after_passing_starts_a_new_window() {
        let mut t = Triplets::new(H, 1_000);
        t.greylisted(h(1), 0);
        assert!(t.passed(h(1)));
        t.greylisted(h(1), 60 * S);
        assert_eq!(t.expire(H + 30 * S), 0, "the first window does not count");
        assert_eq!(t.expire(H + 61 * S), 1);
    }

    #[test]
    fn capacity_drops_the_oldest_first() {
        let mut t = Triplets::new(24 * H, 3);
        for (i, at) in [(2, 10), (3, 30), (1, 50)] {
            assert!(!t.greylisted(h(i), at * S));
        }
        assert!(t.greylisted(h(4), 60 * S), "one evicted");
        assert_eq!(t.len(), 3);
        // h(2) (greylisted at 10 s) went; the others are still there.
        assert!(!t.passed(h(2)));
        assert!(t.passed(h(1)) && t.passed(h(3)) && t.passed(h(4)));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn flood_in_one_instant_stays_at_capacity() {
        let mut t = Triplets::new(24 * H, 1_000);
        let mut evicted = 0;
        for i in 0..50_000 {
            evicted += usize::from(t.greylisted(h(i), 7 * S));
            assert!(t.len() <= 1_000);
        }
        assert_eq!((t.len(), evicted), (1_000, 49_000));
        // The newest ones are the ones kept.
        assert!(t.passed(h(49_999)));
        assert!(!t.passed(h(0)));
    }

    /// Against a plain model (a map from triplet to first-greylist time), over a random
    /// sequence of time steps, greylists and passes: the same abandonments at the same times
    /// and the same answers. (Log times here are whole seconds, so the rounding of times to
    /// a unit of a few milliseconds cannot show.)
    #[test]
    fn matches_a_plain_model() {
        for (window, capacity_ids) in [(2 * H, 3_000u64), (60 * S, 200)] {
            let mut t = Triplets::new(window, 1_000_000);
            let mut model = std::collections::HashMap::new();
            let mut now = 0i64;
            let mut x = 0x1234_5678_u64;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut abandoned = 0;
            for _ in 0..200_000 {
                let r = next();
                now += (r % 20) as i64 * S;
                let before = model.len();
                model.retain(|_, first| now - *first <= window);
                assert_eq!(t.expire(now), before - model.len(), "at {now}");
                abandoned += before - model.len();
                let id = next() % capacity_ids;
                match r % 3 {
                    0 => {
                        model.entry(id).or_insert(now);
                        t.greylisted(h(id), now);
                    }
                    1 => assert_eq!(t.passed(h(id)), model.remove(&id).is_some()),
                    _ => {}
                }
                assert_eq!(t.len(), model.len());
            }
            assert!(
                abandoned > 1_000,
                "the test reaches abandonment: {abandoned}"
            );
        }
    }
}
