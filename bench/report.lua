-- Shared by the benchmark's wrk scripts: at the end, one line of JSON
-- (prefixed "BENCH-JSON ") with the counts and latency percentiles that
-- bench/workloads.py reads. Latencies are in microseconds.

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH-JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, ' ..
      '"timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, ' ..
      '"mean": %.1f, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max))
end
