//! The cap on Server-Sent Event followers: each holds an event-log subscription and a
//! connection for as long as its task runs, so there are at most so many per process and per
//! user; past either, a follower is refused with `503 overloaded`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use intentmesh_core::AgentError;

use crate::error::ApiError;

/// `SSE_MAX_FOLLOWERS` and `SSE_MAX_FOLLOWERS_PER_USER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerLimits {
    pub per_process: usize,
    pub per_user: usize,
}

impl Default for FollowerLimits {
    fn default() -> Self {
        Self {
            per_process: 2_000,
            per_user: 16,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Followers(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    limits: FollowerLimits,
    /// Followers by user; the total is their sum.
    by_user: Mutex<(usize, HashMap<String, usize>)>,
}

/// One follower's place, given back when dropped (the stream ended or the client left).
#[derive(Debug)]
pub(crate) struct Place {
    followers: Followers,
    user: String,
}

impl Followers {
    pub(crate) fn new(limits: FollowerLimits) -> Self {
        Self(Arc::new(Inner {
            limits,
            by_user: Mutex::new((0, HashMap::new())),
        }))
    }

    /// A place for one more follower of `user`'s task, or `503 overloaded`.
    pub(crate) fn join(&self, user: &str) -> Result<Place, ApiError> {
        let mut guard = self
            .0
            .by_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (total, by_user) = &mut *guard;
        let limits = self.0.limits;
        let mine = by_user.get(user).copied().unwrap_or(0);
        let refused = if *total >= limits.per_process {
            Some(("process", limits.per_process))
        } else if mine >= limits.per_user {
            Some(("user", limits.per_user))
        } else {
            None
        };
        if let Some((scope, max)) = refused {
            return Err(ApiError(
                AgentError::overloaded(format!(
                    "too many task event streams are open for this {scope}; retry later"
                ))
                .with("max", max),
            ));
        }
        *total += 1;
        *by_user.entry(user.to_owned()).or_insert(0) += 1;
        Ok(Place {
            followers: self.clone(),
            user: user.to_owned(),
        })
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.0
            .by_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut guard = self
            .followers
            .0
            .by_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (total, by_user) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(n) = by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                by_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use intentmesh_core::ErrorCode;

    use super::*;

    #[test]
    fn followers_are_capped_per_user_and_per_process_and_places_come_back() {
        let followers = Followers::new(FollowerLimits {
            per_process: 3,
            per_user: 2,
        });
        let a1 = followers.join("a").unwrap();
        let _a2 = followers.join("a").unwrap();
        let err = followers.join("a").unwrap_err();
        assert_eq!(err.0.code, ErrorCode::Overloaded);
        assert!(err.0.retry_after.is_some());
        let _b1 = followers.join("b").unwrap();
        // The process is full: even a new user waits.
        assert_eq!(
            followers.join("c").unwrap_err().0.code,
            ErrorCode::Overloaded
        );
        drop(a1);
        assert_eq!(followers.count(), 2);
        let _c1 = followers.join("c").unwrap();
        assert_eq!(followers.count(), 3);
    }
}
