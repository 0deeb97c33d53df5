//! ImportMcpConfig's use case: create the remote servers of an MCP client
//! configuration (already read and validated entry by entry), resolving
//! name conflicts by the caller's strategy, or only report what would be
//! created (dry run). Reading the configuration is the adapter's job.

use std::collections::HashSet;

use crate::error::Error;
use crate::registry::Caller;
use crate::registry::audit::Action;
use crate::registry::servers::{NewServer, ServerView, Servers};

/// Most names tried for one entry under [`OnConflict::Rename`] before the
/// import gives up (another writer keeps taking them).
const MAX_ATTEMPTS: u32 = 1000;

/// What to do when an entry's name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Leave the entry out.
    Skip,
    /// Create nothing; ALREADY_EXISTS names every clash.
    Fail,
    /// Create it as `name-2`, `name-3`, ….
    Rename,
}

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub on_conflict: OnConflict,
    /// Report what would be created, create nothing.
    pub dry_run: bool,
}

/// One entry of the configuration, in its order.
pub struct ImportEntry {
    /// The entry's key in the configuration.
    pub key: String,
    /// The server to create; `None` for a local (stdio) server.
    pub server: Option<NewServer>,
}

/// What became of an entry.
pub enum ImportOutcome {
    /// A local (stdio) server: the registry keeps remote servers only.
    SkippedLocal,
    /// A server named `name` exists.
    SkippedExists { name: String },
    /// Created (or in a dry run, would be) as `server`; its name differs
    /// from `wanted` when it was renamed.
    Created { wanted: String, server: Imported },
}

/// A server an import made, or would make.
pub enum Imported {
    Created(Box<ServerView>),
    /// Dry run: the server as it would be created.
    Planned(Box<NewServer>),
}

/// The result of an import: one outcome per entry, in order.
pub struct ImportReport {
    pub entries: Vec<(String, ImportOutcome)>,
    pub created: usize,
    pub skipped: usize,
}

impl ImportReport {
    /// Returns the servers created (not planned), to sync them.
    pub fn created_servers(&self) -> impl Iterator<Item = &ServerView> {
        self.entries
            .iter()
            .filter_map(|(_, outcome)| match outcome {
                ImportOutcome::Created {
                    server: Imported::Created(view),
                    ..
                } => Some(view.as_ref()),
                _ => None,
            })
    }
}

impl Servers {
    /// Creates the remote servers of `entries` as CreateMcpServer would,
    /// in order. With [`OnConflict::Fail`] nothing is created when a name
    /// is taken (by a stored server or an earlier entry).
    pub async fn import(
        &self,
        caller: &Caller,
        entries: Vec<ImportEntry>,
        options: ImportOptions,
    ) -> Result<ImportReport, Error> {
        caller.require_write()?;
        let names: Vec<String> = entries
            .iter()
            .filter_map(|e| e.server.as_ref().map(|s| s.name.as_str().to_owned()))
            .collect();
        let mut taken = self.taken_names(caller, &names).await?;
        if options.on_conflict == OnConflict::Fail {
            let mut seen = HashSet::new();
            let clashes: Vec<&str> = names
                .iter()
                .filter(|name| taken.contains(*name) || !seen.insert(name.as_str()))
                .map(String::as_str)
                .collect();
            if !clashes.is_empty() {
                return Err(Error::AlreadyExists {
                    kind: "mcp server",
                    name: clashes.join(", "),
                });
            }
        }
        let mut report = ImportReport {
            entries: Vec::with_capacity(entries.len()),
            created: 0,
            skipped: 0,
        };
        for ImportEntry { key, server } in entries {
            let outcome = match server {
                None => ImportOutcome::SkippedLocal,
                Some(new) => self.import_one(caller, new, &mut taken, options).await?,
            };
            match outcome {
                ImportOutcome::Created { .. } => report.created += 1,
                _ => report.skipped += 1,
            }
            report.entries.push((key, outcome));
        }
        Ok(report)
    }

    /// Imports one server under its name or, by the strategy, another.
    async fn import_one(
        &self,
        caller: &Caller,
        mut new: NewServer,
        taken: &mut HashSet<String>,
        options: ImportOptions,
    ) -> Result<ImportOutcome, Error> {
        let wanted = new.name.clone();
        let mut attempt = 1;
        loop {
            if taken.contains(new.name.as_str()) {
                if options.on_conflict == OnConflict::Skip {
                    return Ok(ImportOutcome::SkippedExists {
                        name: wanted.into_inner(),
                    });
                }
                attempt += 1;
                new.name = wanted.alternative(attempt);
                continue;
            }
            taken.insert(new.name.as_str().to_owned());
            if options.dry_run {
                return Ok(ImportOutcome::Created {
                    wanted: wanted.into_inner(),
                    server: Imported::Planned(Box::new(new)),
                });
            }
            match self
                .create_as(caller, new.clone(), Action::ServerImport)
                .await
            {
                Ok(view) => {
                    return Ok(ImportOutcome::Created {
                        wanted: wanted.into_inner(),
                        server: Imported::Created(Box::new(view)),
                    });
                }
                // Created by somebody else since the check.
                Err(Error::AlreadyExists { .. })
                    if options.on_conflict != OnConflict::Fail && attempt < MAX_ATTEMPTS => {}
                Err(err) => return Err(err),
            }
        }
    }
}
