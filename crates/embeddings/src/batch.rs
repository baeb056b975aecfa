//! Batching for async callers: one OS thread owns the [`Embedder`] and runs everything that is
//! waiting as one forward pass, so 32 concurrent queries cost a few passes, not 32.

use tokio::sync::{mpsc, oneshot};

use crate::{EmbedError, Embedder};

/// Requests that may queue, in units of `max_batch`: enough to fill the next pass while one runs.
const QUEUED_BATCHES: usize = 4;
/// Upper bound on queued requests, whatever `max_batch` is.
const MAX_QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>;

struct Request {
    texts: Vec<String>,
    reply: Reply,
}

/// Batches concurrent callers: a dedicated OS thread owns the [`Embedder`], takes requests from a
/// bounded channel, and runs everything waiting (up to `max_batch` texts) as one forward pass.
///
/// Clones share the thread, which ends once the last clone is dropped and the queue is drained.
/// A caller that gives up (its future dropped) before its pass starts costs nothing.
#[derive(Debug, Clone)]
pub struct BatchEmbedder {
    requests: mpsc::Sender<Request>,
}

impl BatchEmbedder {
    /// Moves `embedder` to a new thread named `embedder`. A `max_batch` of 0 counts as 1.
    ///
    /// If the thread cannot be started the error is logged and every call returns
    /// [`EmbedError::WorkerStopped`].
    pub fn spawn(embedder: Embedder, max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let capacity = max_batch.saturating_mul(QUEUED_BATCHES).min(MAX_QUEUE);
        let (requests, queue) = mpsc::channel(capacity);
        let worker = Worker {
            embedder,
            queue,
            max_batch,
            carry: None,
        };
        let started = std::thread::Builder::new()
            .name("embedder".to_owned())
            .spawn(move || worker.run());
        if let Err(error) = started {
            // The queue's receiving end went down with the closure, so callers see WorkerStopped.
            tracing::error!(%error, "cannot start the embedder thread");
        }
        Self { requests }
    }

    /// The embedding of one text, batched with whatever else is waiting.
    pub async fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut vectors = self.submit(vec![text.to_owned()]).await?;
        // The worker answers with one vector per text.
        vectors.pop().ok_or(EmbedError::WorkerStopped)
    }

    /// The embeddings of `texts`, in order; more than `max_batch` texts take several passes.
    pub async fn embed_many(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.submit(texts).await
    }

    async fn submit(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { texts, reply })
            .await
            .map_err(|_| EmbedError::WorkerStopped)?;
        answer.await.map_err(|_| EmbedError::WorkerStopped)?
    }
}

struct Worker {
    embedder: Embedder,
    queue: mpsc::Receiver<Request>,
    max_batch: usize,
    /// A request that did not fit in the previous pass: it opens the next one.
    carry: Option<Request>,
}

impl Worker {
    fn run(mut self) {
        while let Some(batch) = self.next_batch() {
            self.answer(batch);
        }
    }

    /// Blocks for one request, then takes whatever else is already waiting, up to `max_batch` texts.
    /// `None` once every sender is gone.
    fn next_batch(&mut self) -> Option<Vec<Request>> {
        let first = match self.carry.take() {
            Some(request) => request,
            None => self.queue.blocking_recv()?,
        };
        let mut texts = first.texts.len();
        let mut batch = vec![first];
        while texts < self.max_batch {
            let Ok(next) = self.queue.try_recv() else {
                break;
            };
            if texts + next.texts.len() > self.max_batch {
                self.carry = Some(next);
                break;
            }
            texts += next.texts.len();
            batch.push(next);
        }
        Some(batch)
    }

    fn answer(&self, mut batch: Vec<Request>) {
        // Callers that have gone away need no pass.
        batch.retain(|request| !request.reply.is_closed());
        if batch.len() <= 1 {
            for request in batch {
                let result = self.embed_chunked(&request.texts);
                let _ = request.reply.send(result);
            }
            return;
        }
        let texts: Vec<&str> = batch
            .iter()
            .flat_map(|request| request.texts.iter().map(String::as_str))
            .collect();
        match self.embedder.embed(&texts) {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for request in batch {
                    let mine = vectors.by_ref().take(request.texts.len()).collect();
                    // A caller that left meanwhile just drops its answer.
                    let _ = request.reply.send(Ok(mine));
                }
            }
            Err(error) => {
                // Each caller gets its own result, so one bad input cannot fail its neighbours.
                tracing::debug!(%error, requests = batch.len(), "batched pass failed; retrying one by one");
                for request in batch {
                    let result = self.embed_chunked(&request.texts);
                    let _ = request.reply.send(result);
                }
            }
        }
    }

    /// One request's texts, in passes of at most `max_batch`.
    fn embed_chunked(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.max_batch) {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            vectors.extend(self.embedder.embed(&chunk)?);
        }
        Ok(vectors)
    }
}
