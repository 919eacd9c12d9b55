//! The benches' setup on a real API server: many objects created side by side.

use futures::stream::{self, StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, PostParams};
use std::time::{Duration, Instant};

/// Creates `object(i)` for every `i` below `count` through `api`, 32 at a time (an object that already
/// exists is kept, so a bench re-run on the same control plane goes on); returns how long it took.
pub async fn create_all(
    api: &Api<DynamicObject>,
    count: usize,
    object: impl Fn(usize) -> serde_json::Value,
) -> Duration {
    let start = Instant::now();
    stream::iter(0..count)
        .map(|index| {
            let api = api.clone();
            let object: DynamicObject = serde_json::from_value(object(index)).expect("an object");
            async move {
                match api.create(&PostParams::default(), &object).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
                    Err(e) => Err(e),
                }
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .expect("creates the objects");
    start.elapsed()
}
