//! Connection limits: in total and per client IP when a socket asks to upgrade (refused with
//! 503 before upgrading), per user at the handshake (closed with 1013). A [`Ticket`] holds a
//! connection's places and gives them back when dropped, however the connection ends.

use crate::lock::Locked;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Most connections at once; 0: no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub total: usize,
    pub per_ip: usize,
    pub per_user: usize,
}

/// Which limit a connection met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the server is at its connection limit ({0})")]
    Total(usize),
    #[error("too many connections from this address (at most {0})")]
    PerIp(usize),
    #[error("too many connections for this user (at most {0})")]
    PerUser(usize),
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
    by_user: HashMap<String, usize>,
}

#[derive(Debug)]
pub struct Admission {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

fn over(limit: usize, count: usize) -> bool {
    limit != 0 && count >= limit
}

/// One place fewer for `key`; the entry goes at zero.
fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Admission {
    pub fn new(limits: ConnectionLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a place for a connection from `ip`, unless a limit is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refused> {
        let mut counts = self.counts.locked();
        if over(self.limits.total, counts.total) {
            return Err(Refused::Total(self.limits.total));
        }
        let from_ip = counts.by_ip.get(&ip).copied().unwrap_or(0);
        if over(self.limits.per_ip, from_ip) {
            return Err(Refused::PerIp(self.limits.per_ip));
        }
        counts.total += 1;
        *counts.by_ip.entry(ip).or_default() += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            ip,
            user: None,
        })
    }

    /// Connections held now: in total, from `ip`, of `user`.
    pub fn counts(&self, ip: IpAddr, user: &str) -> (usize, usize, usize) {
        let counts = self.counts.locked();
        let of = |n: Option<&usize>| n.copied().unwrap_or(0);
        (
            counts.total,
            of(counts.by_ip.get(&ip)),
            of(counts.by_user.get(user)),
        )
    }
}

/// A connection's places; given back on drop.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
    user: Option<String>,
}

impl Ticket {
    /// Counts the connection as `user`'s (once), unless the user already has its limit.
    pub fn claim_user(&mut self, user: &str) -> Result<(), Refused> {
        if self.user.as_deref() == Some(user) {
            return Ok(());
        }
        let limit = self.admission.limits.per_user;
        let mut counts = self.admission.counts.locked();
        if over(limit, counts.by_user.get(user).copied().unwrap_or(0)) {
            return Err(Refused::PerUser(limit));
        }
        if let Some(old) = self.user.take() {
            release(&mut counts.by_user, &old);
        }
        *counts.by_user.entry(user.to_owned()).or_default() += 1;
        self.user = Some(user.to_owned());
        Ok(())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.admission.counts.locked();
        counts.total = counts.total.saturating_sub(1);
        release(&mut counts.by_ip, &self.ip);
        if let Some(user) = &self.user {
            release(&mut counts.by_user, user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn each_limit_holds_and_places_come_back_on_drop() {
        let admission = Admission::new(ConnectionLimits {
            total: 3,
            per_ip: 2,
            per_user: 1,
        });
        let mut first = admission.admit(A).expect("room");
        let second = admission.admit(A).expect("room");
        assert_eq!(admission.admit(A).err(), Some(Refused::PerIp(2)));
        let mut third = admission.admit(B).expect("another address");
        assert_eq!(admission.admit(B).err(), Some(Refused::Total(3)));
        first.claim_user("alice").expect("alice's first");
        assert_eq!(third.claim_user("alice"), Err(Refused::PerUser(1)));
        assert_eq!(
            first.claim_user("alice"),
            Ok(()),
            "claiming again is no new place"
        );
        drop(first);
        assert_eq!(third.claim_user("alice"), Ok(()));
        assert_eq!(admission.counts(A, "alice"), (2, 1, 1));
        drop((second, third));
        assert_eq!(admission.counts(A, "alice"), (0, 0, 0));
    }

    #[test]
    fn zero_means_no_limit() {
        let admission = Admission::new(ConnectionLimits {
            total: 0,
            per_ip: 0,
            per_user: 0,
        });
        let tickets: Vec<Ticket> = (0..100)
            .map(|_| admission.admit(A).expect("no limit"))
            .collect();
        assert_eq!(admission.counts(A, "x").0, 100);
        drop(tickets);
    }
}
