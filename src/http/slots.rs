//! Connection slots: at most `max` connections are served at once, and connections that hold a
//! slot without asking for anything cannot keep anyone else out.
//!
//! A connection is *waiting* while it has not sent a complete request head: just accepted, in
//! its TLS handshake, trickling its headers, or idle between keep-alive requests. It is *busy*
//! from the moment its request is handed to the service until the response has been written
//! out (flushed to the socket).
//!
//! When every slot is taken, a new connection takes the slot of a waiting one, which is told to
//! close: first one from the client address that holds the most connections, among those the
//! one waiting longest. A flood of idle connections (from one address or many) thus cannot lock
//! a scraper out: its new connection sends its request at once, and it would have to be the
//! longest waiting of all the flood's connections to be chosen; a single-address flood never
//! touches another address's connections while it holds more than they do. Only when every
//! slot is busy serving a request do new connections wait to be accepted.
//!
//! The same signal closes waiting connections at shutdown at once; busy ones finish their
//! response first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

pub(crate) struct Slots {
    max: usize,
    inner: Mutex<Inner>,
    /// A slot was freed or a connection started waiting.
    changed: Notify,
}

#[derive(Default)]
struct Inner {
    /// Connection ids and waiting order, from one counter.
    next: u64,
    conns: HashMap<u64, Entry, foldhash::fast::RandomState>,
    per_ip: HashMap<IpAddr, usize, foldhash::fast::RandomState>,
    waiting: usize,
}

struct Entry {
    ip: IpAddr,
    /// While waiting for a request: since when (a value of [`Inner::next`]).
    waiting_since: Option<u64>,
    nudge: Arc<Notify>,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            inner: Mutex::default(),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves when a connection can be admitted: a slot is free, or one is waiting.
    pub(crate) async fn admissible(&self) {
        loop {
            // Registered before the check, so a change in between is not missed.
            let changed = self.changed.notified();
            {
                let inner = self.lock();
                if inner.conns.len() < self.max || inner.waiting > 0 {
                    return;
                }
            }
            changed.await;
        }
    }

    /// Admits a connection from `ip`; when every slot is taken, a waiting connection gives up
    /// its slot (it is nudged and closes).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Arc<Conn> {
        let mut inner = self.lock();
        if inner.conns.len() >= self.max
            && let Some(victim) = inner.victim()
            && let Some(entry) = inner.remove(victim)
        {
            entry.nudge.notify_one();
        }
        let id = inner.next;
        inner.next += 1;
        let nudge = Arc::new(Notify::new());
        inner.conns.insert(
            id,
            Entry {
                ip,
                waiting_since: Some(id),
                nudge: nudge.clone(),
            },
        );
        inner.waiting += 1;
        *inner.per_ip.entry(ip).or_default() += 1;
        Arc::new(Conn {
            slots: self.clone(),
            id,
            phase: AtomicU8::new(WAITING),
            nudge,
        })
    }

    /// Nudges every connection: waiting ones close now, busy ones after their response.
    pub(crate) fn nudge_all(&self) {
        let inner = self.lock();
        for entry in inner.conns.values() {
            entry.nudge.notify_one();
        }
    }

    /// Connections holding a slot.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().conns.len()
    }

    fn set_waiting(&self, id: u64, waiting: bool) {
        let mut inner = self.lock();
        let since = inner.next;
        let Some(entry) = inner.conns.get_mut(&id) else {
            // It gave up its slot already.
            return;
        };
        match (entry.waiting_since.is_some(), waiting) {
            (false, true) => {
                entry.waiting_since = Some(since);
                inner.next += 1;
                inner.waiting += 1;
                drop(inner);
                self.changed.notify_waiters();
            }
            (true, false) => {
                entry.waiting_since = None;
                inner.waiting -= 1;
            }
            (true, true) | (false, false) => {}
        }
    }

    fn release(&self, id: u64) {
        let removed = self.lock().remove(id).is_some();
        if removed {
            self.changed.notify_waiters();
        }
    }
}

impl Inner {
    /// The waiting connection to close for a newcomer: from the address with the most
    /// connections, the one waiting longest.
    fn victim(&self) -> Option<u64> {
        self.conns
            .iter()
            .filter_map(|(&id, e)| {
                let since = e.waiting_since?;
                let held = self.per_ip.get(&e.ip).copied().unwrap_or(0);
                Some((held, std::cmp::Reverse(since), id))
            })
            .max()
            .map(|(_, _, id)| id)
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.conns.remove(&id)?;
        if entry.waiting_since.is_some() {
            self.waiting -= 1;
        }
        if let Some(n) = self.per_ip.get_mut(&entry.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&entry.ip);
            }
        }
        Some(entry)
    }
}

const WAITING: u8 = 0;
const BUSY: u8 = 1;
/// The response is complete and handed to hyper; busy until it is flushed.
const RESPONDED: u8 = 2;

/// One admitted connection's slot (freed when the last reference is dropped).
pub(crate) struct Conn {
    slots: Arc<Slots>,
    id: u64,
    phase: AtomicU8,
    nudge: Arc<Notify>,
}

impl Conn {
    /// A complete request head arrived and is being served.
    pub(crate) fn request_started(&self) {
        self.phase.store(BUSY, Ordering::SeqCst);
        self.slots.set_waiting(self.id, false);
    }

    /// The service produced its response (hyper now writes it).
    pub(crate) fn response_ready(&self) {
        self.phase.store(RESPONDED, Ordering::SeqCst);
    }

    /// Everything written so far reached the socket: after a response, the connection waits
    /// for its next request.
    pub(crate) fn flushed(&self) {
        if self
            .phase
            .compare_exchange(RESPONDED, WAITING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.slots.set_waiting(self.id, true);
        }
    }

    pub(crate) fn is_waiting(&self) -> bool {
        self.phase.load(Ordering::SeqCst) == WAITING
    }

    /// Resolves when the connection should close (now if waiting, else after its response): its
    /// slot was given to another connection, or the server shuts down.
    pub(crate) async fn nudged(&self) {
        self.nudge.notified().await;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.slots.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    async fn was_nudged(c: &Conn) -> bool {
        tokio::time::timeout(Duration::from_millis(20), c.nudged())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_full_house_gives_the_longest_waiting_slot_away() {
        let slots = Slots::new(3);
        let a = slots.admit(ip(1));
        let b = slots.admit(ip(1));
        let c = slots.admit(ip(1));
        a.request_started();
        // a is busy: b waited longest.
        let d = slots.admit(ip(1));
        assert_eq!(slots.len(), 3);
        assert!(was_nudged(&b).await);
        assert!(!was_nudged(&a).await && !was_nudged(&c).await);
        // a answers and waits again: now the newest waiter; c goes next, then d, then a.
        a.response_ready();
        a.flushed();
        let _e = slots.admit(ip(1));
        assert!(was_nudged(&c).await);
        let _f = slots.admit(ip(1));
        assert!(was_nudged(&d).await);
        assert!(!was_nudged(&a).await);
        drop((b, c, d));
        assert_eq!(slots.len(), 3);
    }

    #[tokio::test]
    async fn the_address_holding_most_loses_first() {
        let slots = Slots::new(4);
        let scraper = slots.admit(ip(9));
        let flood: Vec<_> = (0..3).map(|_| slots.admit(ip(1))).collect();
        let more: Vec<_> = (0..10).map(|_| slots.admit(ip(1))).collect();
        assert_eq!(slots.len(), 4);
        assert!(!was_nudged(&scraper).await);
        // Each newcomer from the flood's address took the slot of that address's oldest.
        assert!(was_nudged(&more[6]).await);
        for m in &more[7..] {
            assert!(!was_nudged(m).await);
        }
        assert!(was_nudged(&flood[0]).await);
    }

    #[tokio::test]
    async fn when_all_are_busy_newcomers_wait() {
        let slots = Slots::new(2);
        let a = slots.admit(ip(1));
        let b = slots.admit(ip(2));
        a.request_started();
        b.request_started();
        let wait = tokio::time::timeout(Duration::from_millis(50), slots.admissible());
        assert!(wait.await.is_err(), "admissible while every slot is busy");
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.admissible().await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        b.response_ready();
        // Not waiting until its response is flushed.
        assert!(!b.is_waiting());
        b.flushed();
        assert!(b.is_waiting());
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("admissible once one waits")
            .unwrap();
        drop(a);
        assert_eq!(slots.len(), 1);
    }
}
