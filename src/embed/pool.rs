//! The threads that embed documents: a rayon pool of their own whose threads run at a lower
//! scheduling priority (nice 10). candle splits each matrix product over the rayon pool of the
//! thread that asks, so a document's products stay on these low-priority threads, while a
//! question, embedded from the runtime's blocking pool, uses rayon's global pool at normal
//! priority. While a large ingestion keeps these threads busy, the runtime's threads (sockets,
//! streams) and questions still get the CPU the moment they need it.

use tokio::sync::oneshot;

/// How much lower than the server the threads run (0 = as the server; 19 = lowest).
const NICENESS: i32 = 10;

pub struct CpuPool {
    pool: rayon::ThreadPool,
}

impl CpuPool {
    pub fn new(name: &str, threads: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let name = name.to_owned();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(move |i| format!("{name}-{i}"))
            .start_handler(|_| lower_priority())
            .build()?;
        Ok(Self { pool })
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `work` on the pool; `None` if it panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = oneshot::channel();
        self.pool.spawn(move || {
            let _ = done.send(work());
        });
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
    async fn jobs_run_on_the_pool_threads_at_low_priority() {
        let pool = CpuPool::new("test-pool", 2).unwrap();
        let (name, nice) = pool
            .run(|| {
                let me = rustix::thread::gettid();
                (
                    std::thread::current().name().map(str::to_owned),
                    rustix::process::getpriority_process(Some(me)).unwrap(),
                )
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("test-pool-"));
        assert_eq!(nice, NICENESS);
        let sums = futures::future::join_all((0..8u64).map(|i| pool.run(move || i * 2))).await;
        assert_eq!(sums.into_iter().flatten().sum::<u64>(), 56);
    }
}
