//! Progress bars on a terminal, fed by the engine's transfer observer.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3sqlite_core::{Direction, Transfer, TransferObserver};

/// Transfers smaller than this finish before a bar would tell anything.
const SHOWN_FROM: u64 = 4 * 1024 * 1024;

/// Draws a bar on stderr for each transfer of at least [`SHOWN_FROM`]
/// bytes: bytes, rate and time left for downloads; for an upload, which is
/// one request whose body the HTTP client sends by itself, its size and the
/// time it has taken.
#[derive(Debug, Default)]
pub(crate) struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn bar(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TransferObserver for Bars {
    fn started(&self, transfer: &Transfer) {
        if transfer.total < SHOWN_FROM {
            return;
        }
        let bar = ProgressBar::with_draw_target(
            Some(transfer.total),
            ProgressDrawTarget::stderr_with_hz(10),
        );
        let style = match transfer.direction {
            Direction::Upload => {
                bar.enable_steady_tick(Duration::from_millis(100));
                "{spinner} {msg} {total_bytes} [{elapsed}]"
            }
            _ => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        };
        bar.set_style(
            ProgressStyle::with_template(style)
                .expect("the templates are valid")
                .progress_chars("=> "),
        );
        bar.set_message(match transfer.direction {
            Direction::Upload => "uploading",
            _ => "downloading",
        });
        *self.bar() = Some(bar);
    }

    fn advanced(&self, _transfer: &Transfer, done: u64) {
        if let Some(bar) = &*self.bar() {
            bar.set_position(done);
        }
    }

    fn finished(&self, transfer: &Transfer, succeeded: bool) {
        if let Some(bar) = self.bar().take() {
            if succeeded {
                bar.set_position(transfer.total);
                bar.finish();
            } else {
                bar.abandon();
            }
        }
    }
}
