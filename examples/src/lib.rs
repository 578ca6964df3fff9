//! Runnable examples of optimistic-core: see the `[[example]]` entries.
