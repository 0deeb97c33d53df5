//! Creating a server under a name derived from its display name: the
//! derived name when it is free in the caller's scope, else the first free
//! alternative (`<name>-2`, `<name>-3`, …), also when another create takes a
//! name between the check and the insert.

use crate::error::Error;
use crate::registry::Caller;
use crate::registry::audit::Action;
use crate::registry::servers::{NewServer, ServerView, Servers};

/// Names checked with one query.
const BATCH: u32 = 20;
/// Batches tried before giving up, so a scope that holds the derived name and
/// its first thousand alternatives answers ALREADY_EXISTS instead of looping.
const BATCHES: u32 = 50;

impl Servers {
    /// Creates `new` under `new.name` or its first free alternative. A name
    /// found free may be taken by a concurrent create before the insert; the
    /// insert then fails on the unique index and the next free name is tried.
    pub(super) async fn create_under_free_name(
        &self,
        caller: &Caller,
        mut new: NewServer,
        action: Action,
    ) -> Result<ServerView, Error> {
        let base = new.name.clone();
        for batch in 0..BATCHES {
            let candidates: Vec<_> = (batch * BATCH + 1..=(batch + 1) * BATCH)
                .map(|n| match n {
                    1 => base.clone(),
                    n => base.alternative(n),
                })
                .collect();
            let names: Vec<String> = candidates.iter().map(|n| n.as_str().to_owned()).collect();
            let taken = self.taken_names(caller, &names).await?;
            for name in candidates {
                if taken.contains(name.as_str()) {
                    continue;
                }
                new.name = name;
                match self.create_named(caller, new.clone(), action).await {
                    Err(Error::AlreadyExists { .. }) => {}
                    other => return other,
                }
            }
        }
        // The last alternative tried names how far the search went.
        Err(Error::AlreadyExists {
            kind: "mcp server",
            name: base.alternative(BATCH * BATCHES).into_inner(),
        })
    }
}
