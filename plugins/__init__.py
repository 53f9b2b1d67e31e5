"""Cross-region plugins on the same hooks as regions (notification channels, storage, ...)."""
