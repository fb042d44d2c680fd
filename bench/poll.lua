-- 64 connections polling 1,000 distinct running tasks (scenario 5), through taskgate.
local first = tonumber(os.getenv("BENCH_POLL_FIRST") or "900000")
request = function()
    return wrk.format("GET", "/tasks/capmonster/" .. (first + math.random(0, 999)))
end
