//! Nothing: the check is in `tests/`.
