//! What the page tells the core about itself: network hints and the page lifecycle. The driver
//! forwards the browser's events as [`PageEvent`]s (`ClientCore::handle_page`); this file keeps
//! what they imply (online or not, away since when) and the rules that need no other state.

/// A page event, as the browser driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageEvent {
    /// `online` (also the initial `navigator.onLine`, which is only reported when false).
    Online,
    /// `offline`: a hint (the socket may still work), never a reason to drop an open socket.
    Offline,
    /// `visibilitychange` to hidden (also the initial `document.visibilityState`).
    Hidden,
    /// `visibilitychange` to visible.
    Visible,
    /// `freeze`: the page stops running (timers and events wait until `resume`).
    Freeze,
    /// `resume`, after `freeze`.
    Resume,
    /// `pagehide` with `persisted`: the page enters the back-forward cache.
    Stored,
    /// `pageshow` with `persisted`: the page came back from the back-forward cache.
    Restored,
}

impl PageEvent {
    /// The event of a driver code (`watchPage` in js/wasm/client.ts uses these numbers).
    pub fn from_code(code: u32) -> Option<PageEvent> {
        const ALL: [PageEvent; 8] = [
            PageEvent::Online,
            PageEvent::Offline,
            PageEvent::Hidden,
            PageEvent::Visible,
            PageEvent::Freeze,
            PageEvent::Resume,
            PageEvent::Stored,
            PageEvent::Restored,
        ];
        ALL.get(code as usize).copied()
    }
}

/// How long the page must have been hidden or frozen for its return to probe the socket (and
/// cut a retry's wait short) when the heartbeat is off: the default heartbeat interval.
pub const AWAY_WITHOUT_HEARTBEAT_MS: u64 = 15_000;

/// The longest random delay of the retry that `online` (or a return to the page) brings
/// forward: uniform in `[0, min(initialDelayMs, this)]`, so a crowd of clients coming online
/// together still spreads out a little.
pub const SOON_JITTER_MAX_MS: u64 = 1_000;

/// What the page said last.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    online: bool,
    /// `visibilitychange` said hidden last.
    hidden: bool,
    /// Since when the page is hidden, frozen or stored; `None` while it runs in front.
    away_since: Option<u64>,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            online: true,
            hidden: false,
            away_since: None,
        }
    }
}

impl Page {
    pub fn online(&self) -> bool {
        self.online
    }

    /// Records the network hint; true when it changed.
    pub fn set_online(&mut self, online: bool) -> bool {
        core::mem::replace(&mut self.online, online) != online
    }

    /// Records a lifecycle event; for an event that brings the page back (visible, resumed,
    /// restored), how long it was away, if it was. A page resumed while still hidden counts as
    /// back (it was frozen, so timers were stopped) and away again from now.
    pub fn on_event(&mut self, now: u64, event: PageEvent) -> Option<u64> {
        match event {
            PageEvent::Online | PageEvent::Offline => None,
            PageEvent::Hidden | PageEvent::Freeze | PageEvent::Stored => {
                self.hidden |= event == PageEvent::Hidden;
                self.away_since.get_or_insert(now);
                None
            }
            PageEvent::Visible | PageEvent::Restored | PageEvent::Resume => {
                self.hidden &= event == PageEvent::Resume;
                let since = self.away_since.take()?;
                if self.hidden {
                    self.away_since = Some(now);
                }
                Some(now.saturating_sub(since))
            }
        }
    }
}
