-- wrk script: POST /contacts/ against the HighLevel sandbox, a unique email per request.
-- Usage: wrk ... -s create-contact.lua http://127.0.0.1:PORT -- TOKEN LOCATION_ID RUN_TAG
-- Emails are bench-RUN_TAG-THREAD-COUNTER@bench.example: THREAD is set per wrk thread in
-- setup(), COUNTER counts that thread's requests, so no two requests share an email.
-- Prints one line "WRK_RESULT {json}" at the end (latencies in microseconds).

local next_thread = 1

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  local token = args[1]
  location_id = args[2]
  run_tag = args[3] or "run"
  counter = 0
  wrk.method = "POST"
  wrk.path = "/contacts/"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Version"] = "2021-07-28"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  wrk.body = string.format(
    '{"locationId":"%s","firstName":"Bench","lastName":"T%d N%d","email":"bench-%s-%d-%d@bench.example"}',
    location_id, thread_id, counter, run_tag, thread_id, counter)
  return wrk.format()
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
