"""Jobs, items, the scheduler, answers, consensus decisions, imports and exports."""
