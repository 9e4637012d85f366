//! The relay's submit hand-off ([`rbee::handoff`]) under thread interleavings, as part of
//! every execution of the model (`world::run`): the submit task gives the hive's reply
//! while the forward that waits for it takes it or goes away.
//! Whatever the order, the reply has exactly one owner in the end — taken by the forward,
//! handed back to the forward as it leaves, or refused to the task — so exactly one side
//! cancels an orphaned hive job: never none (the job sits queued until its TTL), never both.

use rbee::handoff::handoff;
use shuttle::future::block_on;
use shuttle::rand::RngCore;
use shuttle::thread;

/// Who ended up with the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owners {
    /// The taker took it while waiting.
    pub taken: bool,
    /// The taker got it back as it went away.
    pub abandoned_with_it: bool,
    /// The giver's `give` refused it.
    pub refused_to_giver: bool,
}

impl Owners {
    /// How many sides hold the value: exactly one is right.
    pub fn count(&self) -> usize {
        [self.taken, self.abandoned_with_it, self.refused_to_giver]
            .iter()
            .filter(|b| **b)
            .count()
    }
}

/// Starts the two sides on threads of their own: a giver gives `7`; a taker waits for it,
/// or (by a choice shuttle records in the schedule) goes away at once, as a forward
/// dropped mid-submit does. Joining the returned handle gives who owns the value.
pub fn start() -> impl FnOnce() -> Owners {
    let (giver, mut taker) = handoff::<u8>();
    let leaves = shuttle::rand::thread_rng().next_u64() % 2 == 0;
    let give = thread::spawn(move || giver.give(7).is_err());
    let take = thread::spawn(move || {
        if leaves {
            (false, taker.abandon() == Some(7))
        } else {
            (block_on(taker.take()) == Some(7), false)
        }
    });
    move || {
        let refused_to_giver = give.join().expect("the giver");
        let (taken, abandoned_with_it) = take.join().expect("the taker");
        Owners {
            taken,
            abandoned_with_it,
            refused_to_giver,
        }
    }
}
