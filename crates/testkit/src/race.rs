//! [`check_conditional_writes`]: is a store's conditional PUT atomic?

use std::sync::Arc;

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use s3sqlite_core::ObjectStoreRemote;
use tokio::sync::Barrier;

use crate::{Error, Result};

/// How hard [`check_conditional_writes`] pushes.
#[derive(Debug, Clone)]
pub struct RaceOptions {
    /// Concurrent writers per round. By default 8.
    pub writers: usize,
    /// Rounds. By default 20.
    pub rounds: usize,
    /// Body size of each write. By default 6 MiB + 64 KiB: a server that
    /// checks `If-Match` and then writes without a lock lets several writers
    /// win far more often with bodies this large than with small ones.
    pub body_size: usize,
    /// End the check at the first bad round, when all you need to know is
    /// whether there is one. By default `false`.
    pub stop_at_first_bad: bool,
}

impl Default for RaceOptions {
    fn default() -> Self {
        RaceOptions {
            writers: 8,
            rounds: 20,
            body_size: 6 * 1024 * 1024 + 64 * 1024,
            stop_at_first_bad: false,
        }
    }
}

/// What [`check_conditional_writes`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RaceReport {
    /// Writers whose `If-Match` PUT succeeded, per round run.
    pub winners: Vec<usize>,
}

impl RaceReport {
    /// Rounds with other than exactly one winner: 0 on a store whose
    /// conditional PUT is atomic.
    pub fn bad_rounds(&self) -> usize {
        self.winners.iter().filter(|w| **w != 1).count()
    }
}

/// Races `options.writers` concurrent `If-Match` PUTs of distinct bodies,
/// all holding the same entity tag, on the remote's object, for
/// `options.rounds` rounds, and counts the winners of each round.
///
/// On a store whose conditional PUT is atomic every round has exactly one
/// winner. Results measured here: LocalStack's S3: atomic; moto's threaded
/// server: not atomic above 5 MiB; s3s-fs 0.14: not atomic, nearly every
/// writer wins.
///
/// The object at the remote's key is overwritten. Give it a remote whose
/// store does not retry failed requests (see
/// [`S3Server::remote_builder`](crate::S3Server::remote_builder)): a retried
/// write is not the race being measured, and a server that fails requests
/// under the race would make every round wait out the backoff.
///
/// # Errors
///
/// [`Error::Store`] when the initial write or a HEAD fails.
pub async fn check_conditional_writes(
    remote: &ObjectStoreRemote,
    options: &RaceOptions,
) -> Result<RaceReport> {
    let store: Arc<dyn ObjectStore> = Arc::clone(remote.store());
    let key = remote.key().clone();
    let url = remote.to_string();
    let failed = |source| Error::Store {
        url: url.clone(),
        source,
    };
    let body = |writer: usize, round: usize| {
        let mut bytes = vec![(writer % 251) as u8; options.body_size];
        bytes[..16].copy_from_slice(&(((round as u128) << 64) | writer as u128).to_le_bytes());
        Bytes::from(bytes)
    };
    store
        .put(&key, PutPayload::from(body(usize::MAX, 0)))
        .await
        .map_err(failed)?;
    let mut winners = Vec::with_capacity(options.rounds);
    for round in 0..options.rounds {
        let meta = store.head(&key).await.map_err(failed)?;
        let version = UpdateVersion {
            e_tag: meta.e_tag,
            version: meta.version,
        };
        let barrier = Arc::new(Barrier::new(options.writers));
        let tasks: Vec<_> = (0..options.writers)
            .map(|writer| {
                let (store, key, barrier) = (Arc::clone(&store), key.clone(), Arc::clone(&barrier));
                let payload = PutPayload::from(body(writer, round));
                let mode = PutMode::Update(version.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .put_opts(&key, payload, PutOptions::from(mode))
                        .await
                        .is_ok()
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            if task.await.expect("race writer panicked") {
                won += 1;
            }
        }
        tracing::debug!(round, won, "conditional write race");
        winners.push(won);
        if options.stop_at_first_bad && won != 1 {
            break;
        }
    }
    Ok(RaceReport { winners })
}
