-- wrk script for tenantgate's benchmark: one request per line of a token list, in order, cycling.
--
-- Environment:
--   BENCH_TOKENS   file with one `<host> <token>` per line (bench/gen_tokens.py writes them)
--   BENCH_PATH     request path (default /api/bench)
--   BENCH_THREADS  wrk's -t, so that each thread takes its own share of the list
--   BENCH_OFFSET   requests already sent from this list (by earlier runs), so that a run goes
--                  on with the rotation where the previous one stopped (default 0)
--
-- Each thread sends lines k, k+T, k+2T, ... (T threads), so a list of distinct tokens stays
-- distinct within a cycle across threads. Requests are pre-built at start, so the load generator
-- spends no time formatting. done() prints one line `BENCH_RESULT {json}` with the counts per
-- status and latency percentiles (microseconds), which scripts/bench parses.

local threads = {}
local counter = 1

function setup(thread)
   thread:set("thread_index", counter - 1)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local file = os.getenv("BENCH_TOKENS")
   local path = os.getenv("BENCH_PATH") or "/api/bench"
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   local me = thread_index or 0
   requests = {}
   local f = assert(io.open(file, "r"), "cannot open " .. tostring(file))
   local line_no = 0
   for line in f:lines() do
      if line_no % nthreads == me then
         local host, token = line:match("^(%S+)%s+(%S+)$")
         if host then
            requests[#requests + 1] = wrk.format("GET", path, {
               ["Host"] = host,
               ["Authorization"] = "Bearer " .. token,
            })
         end
      end
      line_no = line_no + 1
   end
   f:close()
   assert(#requests > 0, "no requests in " .. tostring(file))
   -- Continue the rotation: this thread's share of the requests sent before.
   local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
   position = math.floor(offset / nthreads) % #requests
   statuses = {}
end

function request()
   position = position % #requests + 1
   return requests[position]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      for code, n in pairs(s) do
         total[code] = (total[code] or 0) + n
      end
   end
   local parts = {}
   for code, n in pairs(total) do
      parts[#parts + 1] = string.format('"%d":%d', code, n)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"statuses":{%s},"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(parts, ","),
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max))
end
