-- plain.lua: one fixed request (method, path, body, bearer from the
-- environment; see common.lua). Used for join (guest and logged-in),
-- room creation, login, /healthz and the reference servers.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
bench_request_setup()

function done(summary, latency, requests)
  bench_report(summary, latency)
end
