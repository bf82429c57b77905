-- paced.lua: plain.lua at a fixed pace: every connection waits
-- BENCH_DELAY_MS between the answer to one request and the next, so that
-- C connections offer about C / (delay + latency) requests per second.
-- Used for the light-load figure (a quarter of the peak rate), where the
-- latency measured is what one request costs on a box that is not saturated.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
bench_request_setup()

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

function delay()
  return pause
end

function done(summary, latency, requests)
  bench_report(summary, latency)
end
