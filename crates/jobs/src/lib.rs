//! The durable job engine (BEHAVIOUR §7): job rows are written in the same
//! transaction as the top change that needs them, leased by any worker,
//! retried with backoff, and moved to the job log when finished.
#![forbid(unsafe_code)]
