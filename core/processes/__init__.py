"""The processes: `serve` (HTTPS + SIP + background passes), `up` (launcher), their lifeline and loops, demo data."""
