"""Pure data: inventory targets, collected facts, findings and the report. No I/O here."""
