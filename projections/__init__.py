"""Read models built from the event log: one module per read model, tracked exactly once."""
