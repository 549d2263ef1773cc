//! A model provider inside the test process, for what no wire format can show: a provider that
//! panics, one that thinks for a while, one that streams 10 000 pieces. (What providers send on
//! the wire is tested against `stub`.)

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ragcast::llm::{GenerationRequest, LlmError, LlmEvent, LlmProvider, LlmStream};

/// One step of a script.
pub enum Step {
    Say(LlmEvent),
    Fail(LlmError),
    /// A bug in the provider: the stream panics when polled.
    Panic,
}

/// A provider named `model` whose every generation plays `script()`, one step every `pause`.
pub struct Scripted {
    model: &'static str,
    pause: Duration,
    script: fn() -> Vec<Step>,
}

impl Scripted {
    pub fn new(model: &'static str, script: fn() -> Vec<Step>) -> Self {
        Self {
            model,
            pause: Duration::ZERO,
            script,
        }
    }

    pub fn paced(self, pause: Duration) -> Self {
        Self { pause, ..self }
    }

    pub fn provider(self) -> Arc<dyn LlmProvider> {
        Arc::new(self)
    }
}

impl LlmProvider for Scripted {
    fn default_model(&self) -> &str {
        self.model
    }

    fn generate(&self, _: GenerationRequest) -> LlmStream {
        let pause = self.pause;
        futures::stream::iter((self.script)())
            .then(move |step| async move {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                match step {
                    Step::Say(event) => Ok(event),
                    Step::Fail(error) => Err(error),
                    Step::Panic => panic!("a bug in the provider"),
                }
            })
            .boxed()
    }
}
