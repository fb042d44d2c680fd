-- Every id once per thread, in turn (warming a cache of COUNT entries).
local first = tonumber(os.getenv("BENCH_FIRST_ID") or "500000")
local count = tonumber(os.getenv("BENCH_COUNT") or "100000")
local prefix = os.getenv("BENCH_PREFIX") or "/tasks/aliyun/"
wrk.headers["Accept-Encoding"] = "gzip"
local n = 0
request = function()
    n = (n + 1) % count
    return wrk.format("GET", prefix .. (first + n))
end
