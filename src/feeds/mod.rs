//! Feed readers of DOMAIN.md §3 (not implemented yet).
