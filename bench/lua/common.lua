-- common.lua: shared by every bench script (loaded with dofile).
-- Environment: BENCH_METHOD (default GET), BENCH_PATH, BENCH_BODY,
-- BENCH_CT (Content-Type), BENCH_TOKEN (a Calixio access token: sends
-- "Authorization: Bearer <token>").
-- done() prints one machine-readable line that bench/run.sh parses:
--   BENCH requests=N seconds=S rps=R p50_us=A p99_us=B status_err=E sock_err=F
-- status_err counts answers with a status >= 400 (wrk's own count; Calixio
-- answers 200/201 on success and never 3xx on these routes, so it is the
-- non-2xx count), sock_err the connect/read/write/timeout errors.

function bench_request_setup()
  wrk.method = os.getenv("BENCH_METHOD") or "GET"
  wrk.path = os.getenv("BENCH_PATH") or "/"
  local body = os.getenv("BENCH_BODY")
  if body and body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = os.getenv("BENCH_CT") or "application/json"
  end
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function bench_report(summary, latency, extra)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d status_err=%d sock_err=%d%s\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, extra or ""))
end

-- Threads: every script gets a setup() that numbers the threads (tid, for
-- scripts that split a file of requests between them) and keeps them, so
-- that done() can add up a counter of every thread with bench_sum(name).
local bench_counter = 0
local bench_threads = {}

function setup(thread)
  thread:set("tid", bench_counter)
  bench_counter = bench_counter + 1
  table.insert(bench_threads, thread)
end

function bench_sum(name)
  local n = 0
  for _, t in ipairs(bench_threads) do n = n + t:get(name) end
  return n
end

-- This thread's share of a file of requests: lines k, k+T, k+2T, ... of
-- path for thread k of BENCH_THREADS, each turned into a request by fmt.
function bench_thread_lines(path, fmt)
  local out, n = {}, 0
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local me = tid or 0
  for line in io.lines(path) do
    if n % nthreads == me then out[#out + 1] = fmt(line) end
    n = n + 1
  end
  return out
end
