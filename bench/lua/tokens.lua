-- tokens.lua: one fixed request (method, path, body from the environment,
-- as plain.lua) sent with a different bearer each time: BENCH_TOKEN_FILE
-- holds one token per line; thread k of BENCH_THREADS uses lines k, k+T,
-- k+2T, ... in turn and starts again at its first line when it runs out.
-- Used for chat posts, where one sender may send 10 messages per 10 s.
-- done() adds accepted=<2xx> limited=<429> rejected=<other non-2xx>.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local items = nil
local idx = 0
accepted, limited, rejected = 0, 0, 0

local function load()
  local method = os.getenv("BENCH_METHOD") or "POST"
  local path = os.getenv("BENCH_PATH") or "/"
  local body = os.getenv("BENCH_BODY") or ""
  items = bench_thread_lines(os.getenv("BENCH_TOKEN_FILE"), function(line)
    return wrk.format(method, path, {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. line,
    }, body ~= "" and body or nil)
  end)
end

function init(args)
  load()
end

function request()
  if items == nil then load() end
  idx = idx % #items + 1
  return items[idx]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    accepted = accepted + 1
  elseif status == 429 then
    limited = limited + 1
  else
    rejected = rejected + 1
  end
end

function done(summary, latency, requests)
  bench_report(summary, latency, string.format(" accepted=%d limited=%d rejected=%d",
    bench_sum("accepted"), bench_sum("limited"), bench_sum("rejected")))
end
