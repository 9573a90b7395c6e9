"""The analytics service: click ingest, rollups and stats queries."""
