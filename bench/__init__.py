"""The harness: model presets and loading, sampling jobs, timing and memory, cost model, reports, gates, CLI."""
