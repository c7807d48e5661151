-- wrk script: GET /contacts/{id} against the HighLevel sandbox.
-- Usage: wrk ... -s get-contact.lua http://127.0.0.1:PORT/contacts/ID -- TOKEN
-- Prints one line "WRK_RESULT {json}" at the end (latencies in microseconds).

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Version"] = "2021-07-28"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
