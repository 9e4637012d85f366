//! Job identifiers: their syntax, validation of ids that arrive in URLs, and generation.
//!
//! Generation is injected ([`IdGen`]) so that real processes draw 128 bits from the OS while
//! the simulator draws from its one seeded RNG, which makes ids part of a replayable trace.

use rand::{rngs::StdRng, Rng, SeedableRng};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Longest id accepted in a URL; longer ids are rejected with 400 before any lookup.
pub const MAX_ID_LEN: usize = 64;

/// A job id: `job-` followed by 32 lowercase hex digits when generated here; any
/// `[A-Za-z0-9_-]{1,64}` string when parsed from a URL (so lookups of foreign ids answer 404,
/// not 400).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct JobId(String);

/// Why a string from a URL is not a job id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadJobId {
    /// Empty or longer than [`MAX_ID_LEN`].
    #[error("job id must be 1 to {MAX_ID_LEN} characters long, got {0}")]
    Length(usize),
    /// Contains a character outside `[A-Za-z0-9_-]`.
    #[error("job id may only contain A-Z, a-z, 0-9, '_' and '-'")]
    Charset,
}

impl JobId {
    /// Validates an id taken from a request path.
    pub fn parse(s: &str) -> Result<Self, BadJobId> {
        if s.is_empty() || s.len() > MAX_ID_LEN {
            return Err(BadJobId::Length(s.len()));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(BadJobId::Charset);
        }
        Ok(Self(s.to_owned()))
    }

    /// Builds the canonical form from 128 random bits.
    pub fn from_bits(bits: u128) -> Self {
        Self(format!("job-{bits:032x}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex digits after `job-`: enough to tell jobs apart in a transcript.
    pub fn short(&self) -> &str {
        let s = self.0.strip_prefix("job-").unwrap_or(&self.0);
        &s[..s.len().min(8)]
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a process gets randomness for job ids.
///
/// Cloning a seeded generator shares the one RNG, which is what the simulator wants: all
/// processes of a run draw from the run's single seeded stream, in simulation order.
#[derive(Clone, Debug)]
pub enum IdGen {
    /// 128 bits from the operating system's CSPRNG (real mode).
    Os,
    /// Draws from a shared seeded RNG (simulation, tests).
    Seeded(Arc<Mutex<StdRng>>),
}

impl IdGen {
    /// A generator seeded with `seed`, for deterministic runs.
    pub fn seeded(seed: u64) -> Self {
        Self::Seeded(Arc::new(Mutex::new(StdRng::seed_from_u64(seed))))
    }

    /// Draws a fresh job id.
    pub fn next_id(&self) -> JobId {
        let bits: u128 = match self {
            #[allow(
                clippy::disallowed_methods,
                reason = "real processes draw ids from the OS (docs/spec.md §2); the simulator injects IdGen::Seeded"
            )]
            Self::Os => rand::random(),
            Self::Seeded(rng) => rng.lock().unwrap_or_else(|e| e.into_inner()).random(),
        };
        JobId::from_bits(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_canonical_shape_and_parse_back() {
        let id = IdGen::seeded(7).next_id();
        assert!(id.as_str().starts_with("job-"));
        assert_eq!(id.as_str().len(), 36);
        assert!(id.as_str()[4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(JobId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn seeded_generators_repeat_and_os_generators_differ() {
        let a: Vec<_> = (0..3)
            .map({
                let g = IdGen::seeded(1);
                move |_| g.next_id()
            })
            .collect();
        let b: Vec<_> = (0..3)
            .map({
                let g = IdGen::seeded(1);
                move |_| g.next_id()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(IdGen::Os.next_id(), IdGen::Os.next_id());
    }

    #[test]
    fn url_ids_are_validated() {
        assert_eq!(JobId::parse(""), Err(BadJobId::Length(0)));
        assert_eq!(JobId::parse(&"a".repeat(65)), Err(BadJobId::Length(65)));
        assert!(JobId::parse(&"a".repeat(64)).is_ok());
        assert_eq!(JobId::parse("job-1/../x"), Err(BadJobId::Charset));
        assert_eq!(JobId::parse("job 1"), Err(BadJobId::Charset));
        assert!(JobId::parse("Job_1-x").is_ok());
    }
}
