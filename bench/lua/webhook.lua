-- webhook.lua: POST /livekit/webhook with pre-signed LiveKit events, each
-- sent once. BENCH_WH_FILE holds one event per line: "<jwt>\t<body>"
-- (bench/gen-webhooks.mjs). Thread k of BENCH_THREADS sends lines k, k+T,
-- k+2T, ... so no event repeats across threads. When a thread runs out it
-- stops and sends a last request to /bench-pool-exhausted (404, counted
-- apart). done() adds accepted=<2xx> rejected=<other non-2xx> sent=<events
-- handed to wrk> exhausted=<threads that ran out> to the BENCH line.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local items = nil
local idx = 0
sent, accepted, rejected, exhausted = 0, 0, 0, 0

local function load()
  items = bench_thread_lines(os.getenv("BENCH_WH_FILE"), function(line)
    local tab = line:find("\t", 1, true)
    return wrk.format("POST", "/livekit/webhook", {
      ["Content-Type"] = "application/webhook+json",
      ["Authorization"] = line:sub(1, tab - 1),
      ["User-Agent"] = "LiveKit",
    }, line:sub(tab + 1))
  end)
end

function init(args)
  load()
end

function request()
  if items == nil then load() end
  idx = idx + 1
  local r = items[idx]
  if r == nil then
    if exhausted == 0 then exhausted = 1 end
    wrk.thread:stop()
    return wrk.format("GET", "/bench-pool-exhausted")
  end
  sent = sent + 1
  return r
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    accepted = accepted + 1
  elseif status ~= 404 then
    rejected = rejected + 1
  end
end

function done(summary, latency, requests)
  bench_report(summary, latency, string.format(" accepted=%d rejected=%d sent=%d exhausted=%d",
    bench_sum("accepted"), bench_sum("rejected"), bench_sum("sent"), bench_sum("exhausted")))
end
