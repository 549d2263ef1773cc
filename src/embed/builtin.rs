//! all-MiniLM-L6-v2 in process: a 6-layer BERT (384 dimensions) run with candle on the CPU,
//! tokens mean-pooled under the attention mask and normalised, as sentence-transformers does.
//! A question is embedded from the runtime's blocking pool at normal priority (its products on
//! rayon's global pool); documents in batches on the low-priority `CpuPool`.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use futures::{StreamExt, TryStreamExt};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::pool::CpuPool;
use super::{normalise, EmbedError, Embedder, Purpose, StartError};

/// The files `scripts/fetch-model` puts in the model directory.
pub const BUILTIN_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
const MODEL: &str = "builtin:all-MiniLM-L6-v2";
const DIMENSION: usize = 384;
/// The model's own limit (sentence-transformers' `max_seq_length`); longer text is cut.
const MAX_TOKENS: usize = 256;
/// Chunks per forward pass: enough to amortise the call, few enough to pad little.
const BATCH: usize = 8;

pub struct Builtin {
    model: Arc<MiniLm>,
    documents: CpuPool,
}

struct MiniLm {
    bert: BertModel,
    tokenizer: Tokenizer,
}

impl Builtin {
    /// Whether `dir` holds the model's files.
    pub fn present(dir: &Path) -> bool {
        BUILTIN_FILES.iter().all(|f| dir.join(f).is_file())
    }

    pub fn load(dir: &Path, threads: usize) -> Result<Self, StartError> {
        let missing: Vec<&str> = BUILTIN_FILES
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(StartError::ModelDir(format!(
                "{} lacks {} (run scripts/fetch-model)",
                dir.display(),
                missing.join(", ")
            )));
        }
        let unreadable = |what: &str, e: &dyn std::fmt::Display| {
            StartError::ModelDir(format!("cannot load {what} from {}: {e}", dir.display()))
        };
        let config: Config = std::fs::read(dir.join("config.json"))
            .map_err(|e| unreadable("config.json", &e))
            .and_then(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| unreadable("config.json", &e))
            })?;
        if config.hidden_size != DIMENSION {
            return Err(StartError::Dimension(format!(
                "the model in {} has {} dimensions; the built-in embedder is all-MiniLM-L6-v2 ({DIMENSION})",
                dir.display(),
                config.hidden_size
            )));
        }
        let weights = std::fs::read(dir.join("model.safetensors"))
            .map_err(|e| unreadable("model.safetensors", &e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| unreadable("model.safetensors", &e))?;
        let bert = BertModel::load(vb, &config).map_err(|e| unreadable("the model", &e))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| unreadable("tokenizer.json", &e))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| unreadable("tokenizer.json", &e))?;
        // Each call tokenises on its own thread; the threads are ours to schedule.
        tokenizers::utils::parallelism::set_parallelism(false);
        let model = Arc::new(MiniLm { bert, tokenizer });
        // A first pass here, so a broken model stops the start, not the first upload.
        let probe = model
            .embed(&["ragcast".to_owned()])
            .map_err(|e| unreadable("the model", &e))?;
        if probe.first().map(Vec::len) != Some(DIMENSION) {
            return Err(StartError::Dimension(format!(
                "the model in {} does not answer {DIMENSION}-dimension vectors",
                dir.display()
            )));
        }
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        tracing::info!(
            dir = %dir.display(),
            threads,
            "semantic retrieval on: built-in embedder all-MiniLM-L6-v2"
        );
        Ok(Self {
            model,
            documents: CpuPool::new("embed", threads).map_err(StartError::Threads)?,
        })
    }
}

#[async_trait::async_trait]
impl Embedder for Builtin {
    fn model(&self) -> &str {
        MODEL
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    async fn embed(
        &self,
        texts: Vec<String>,
        purpose: Purpose,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let gone = || EmbedError::ThreadGone;
        match purpose {
            Purpose::Query => {
                let model = self.model.clone();
                tokio::task::spawn_blocking(move || model.embed(&texts))
                    .await
                    .map_err(|_| gone())?
            }
            Purpose::Document => {
                let batches: Vec<Vec<String>> =
                    texts.chunks(BATCH).map(<[String]>::to_vec).collect();
                let vectors: Vec<Vec<Vec<f32>>> = futures::stream::iter(batches)
                    .map(|batch| {
                        let model = self.model.clone();
                        async move {
                            self.documents
                                .run(move || model.embed(&batch))
                                .await
                                .ok_or_else(gone)?
                        }
                    })
                    // Every pool thread busy on one document's batches at once.
                    .buffered(self.documents.threads())
                    .try_collect()
                    .await?;
                Ok(vectors.into_iter().flatten().collect())
            }
        }
    }
}

impl MiniLm {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let model = |e: candle_core::Error| EmbedError::Model(e.into());
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(EmbedError::Model)?;
        let (n, len) = (encodings.len(), encodings[0].len());
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let device = &self.bert.device;
        let input = Tensor::from_vec(ids, (n, len), device).map_err(model)?;
        let attention = Tensor::from_vec(mask.clone(), (n, len), device).map_err(model)?;
        let types = input.zeros_like().map_err(model)?;
        let hidden = self
            .bert
            .forward(&input, &types, Some(&attention))
            .and_then(|h| h.flatten_all())
            .and_then(|h| h.to_vec1::<f32>())
            .map_err(model)?;
        Ok(mean_pool(&hidden, &mask, n, len, DIMENSION))
    }
}

/// Averages each text's token vectors where `mask` is 1, then normalises: `hidden` is
/// `n × len × dim`, `mask` is `n × len`.
fn mean_pool(hidden: &[f32], mask: &[u32], n: usize, len: usize, dim: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let mut sum = vec![0.0f32; dim];
            let mut tokens = 0.0f32;
            for t in 0..len {
                if mask[i * len + t] == 0 {
                    continue;
                }
                tokens += 1.0;
                let row = &hidden[(i * len + t) * dim..(i * len + t + 1) * dim];
                sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
            }
            if tokens > 0.0 {
                sum.iter_mut().for_each(|s| *s /= tokens);
            }
            normalise(&mut sum);
            sum
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::mean_pool;

    #[test]
    fn pooling_averages_only_unmasked_tokens_then_normalises() {
        // Two texts, three token slots, two dimensions; the second text has one padded slot.
        let hidden = [
            1.0, 0.0, 0.0, 1.0, 1.0, 1.0, // text 0
            2.0, 0.0, 4.0, 0.0, 99.0, 99.0, // text 1: the last slot is padding
        ];
        let mask = [1, 1, 1, 1, 1, 0];
        let pooled = mean_pool(&hidden, &mask, 2, 3, 2);
        let unit = std::f32::consts::FRAC_1_SQRT_2;
        assert!((pooled[0][0] - unit).abs() < 1e-6 && (pooled[0][1] - unit).abs() < 1e-6);
        assert_eq!(pooled[1], vec![1.0, 0.0], "the padding never counts");
    }
}
