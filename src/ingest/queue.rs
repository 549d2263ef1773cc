//! How many uploads may wait for (or be in) ingestion at once. Each holds its whole content in
//! memory until a worker has indexed it, so past the bound an upload is refused (`busy`) rather
//! than queued without end.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AppError, ErrorCode};

#[derive(Clone)]
pub struct UploadQueue {
    places: Arc<Semaphore>,
    size: usize,
}

/// A place in the queue, held from before the upload is parsed until it is indexed.
pub struct QueuePlace {
    _permit: OwnedSemaphorePermit,
}

impl UploadQueue {
    pub fn new(size: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    pub fn reserve(&self) -> Result<QueuePlace, AppError> {
        self.places
            .clone()
            .try_acquire_owned()
            .map(|permit| QueuePlace { _permit: permit })
            .map_err(|_| {
                AppError::new(
                    ErrorCode::Busy,
                    format!(
                        "{} documents are waiting to be indexed; send this one again shortly",
                        self.size
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_until_a_place_is_given_back() {
        let queue = UploadQueue::new(2);
        let first = queue.reserve().unwrap();
        let _second = queue.reserve().unwrap();
        let refused = queue.reserve().err().unwrap();
        assert_eq!(refused.code, ErrorCode::Busy);
        drop(first);
        assert!(queue.reserve().is_ok());
    }
}
