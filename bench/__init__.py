"""Benchmarks of the platform on sandbox data (docs/performance.md, docs/kpi_methodology.md): `pipeline` times every
stage and compares the marts with a hand-written floor (`floor.sql`); `spikes` measures the spike detector."""
