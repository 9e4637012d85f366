//! A hand-off of one value from a task that may outlive its caller: either the caller takes
//! the value, or the caller has gone and the value goes back to the task — never both, never
//! neither.
//!
//! The queen's relay submits a job to a hive from a task of its own (`relay`): the hive
//! creates its job as soon as the POST arrives, and if the forward that waits for the reply
//! is dropped first (the queen job cancelled, its client gone) someone must still cancel
//! that hive job. Whichever side holds the reply last does: the forward if it abandons a
//! reply it never took, the task if its reply is refused. The two sides meet in one
//! critical section, so on a multi-threaded runtime too a reply is either taken, abandoned
//! to the taker, or refused to the giver, exactly once. The lock is [`crate::sync`]'s, so
//! the model check (`tests/model`) explores how the two sides interleave.

use crate::sync::{Arc, Mutex};
use tokio::sync::Notify;

enum Slot<T> {
    /// Nothing given yet, nobody gone.
    Waiting,
    /// Given, not yet taken.
    Given(T),
    /// Taken by the taker, or handed back to it when it abandoned.
    Taken,
    /// The taker went away before anything was given.
    Abandoned,
    /// The giver went away without giving.
    GiverGone,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    given: Notify,
}

/// The giving side.
pub struct Giver<T> {
    shared: Arc<Shared<T>>,
    gave: bool,
}

/// The taking side.
pub struct Taker<T> {
    shared: Arc<Shared<T>>,
}

/// A new hand-off.
pub fn handoff<T>() -> (Giver<T>, Taker<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot::Waiting),
        given: Notify::new(),
    });
    (
        Giver {
            shared: shared.clone(),
            gave: false,
        },
        Taker { shared },
    )
}

impl<T> Shared<T> {
    fn lock(&self) -> crate::sync::MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> Giver<T> {
    /// Gives `value` to the taker; `Err(value)` if the taker has gone: the value is the
    /// giver's to deal with.
    pub fn give(mut self, value: T) -> Result<(), T> {
        self.gave = true;
        let mut slot = self.shared.lock();
        match *slot {
            Slot::Waiting => {
                *slot = Slot::Given(value);
                drop(slot);
                self.shared.given.notify_one();
                Ok(())
            }
            _ => Err(value),
        }
    }
}

impl<T> Drop for Giver<T> {
    fn drop(&mut self) {
        if self.gave {
            return;
        }
        let mut slot = self.shared.lock();
        if matches!(*slot, Slot::Waiting) {
            *slot = Slot::GiverGone;
        }
        drop(slot);
        self.shared.given.notify_one();
    }
}

impl<T> Taker<T> {
    /// Waits for the value; `None` if the giver went away without giving.
    pub async fn take(&mut self) -> Option<T> {
        loop {
            {
                let mut slot = self.shared.lock();
                match std::mem::replace(&mut *slot, Slot::Taken) {
                    Slot::Given(value) => return Some(value),
                    Slot::Waiting => *slot = Slot::Waiting,
                    Slot::GiverGone => {
                        *slot = Slot::GiverGone;
                        return None;
                    }
                    Slot::Taken | Slot::Abandoned => return None,
                }
            }
            self.shared.given.notified().await;
        }
    }

    /// Goes away: a value given but not taken comes back (`Some`: it is the caller's to
    /// deal with); otherwise the giver will get its value back from [`Giver::give`].
    pub fn abandon(&mut self) -> Option<T> {
        let mut slot = self.shared.lock();
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Given(value) => Some(value),
            Slot::Waiting => {
                *slot = Slot::Abandoned;
                None
            }
            other => {
                *slot = other;
                None
            }
        }
    }
}

#[cfg(all(test, not(feature = "model-check")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_given_value_is_taken() {
        let (giver, mut taker) = handoff();
        assert_eq!(giver.give(7), Ok(()));
        assert_eq!(taker.take().await, Some(7));
        assert_eq!(taker.abandon(), None, "taken once");
    }

    #[tokio::test]
    async fn a_value_given_after_the_taker_went_away_goes_back() {
        let (giver, mut taker) = handoff();
        assert_eq!(taker.abandon(), None);
        assert_eq!(giver.give(7), Err(7));
    }

    #[tokio::test]
    async fn a_value_given_but_never_taken_comes_back_to_the_taker_that_leaves() {
        let (giver, mut taker) = handoff();
        assert_eq!(giver.give(7), Ok(()));
        assert_eq!(taker.abandon(), Some(7));
    }

    #[tokio::test]
    async fn a_giver_gone_without_giving_ends_the_wait() {
        let (giver, mut taker) = handoff::<u8>();
        let waiting = tokio::spawn(async move { taker.take().await });
        tokio::task::yield_now().await;
        drop(giver);
        assert_eq!(waiting.await.unwrap(), None);
    }
}
