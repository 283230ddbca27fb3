//! Stream epochs: every room stream and every document has an epoch, a random id fixed when
//! its history starts (when the server creates it). A client's `since` counts in the epoch it
//! last saw; in any other stream (the server restarted, or the room or document was created
//! again) that number means nothing, and the server must not treat it as a position.

/// Where a client left off in a stream: the last sequence number (or document revision) it
/// saw, and the epoch that number counts in (`None` from clients that predate epochs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    pub seq: u64,
    pub epoch: Option<String>,
}

impl Since {
    /// The client's position in the stream of `epoch`: only when it names that very epoch. A
    /// client without an epoch cannot say which stream its number counts in, so it gets none.
    pub fn within(&self, epoch: &str) -> Option<u64> {
        (self.epoch.as_deref() == Some(epoch)).then_some(self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_counts_only_in_its_own_epoch() {
        let since = |epoch: Option<&str>| Since {
            seq: 7,
            epoch: epoch.map(str::to_owned),
        };
        assert_eq!(since(Some("a")).within("a"), Some(7));
        assert_eq!(since(Some("b")).within("a"), None);
        assert_eq!(since(None).within("a"), None, "an old client's since");
    }
}
