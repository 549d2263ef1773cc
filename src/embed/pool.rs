//! The threads that embed documents. They run at a lower scheduling priority (nice 10), so while
//! a large ingestion keeps them busy the runtime's threads, serving sockets and streams, still
//! get the CPU the moment they need it. The queue in front of them is bounded.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce() + Send>;

/// How much lower than the server the threads run (0 = as the server; 19 = lowest).
const NICENESS: i32 = 10;

#[derive(Clone)]
pub struct CpuPool {
    jobs: mpsc::Sender<Job>,
    threads: usize,
}

impl CpuPool {
    pub fn new(name: &str, threads: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, rx) = mpsc::channel::<Job>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // One thread waits on the queue at a time; the others on the lock.
                        let job = rx.lock().map(|mut rx| rx.blocking_recv());
                        match job {
                            Ok(Some(job)) => job(),
                            _ => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start an embedding thread: {e}");
            }
        }
        Self { jobs, threads }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` on one of the threads; `None` if the pool is gone.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).await.ok()?;
        result.await.ok()
    }
}

fn lower_priority() {
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), NICENESS) {
        tracing::debug!("cannot lower an embedding thread's priority: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_threads() {
        let pool = CpuPool::new("test-pool", 2);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("test-pool-"));
        let sums = futures::future::join_all((0..8u64).map(|i| pool.run(move || i * 2))).await;
        assert_eq!(sums.into_iter().flatten().sum::<u64>(), 56);
    }
}
