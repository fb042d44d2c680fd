-- The same polling, straight at the CapMonster simulator (getTaskResult), for taskgate's added latency.
local first = tonumber(os.getenv("BENCH_DIRECT_FIRST") or "950000")
local key = os.getenv("BENCH_CLIENT_KEY") or "bench-client-key"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
    local body = '{"clientKey":"' .. key .. '","taskId":' .. (first + math.random(0, 4999)) .. '}'
    return wrk.format("POST", "/getTaskResult", nil, body)
end
