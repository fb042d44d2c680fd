-- Random ids among COUNT stored final tasks, gzip accepted (scenario 4).
local first = tonumber(os.getenv("BENCH_FIRST_ID") or "500000")
local count = tonumber(os.getenv("BENCH_COUNT") or "100000")
local prefix = os.getenv("BENCH_PREFIX") or "/tasks/aliyun/"
wrk.headers["Accept-Encoding"] = "gzip"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
request = function()
    return wrk.format("GET", prefix .. (first + math.random(0, count - 1)))
end
