"""Audits beyond one process: JSON Lines streams, resume, shards, merge and worker processes.

tally      incremental summary and exit-code inputs, from small per-domain digests
shards     inventory fingerprint and the deterministic shard split
jsonl      writing and reading the stream (records in `auditor.model.stream`)
resume     where an interrupted stream left off
merge      shard streams → one report (or one stream)
backends   a picklable recipe for the DNS backend, so a worker process can build its own
workers    K worker processes, each streaming its reports back to the parent
session    one streamed audit: header, reports from this process or the workers, end line
"""
