"""What every measuring job shares: the kill-safe row store, the resumable sweep runner, provenance."""
