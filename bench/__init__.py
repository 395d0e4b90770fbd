"""The harness: sampling jobs, the cost harness and cost model, uplift sweeps, reports, the gate, the CLI."""
