"""The run layer: execute compiled SQL on the sources, assemble KPI values, keep their history."""
